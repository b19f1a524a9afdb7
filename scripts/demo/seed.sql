-- The demo workspace of the local stack (scripts/dev.sh). Re-runnable: it upserts the same rows.
-- psql variables: client_id, signing_key.
-- People and ids match the Calendly fixtures in scripts/demo/calendly/ (all made up).

-- The provider tokens are placeholders: under `make dev` reconcile-scheduled talks to
-- scripts/demo/mock-providers.py, which only checks that a bearer token is sent. UTC: the GHL
-- location whose recorded answers give times without an offset (read in the client's time zone).
INSERT INTO "Client" ("id", "name", "calendlyWebhookSigningKey", "calendlyAccessToken", "calendlyOrganizationUri",
                      "ghlLocationId", "ghlPrivateKey", "timezone", "meetingBookingProvider", "updatedAt")
VALUES (:'client_id', 'Acme Sales (demo)', :'signing_key', 'dev-calendly-token',
        'https://api.calendly.com/organizations/5e1d7c3a-9b2f-4a6e-8d0c-3f7a1b9e2d64',
        'loc_Rt5vB2nQ', 'dev-ghl-private-key', 'UTC', 'CALENDLY', now())
ON CONFLICT ("id") DO UPDATE SET "calendlyWebhookSigningKey" = EXCLUDED."calendlyWebhookSigningKey",
                                 "updatedAt" = now();

-- Dana books, reschedules, ... (the demo's story; matched by email).
INSERT INTO "Lead" ("id", "clientId", "firstName", "lastName", "email", "updatedAt")
VALUES ('lead_dana_demo', :'client_id', 'Dana', 'Whitfield', 'dana.whitfield@example.com', now())
ON CONFLICT ("id") DO NOTHING;

-- Sam joins the same group event from a CRM link: utm_content names this lead id.
INSERT INTO "Lead" ("id", "clientId", "firstName", "lastName", "email", "updatedAt")
VALUES ('lead_7b3f2a91', :'client_id', 'Sam', 'Okafor', 'sam.okafor@example.org', now())
ON CONFLICT ("id") DO NOTHING;

-- A Phase-28 lead: one GHL appointment known only from the lead's rollup columns
-- (what migrate-batch turns into history).
INSERT INTO "Lead" ("id", "clientId", "firstName", "lastName", "email", "ghlContactId", "ghlAppointmentId",
                    "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentProvider",
                    "appointmentSource", "updatedAt")
VALUES ('lead_phase28_demo', :'client_id', 'Priya', 'Raman', 'priya.raman@example.net', 'cnt_8Hj3Kd9Lm',
        'Yq3FpL8wV2nR6tKc9sDx', '2026-03-11 15:00:00', '2026-03-11 15:30:00', 'confirmed', 'GHL', 'ghl-webhook', now())
ON CONFLICT ("id") DO NOTHING;

-- A lead with no appointment at all.
INSERT INTO "Lead" ("id", "clientId", "firstName", "lastName", "email", "updatedAt")
VALUES ('lead_new_demo', :'client_id', 'Noor', 'Haddad', 'noor.haddad@example.com', now())
ON CONFLICT ("id") DO NOTHING;
