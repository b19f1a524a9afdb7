-- duplicate — generated from shared::write_path's SQL by benches/record.rs; do not edit.
\set n :n + 1
\set lead (:n - 1) * :conns + :client_id + 1
\startpipeline
BEGIN;
SELECT "id", "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt", "appointmentProvider"::text, "appointmentSource", set_config('appointment_history.lead_id', "id", true), "clientId" FROM "Lead" WHERE "id" = ('L' || :lead) FOR NO KEY UPDATE;
SELECT "id", "leadId", "provider"::text, "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status"::text, "statusChangedAt", "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey", "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source"::text, "createdAt", "updatedAt", "providerVerifiedAt", "providerDeletedAt", CASE WHEN "leadId" <> current_setting('appointment_history.lead_id', true) THEN (SELECT o."clientId" FROM "Lead" o WHERE o."id" = "Appointment"."leadId") END FROM "Appointment" WHERE "leadId" = current_setting('appointment_history.lead_id', true) OR "calendlyInviteeUri" = ('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead);
\endpipeline
\startpipeline
COMMIT;
\endpipeline
