-- LOCAL ONLY. The CRM's own tables as Prisma created them by Phase 28, so that tests and local runs
-- have something to write into. Production never runs this file: there the CRM owns these tables.
-- Idempotent, like every migration here.

DO $$ BEGIN
    CREATE TYPE "MeetingBookingProvider" AS ENUM ('GHL', 'CALENDLY');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS "Client" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "calendlyWebhookSigningKey" TEXT,
    "calendlyAccessToken" TEXT,
    "calendlyOrganizationUri" TEXT,
    "ghlLocationId" TEXT,
    "ghlPrivateKey" TEXT,
    "timezone" TEXT,
    "meetingBookingProvider" "MeetingBookingProvider",
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Client_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "Lead" (
    "id" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "firstName" TEXT,
    "lastName" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "ghlContactId" TEXT,
    "ghlAppointmentId" TEXT,
    "calendlyInviteeUri" TEXT,
    "calendlyScheduledEventUri" TEXT,
    "appointmentStartAt" TIMESTAMP(3),
    "appointmentEndAt" TIMESTAMP(3),
    "appointmentStatus" TEXT,
    "appointmentCanceledAt" TIMESTAMP(3),
    "appointmentProvider" "MeetingBookingProvider",
    "appointmentSource" TEXT,
    "appointmentLastCheckedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Lead_pkey" PRIMARY KEY ("id")
);

CREATE INDEX IF NOT EXISTS "Lead_clientId_idx" ON "Lead"("clientId");

CREATE TABLE IF NOT EXISTS "FollowUpTask" (
    "id" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "dueDate" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "FollowUpTask_pkey" PRIMARY KEY ("id")
);

CREATE INDEX IF NOT EXISTS "FollowUpTask_leadId_idx" ON "FollowUpTask"("leadId");

DO $$ BEGIN
    ALTER TABLE "Lead" ADD CONSTRAINT "Lead_clientId_fkey" FOREIGN KEY ("clientId") REFERENCES "Client"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    ALTER TABLE "FollowUpTask" ADD CONSTRAINT "FollowUpTask_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
