-- new — generated from shared::write_path's SQL by benches/record.rs; do not edit.
\set lead random(1, 4000)
\set key random(1, 1000000000000)
\startpipeline
BEGIN;
SELECT "id", "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt", "appointmentProvider"::text, "appointmentSource", set_config('appointment_history.lead_id', "id", true) FROM "Lead" WHERE "id" = ('L' || :lead) FOR NO KEY UPDATE;
SELECT "id", "leadId", "provider"::text, "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status"::text, "statusChangedAt", "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey", "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source"::text, "createdAt", "updatedAt" FROM "Appointment" WHERE "leadId" = current_setting('appointment_history.lead_id', true) OR "calendlyInviteeUri" = ('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead || '-' || :key);
\endpipeline
\startpipeline
INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status", "statusChangedAt", "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey", "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source", "createdAt", "updatedAt") VALUES (('a' || :lead || '-' || :key), ('L' || :lead), 'CALENDLY'::text::"MeetingBookingProvider", NULL, ('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead || '-' || :key), ('https://api.calendly.com/scheduled_events/ev' || :lead), '2031-03-20 09:00:00', '2031-03-20 09:30:00', 'America/New_York', 'CONFIRMED'::text::"AppointmentStatus", '2026-11-24 10:00:00', NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-24 10:00:00', '2026-11-24 10:00:00', 'WEBHOOK'::text::"AppointmentSource", '2026-11-24 10:00:00', '2026-11-24 10:00:00');
INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "oldValue", "newValue", "providerAt", "recordedAt") VALUES (('e' || :lead || '-' || :key), ('a' || :lead || '-' || :key), ('L' || :lead), 'created', 'WEBHOOK'::text::"AppointmentSource", NULL, 'CONFIRMED', '2026-11-24 10:00:00', '2026-11-24 10:00:00');
UPDATE "Lead" SET "appointmentStartAt" = '2031-03-20 09:00:00', "appointmentEndAt" = '2031-03-20 09:30:00', "appointmentStatus" = 'confirmed', "appointmentCanceledAt" = NULL, "appointmentProvider" = 'CALENDLY'::text::"MeetingBookingProvider", "appointmentSource" = 'webhook', "updatedAt" = '2026-11-24 10:00:00' WHERE "id" = ('L' || :lead);
COMMIT;
\endpipeline
