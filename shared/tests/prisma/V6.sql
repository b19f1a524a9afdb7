-- CreateTable
CREATE TABLE "AppointmentMigrationClaim" (
    "runId" TEXT NOT NULL,
    "provider" "MeetingBookingProvider" NOT NULL,
    "key" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,

    CONSTRAINT "AppointmentMigrationClaim_pkey" PRIMARY KEY ("runId","provider","key")
);

-- AddForeignKey
ALTER TABLE "AppointmentMigrationClaim" ADD CONSTRAINT "AppointmentMigrationClaim_runId_fkey" FOREIGN KEY ("runId") REFERENCES "AppointmentMigrationRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
