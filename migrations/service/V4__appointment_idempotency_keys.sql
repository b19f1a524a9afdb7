-- Issue 4 (appointment-history): remembered Idempotency-Key answers of
-- POST /leads/{leadId}/appointments. Exactly what `prisma migrate` creates for the model in
-- prisma/schema-issue-4.prisma (see shared/tests/prisma/V4.sql), but only what is missing.

CREATE TABLE IF NOT EXISTS "AppointmentIdempotencyKey" (
    "clientId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "responseStatus" INTEGER,
    "responseBody" JSONB,
    "appointmentId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "AppointmentIdempotencyKey_pkey" PRIMARY KEY ("clientId","key")
);

CREATE INDEX IF NOT EXISTS "AppointmentIdempotencyKey_leadId_idx" ON "AppointmentIdempotencyKey"("leadId");
CREATE INDEX IF NOT EXISTS "AppointmentIdempotencyKey_createdAt_idx" ON "AppointmentIdempotencyKey"("createdAt");

DO $$ BEGIN
    ALTER TABLE "AppointmentIdempotencyKey" ADD CONSTRAINT "AppointmentIdempotencyKey_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
