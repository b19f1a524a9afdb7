-- Two facts about an appointment's provider key that the write path needs to remember:
-- "providerVerifiedAt": when a provider-verified observation (webhook, reconciliation, backfill)
--   first confirmed the row's key. A key only the CRM asserted (POST, migration) stays NULL, and a
--   provider-verified observation of another workspace may take it.
-- "providerDeletedAt": when the provider deleted the appointment (GHL); such a row is never active
--   again.
-- Exactly what `prisma migrate` creates for these fields of prisma/schema.prisma (see
-- shared/tests/prisma/V7.sql), but only what is missing.

ALTER TABLE "Appointment" ADD COLUMN IF NOT EXISTS "providerVerifiedAt" TIMESTAMP(3),
ADD COLUMN IF NOT EXISTS "providerDeletedAt" TIMESTAMP(3);

-- Keys recorded before the column existed: a row first written by a provider-verified source, or
-- that a provider observation reached by its key (only those carry a provider time), was verified.
UPDATE "Appointment"
   SET "providerVerifiedAt" = coalesce("providerUpdatedAt", "updatedAt")
 WHERE "providerVerifiedAt" IS NULL
   AND ("ghlAppointmentId" IS NOT NULL OR "calendlyInviteeUri" IS NOT NULL)
   AND ("source" IN ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL') OR "providerUpdatedAt" IS NOT NULL);
