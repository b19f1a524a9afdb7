-- The timeline read of appointment-history, generated from src/history.rs by benches/history.rs; do not edit.
\startpipeline
SELECT "clientId", "appointmentStartAt", "appointmentEndAt", "appointmentStatus",
       "appointmentCanceledAt", "appointmentProvider"::text, "appointmentSource", "appointmentLastCheckedAt"
  FROM "Lead" WHERE "id" = :lead;
SELECT "id", "leadId", "provider"::text, "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status"::text, "statusChangedAt",
       "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey",
       "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source"::text, "createdAt", "updatedAt",
       "providerVerifiedAt", "providerDeletedAt" FROM "Appointment" WHERE "leadId" = :lead;
\endpipeline
