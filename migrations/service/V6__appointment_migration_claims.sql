-- Issue 6 (migrate-batch): provider keys a dry-run counted as created. A dry-run writes no
-- appointment, so without these a later batch of the same dry-run could not know that an earlier
-- lead already "took" a key, and would count a second lead with that key differently from apply.
-- Rows live only while their dry-run runs (deleted when it finishes; cascade with the run).
-- Exactly what `prisma migrate` creates for the model in prisma/schema-issue-6.prisma
-- (see shared/tests/prisma/V6.sql), but only what is missing.

CREATE TABLE IF NOT EXISTS "AppointmentMigrationClaim" (
    "runId" TEXT NOT NULL,
    "provider" "MeetingBookingProvider" NOT NULL,
    "key" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,

    CONSTRAINT "AppointmentMigrationClaim_pkey" PRIMARY KEY ("runId","provider","key")
);

DO $$ BEGIN
    ALTER TABLE "AppointmentMigrationClaim" ADD CONSTRAINT "AppointmentMigrationClaim_runId_fkey" FOREIGN KEY ("runId") REFERENCES "AppointmentMigrationRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
