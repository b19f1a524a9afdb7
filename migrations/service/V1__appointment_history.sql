-- Phase 34: appointment history. Creates exactly what `prisma migrate` creates for the schema in
-- prisma/schema.prisma (names, types, indexes, constraints), but only what is missing, so that it is
-- safe to run against the CRM's database, twice, or after Prisma already created it.

-- Enums -----------------------------------------------------------------------------------------
DO $$ BEGIN
    CREATE TYPE "MeetingBookingProvider" AS ENUM ('GHL', 'CALENDLY');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "AppointmentStatus" AS ENUM ('CONFIRMED', 'CANCELED', 'RESCHEDULED', 'SHOWED', 'NO_SHOW');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE "AppointmentSource" AS ENUM ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL', 'AUTO_BOOK', 'MANUAL', 'MIGRATION');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Lead: Phase 28 rollup columns and provider ids (present in production; ensured here) -----------
ALTER TABLE "Lead"
    ADD COLUMN IF NOT EXISTS "ghlContactId" TEXT,
    ADD COLUMN IF NOT EXISTS "ghlAppointmentId" TEXT,
    ADD COLUMN IF NOT EXISTS "calendlyInviteeUri" TEXT,
    ADD COLUMN IF NOT EXISTS "calendlyScheduledEventUri" TEXT,
    ADD COLUMN IF NOT EXISTS "appointmentStartAt" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "appointmentEndAt" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "appointmentStatus" TEXT,
    ADD COLUMN IF NOT EXISTS "appointmentCanceledAt" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "appointmentProvider" "MeetingBookingProvider",
    ADD COLUMN IF NOT EXISTS "appointmentSource" TEXT,
    ADD COLUMN IF NOT EXISTS "appointmentLastCheckedAt" TIMESTAMP(3);

-- Appointment -----------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "Appointment" (
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

CREATE UNIQUE INDEX IF NOT EXISTS "Appointment_ghlAppointmentId_key" ON "Appointment"("ghlAppointmentId");
CREATE UNIQUE INDEX IF NOT EXISTS "Appointment_calendlyInviteeUri_key" ON "Appointment"("calendlyInviteeUri");
CREATE INDEX IF NOT EXISTS "Appointment_leadId_idx" ON "Appointment"("leadId");
CREATE INDEX IF NOT EXISTS "Appointment_leadId_status_idx" ON "Appointment"("leadId", "status");
CREATE INDEX IF NOT EXISTS "Appointment_startAt_idx" ON "Appointment"("startAt");
CREATE INDEX IF NOT EXISTS "Appointment_status_idx" ON "Appointment"("status");
CREATE INDEX IF NOT EXISTS "Appointment_rescheduledFromId_idx" ON "Appointment"("rescheduledFromId");

-- AppointmentEvent: append-only change log -------------------------------------------------------
CREATE TABLE IF NOT EXISTS "AppointmentEvent" (
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

CREATE INDEX IF NOT EXISTS "AppointmentEvent_appointmentId_recordedAt_idx" ON "AppointmentEvent"("appointmentId", "recordedAt");
CREATE INDEX IF NOT EXISTS "AppointmentEvent_leadId_idx" ON "AppointmentEvent"("leadId");

-- FollowUpTask: link to the appointment, urgency, one task per appointment and type --------------
ALTER TABLE "FollowUpTask"
    ADD COLUMN IF NOT EXISTS "appointmentId" TEXT,
    ADD COLUMN IF NOT EXISTS "isUrgent" BOOLEAN NOT NULL DEFAULT false;

CREATE UNIQUE INDEX IF NOT EXISTS "FollowUpTask_appointmentId_type_key" ON "FollowUpTask"("appointmentId", "type");

-- AppointmentMigrationRun: checkpoints of migrate-batch runs -------------------------------------
CREATE TABLE IF NOT EXISTS "AppointmentMigrationRun" (
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

-- Foreign keys ----------------------------------------------------------------------------------
DO $$ BEGIN
    ALTER TABLE "Appointment" ADD CONSTRAINT "Appointment_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    ALTER TABLE "Appointment" ADD CONSTRAINT "Appointment_rescheduledFromId_fkey" FOREIGN KEY ("rescheduledFromId") REFERENCES "Appointment"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    ALTER TABLE "AppointmentEvent" ADD CONSTRAINT "AppointmentEvent_appointmentId_fkey" FOREIGN KEY ("appointmentId") REFERENCES "Appointment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    ALTER TABLE "AppointmentEvent" ADD CONSTRAINT "AppointmentEvent_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    ALTER TABLE "FollowUpTask" ADD CONSTRAINT "FollowUpTask_appointmentId_fkey" FOREIGN KEY ("appointmentId") REFERENCES "Appointment"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
