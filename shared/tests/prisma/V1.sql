-- What `prisma migrate diff --from-schema-datamodel <Phase 28> --to-schema-datamodel prisma/schema.prisma --script`
-- emits for migration V1 (plain DDL, as Prisma writes it). The schema test builds a database from
-- this and one from migrations/service, and requires them to be identical.

-- CreateEnum
CREATE TYPE "AppointmentStatus" AS ENUM ('CONFIRMED', 'CANCELED', 'RESCHEDULED', 'SHOWED', 'NO_SHOW');

-- CreateEnum
CREATE TYPE "AppointmentSource" AS ENUM ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL', 'AUTO_BOOK', 'MANUAL', 'MIGRATION');

-- AlterTable
ALTER TABLE "FollowUpTask" ADD COLUMN     "appointmentId" TEXT,
ADD COLUMN     "isUrgent" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "Appointment" (
    "id" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "provider" "MeetingBookingProvider" NOT NULL,
    "ghlAppointmentId" TEXT,
    "calendlyInviteeUri" TEXT,
    "calendlyScheduledEventUri" TEXT,
    "startAt" TIMESTAMP(3),
    "endAt" TIMESTAMP(3),
    "timezone" TEXT,
    "status" "AppointmentStatus" NOT NULL,
    "statusChangedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "canceledAt" TIMESTAMP(3),
    "cancelReason" TEXT,
    "canceledBy" TEXT,
    "rescheduledFromId" TEXT,
    "rescheduledFromKey" TEXT,
    "rescheduledToKey" TEXT,
    "providerCreatedAt" TIMESTAMP(3),
    "providerUpdatedAt" TIMESTAMP(3),
    "source" "AppointmentSource" NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Appointment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AppointmentEvent" (
    "id" TEXT NOT NULL,
    "appointmentId" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "source" "AppointmentSource" NOT NULL,
    "oldValue" TEXT,
    "newValue" TEXT,
    "providerAt" TIMESTAMP(3),
    "recordedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AppointmentEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AppointmentMigrationRun" (
    "id" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "clientId" TEXT,
    "batchSize" INTEGER NOT NULL,
    "maxLeads" INTEGER,
    "cursor" TEXT,
    "done" BOOLEAN NOT NULL DEFAULT false,
    "counts" JSONB NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AppointmentMigrationRun_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Appointment_ghlAppointmentId_key" ON "Appointment"("ghlAppointmentId");

-- CreateIndex
CREATE UNIQUE INDEX "Appointment_calendlyInviteeUri_key" ON "Appointment"("calendlyInviteeUri");

-- CreateIndex
CREATE INDEX "Appointment_leadId_idx" ON "Appointment"("leadId");

-- CreateIndex
CREATE INDEX "Appointment_leadId_status_idx" ON "Appointment"("leadId", "status");

-- CreateIndex
CREATE INDEX "Appointment_startAt_idx" ON "Appointment"("startAt");

-- CreateIndex
CREATE INDEX "Appointment_status_idx" ON "Appointment"("status");

-- CreateIndex
CREATE INDEX "Appointment_rescheduledFromId_idx" ON "Appointment"("rescheduledFromId");

-- CreateIndex
CREATE INDEX "AppointmentEvent_appointmentId_recordedAt_idx" ON "AppointmentEvent"("appointmentId", "recordedAt");

-- CreateIndex
CREATE INDEX "AppointmentEvent_leadId_idx" ON "AppointmentEvent"("leadId");

-- CreateIndex
CREATE UNIQUE INDEX "FollowUpTask_appointmentId_type_key" ON "FollowUpTask"("appointmentId", "type");

-- AddForeignKey
ALTER TABLE "FollowUpTask" ADD CONSTRAINT "FollowUpTask_appointmentId_fkey" FOREIGN KEY ("appointmentId") REFERENCES "Appointment"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Appointment" ADD CONSTRAINT "Appointment_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Appointment" ADD CONSTRAINT "Appointment_rescheduledFromId_fkey" FOREIGN KEY ("rescheduledFromId") REFERENCES "Appointment"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AppointmentEvent" ADD CONSTRAINT "AppointmentEvent_appointmentId_fkey" FOREIGN KEY ("appointmentId") REFERENCES "Appointment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AppointmentEvent" ADD CONSTRAINT "AppointmentEvent_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
