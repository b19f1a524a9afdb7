//! From a Calendly delivery to the write path's `Observation`: a pure function. The invitee rules
//! are the shared crate's (`shared::providers::calendly::invitee_observation`), the same ones
//! reconciliation applies to the API's invitees; this module only reads a delivery into them.
//!
//! Strict on what identifies and times the appointment (a delivery without them is a 400), lenient
//! on the rest: an odd optional field is dropped rather than refused, because Calendly disables a
//! subscription after 24 hours of refused deliveries.

use shared::providers::calendly::{checked_uri, invitee_observation, InviteeFacts};
use shared::{AppointmentSource, AppointmentStatus, LeadRef, Observation, ObservedStatus, Provider, TaskPolicy};

use crate::calendly::{Booking, Delivery, Envelope, NoShow};

/// Longer values of these optional fields are dropped.
const MAX_HINT_LEN: usize = 128;
const MAX_EMAIL_LEN: usize = 320;

/// A delivery of a recorded type whose identifying fields are unusable. The text is ours, never
/// the payload's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidDelivery(pub &'static str);

/// What a delivery asks the write path to record, if anything (`None`: a type we ignore).
pub fn observation(client_id: &str, delivery: &Delivery) -> Result<Option<Observation>, InvalidDelivery> {
    Ok(Some(match delivery {
        Delivery::InviteeCreated(env) => invitee(client_id, env, false)?,
        Delivery::InviteeCanceled(env) => invitee(client_id, env, true)?,
        Delivery::NoShowCreated(env) => no_show(client_id, env, ObservedStatus::Is(AppointmentStatus::NoShow))?,
        Delivery::NoShowDeleted(env) => no_show(client_id, env, ObservedStatus::NoShowCleared)?,
        Delivery::Other => return Ok(None),
    }))
}

/// The lead an invitee of `client_id` belongs to: the one its booking link names (`utm_content`),
/// else the one with its email, as the write path matches them. The same for an invitee delivered
/// and one read from the API.
pub fn lead_match(client_id: &str, utm_content: Option<&str>, email: Option<&str>) -> LeadRef {
    LeadRef::Match { client_id: client_id.to_string(), lead_hint: bounded(utm_content, MAX_HINT_LEN), email: bounded(email, MAX_EMAIL_LEN) }
}

fn invitee(client_id: &str, env: &Envelope<Booking>, canceled: bool) -> Result<Observation, InvalidDelivery> {
    let booking = &env.payload;
    let lead = lead_match(client_id, booking.invitee.lead_hint(), booking.invitee.email());
    // The delivery's type says whether it cancels, and no-shows arrive as deliveries of their own.
    let facts = InviteeFacts { canceled, no_show: None, ..booking.facts() };
    invitee_observation(lead, &facts, AppointmentSource::Webhook, TaskPolicy::All).map_err(|e| InvalidDelivery(e.0))
}

fn no_show(client_id: &str, env: &Envelope<NoShow>, status: ObservedStatus) -> Result<Observation, InvalidDelivery> {
    // Only the owner of the invitee's row within this client: a delivery signed for one client
    // never touches another client's appointments. No hint and no email: the key must exist.
    let lead = LeadRef::Match { client_id: client_id.to_string(), lead_hint: None, email: None };
    let mut obs = Observation::new(lead, Provider::Calendly, status, AppointmentSource::Webhook);
    obs.key =
        Some(checked_uri(env.payload.invitee.uri(), "the no-show's invitee is not a Calendly URI").map_err(|e| InvalidDelivery(e.0))?);
    // Both no-show deliveries carry the same no-show `created_at`; the delivery's own time is what
    // orders a mark and its removal.
    obs.provider_updated_at = Some(env.created_at);
    obs.tasks = TaskPolicy::All;
    Ok(obs)
}

/// Trimmed, non-empty and not longer than `max` bytes; otherwise dropped.
fn bounded(value: Option<&str>, max: usize) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty() && v.len() <= max).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendly::parse;
    use chrono::{DateTime, Utc};
    use shared::Canceler;

    const CLIENT: &str = "client_acme";
    const OLD: &str =
        "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9";
    const NEW: &str =
        "https://api.calendly.com/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees/e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26";
    const OLD_EVENT: &str = "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40";

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn map(body: &[u8]) -> Result<Option<Observation>, InvalidDelivery> {
        observation(CLIENT, &parse(body).unwrap())
    }

    fn t(s: &str) -> Option<DateTime<Utc>> {
        Some(s.parse().unwrap())
    }

    fn matching(hint: Option<&str>, email: Option<&str>) -> LeadRef {
        LeadRef::Match { client_id: CLIENT.into(), lead_hint: hint.map(Into::into), email: email.map(Into::into) }
    }

    /// Every fixture, field by field.
    #[test]
    fn maps_every_fixture() {
        use AppointmentStatus::*;
        let is = ObservedStatus::Is;
        struct Expect {
            lead: LeadRef,
            key: &'static str,
            event: Option<&'static str>,
            status: ObservedStatus,
            start: Option<DateTime<Utc>>,
            updated: Option<DateTime<Utc>>,
            created: Option<DateTime<Utc>>,
            canceled_at: Option<DateTime<Utc>>,
            canceled_by: Option<Canceler>,
            reason: Option<&'static str>,
            from: Option<&'static str>,
            to: Option<&'static str>,
        }
        let dana = || matching(None, Some("dana.whitfield@example.com"));
        let table = [
            ("invitee-created.json", Expect {
                lead: dana(), key: OLD, event: Some(OLD_EVENT), status: is(Confirmed),
                start: t("2026-03-10T17:00:00Z"), updated: t("2026-03-02T15:04:05.812274Z"), created: t("2026-03-02T15:04:05.812274Z"),
                canceled_at: None, canceled_by: None, reason: None, from: None, to: None,
            }),
            ("invitee-created-group-second.json", Expect {
                lead: matching(Some("lead_7b3f2a91"), Some("sam.okafor@example.org")),
                key: "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/0f6b3d9e-7a2c-4e15-9d8b-a1c4e7f2b930",
                event: Some(OLD_EVENT), status: is(Confirmed),
                start: t("2026-03-10T17:00:00Z"), updated: t("2026-03-02T15:04:05.812274Z"), created: t("2026-03-02T15:04:05.812274Z"),
                canceled_at: None, canceled_by: None, reason: None, from: None, to: None,
            }),
            ("invitee-created-after-reschedule.json", Expect {
                lead: dana(), key: NEW, event: Some("https://api.calendly.com/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268"),
                status: is(Confirmed), start: t("2026-03-12T16:00:00Z"), updated: t("2026-03-04T09:12:43.101532Z"),
                created: t("2026-03-04T09:12:43.101532Z"), canceled_at: None, canceled_by: None, reason: None, from: Some(OLD), to: None,
            }),
            ("invitee-canceled-rescheduled.json", Expect {
                lead: dana(), key: OLD, event: Some(OLD_EVENT), status: is(Rescheduled),
                start: t("2026-03-10T17:00:00Z"),
                // updated_at (…43.254538) is later than the cancellation (…43.249398).
                updated: t("2026-03-04T09:12:43.254538Z"), created: t("2026-03-02T15:04:05.812274Z"),
                canceled_at: t("2026-03-04T09:12:43.249398Z"), canceled_by: Some(Canceler::Invitee),
                reason: Some("Travelling that day, moving to Thursday. Reach me at dana.whitfield@example.com"),
                from: None, to: Some(NEW),
            }),
            ("invitee-canceled-by-host.json", Expect {
                lead: dana(), key: OLD, event: Some(OLD_EVENT), status: is(Canceled),
                start: t("2026-03-10T17:00:00Z"), updated: t("2026-03-05T11:20:01.740001Z"), created: t("2026-03-02T15:04:05.812274Z"),
                canceled_at: t("2026-03-05T11:20:01.733120Z"), canceled_by: Some(Canceler::Host),
                reason: Some("Prospect asked us to call 415-555-0134 instead; cancelling the slot."), from: None, to: None,
            }),
            ("invitee-no-show-created.json", Expect {
                lead: matching(None, None), key: OLD, event: None, status: is(NoShow),
                start: None, updated: t("2026-03-10T17:45:10Z"), created: None,
                canceled_at: None, canceled_by: None, reason: None, from: None, to: None,
            }),
            ("invitee-no-show-deleted.json", Expect {
                lead: matching(None, None), key: OLD, event: None, status: ObservedStatus::NoShowCleared,
                start: None, updated: t("2026-03-10T18:02:31Z"), created: None,
                canceled_at: None, canceled_by: None, reason: None, from: None, to: None,
            }),
        ];
        for (name, e) in table {
            let o = map(&fixture(name)).unwrap().unwrap_or_else(|| panic!("{name} is recorded"));
            assert_eq!(o.lead, e.lead, "{name}");
            assert_eq!(o.provider, Provider::Calendly, "{name}");
            assert_eq!(o.key.as_deref(), Some(e.key), "{name}");
            assert_eq!(o.calendly_event_uri.as_deref(), e.event, "{name}");
            assert_eq!(o.status, e.status, "{name}");
            assert_eq!(o.start_at, e.start, "{name}");
            assert_eq!(o.end_at, e.start.map(|s| s + chrono::TimeDelta::minutes(30)), "{name}");
            assert_eq!(o.timezone.as_deref(), e.start.map(|_| "America/Los_Angeles"), "{name}");
            assert_eq!(o.provider_updated_at, e.updated, "{name}");
            assert_eq!(o.provider_created_at, e.created, "{name}");
            assert_eq!(o.canceled_at, e.canceled_at, "{name}");
            assert_eq!(o.canceled_by, e.canceled_by, "{name}");
            assert_eq!(o.cancel_reason.as_deref(), e.reason, "{name}");
            assert_eq!(o.rescheduled_from_key.as_deref(), e.from, "{name}");
            assert_eq!(o.rescheduled_to_key.as_deref(), e.to, "{name}");
            assert_eq!(o.source, AppointmentSource::Webhook, "{name}");
            assert_eq!(o.tasks, TaskPolicy::All, "{name}");
            o.normalized().unwrap_or_else(|err| panic!("{name}: the write path accepts it: {err}"));
        }
        assert_eq!(map(&fixture("routing-form-submission.json")).unwrap(), None);
    }

    /// Variations of the reschedule cancel, as (edit of the payload, expected outcome).
    #[test]
    #[allow(clippy::type_complexity)] // a table reads best inline
    fn cancel_variants() {
        type Edit = fn(&mut serde_json::Value);
        let cases: [(&str, Edit, Result<(AppointmentStatus, Option<&str>, Option<Canceler>, Option<&str>), &str>); 9] = [
            ("as delivered", |_| {}, Ok((AppointmentStatus::Rescheduled, Some(NEW), Some(Canceler::Invitee), Some("upd")))),
            (
                "plain cancel",
                |v| {
                    v["payload"]["rescheduled"] = false.into();
                    v["payload"]["new_invitee"] = serde_json::Value::Null;
                },
                Ok((AppointmentStatus::Canceled, None, Some(Canceler::Invitee), Some("upd"))),
            ),
            (
                "new_invitee without the flag",
                |v| v["payload"]["rescheduled"] = serde_json::Value::Null,
                Ok((AppointmentStatus::Rescheduled, Some(NEW), Some(Canceler::Invitee), Some("upd"))),
            ),
            (
                "cancellation later than updated_at",
                |v| {
                    v["payload"]["cancellation"]["created_at"] = "2026-03-04T09:12:50Z".into();
                },
                Ok((AppointmentStatus::Rescheduled, Some(NEW), Some(Canceler::Invitee), Some("cancel"))),
            ),
            (
                "canceler type with spaces and capitals",
                |v| v["payload"]["cancellation"]["canceler_type"] = " Invitee ".into(),
                Ok((AppointmentStatus::Rescheduled, Some(NEW), Some(Canceler::Invitee), Some("upd"))),
            ),
            (
                "unknown canceler type",
                |v| v["payload"]["cancellation"]["canceler_type"] = "robot".into(),
                Ok((AppointmentStatus::Rescheduled, Some(NEW), None, Some("upd"))),
            ),
            (
                "cancellation only on the event",
                |v| {
                    v["payload"].as_object_mut().unwrap().remove("cancellation");
                    v["payload"]["scheduled_event"]["cancellation"]["canceler_type"] = "host".into();
                },
                Ok((AppointmentStatus::Rescheduled, Some(NEW), Some(Canceler::Host), Some("upd"))),
            ),
            (
                "new_invitee not a URI",
                |v| v["payload"]["new_invitee"] = "javascript:alert(1)".into(),
                Err("new_invitee is not a Calendly URI"),
            ),
            (
                "invitee uri too long",
                |v| v["payload"]["uri"] = format!("https://api.calendly.com/{}", "x".repeat(600)).into(),
                Err("the invitee uri is not a Calendly URI"),
            ),
        ];
        for (name, edit, expected) in cases {
            let mut v: serde_json::Value = serde_json::from_slice(&fixture("invitee-canceled-rescheduled.json")).unwrap();
            edit(&mut v);
            let got = map(&serde_json::to_vec(&v).unwrap());
            match expected {
                Ok((status, to, by, ordered_by)) => {
                    let o = got.unwrap().unwrap();
                    assert_eq!(o.status, ObservedStatus::Is(status), "{name}");
                    assert_eq!(o.rescheduled_to_key.as_deref(), to, "{name}");
                    assert_eq!(o.canceled_by, by, "{name}");
                    let expected_time = match ordered_by {
                        Some("cancel") => t("2026-03-04T09:12:50Z"),
                        _ => t("2026-03-04T09:12:43.254538Z"),
                    };
                    assert_eq!(o.provider_updated_at, expected_time, "{name}");
                }
                Err(problem) => assert_eq!(got.unwrap_err(), InvalidDelivery(problem), "{name}"),
            }
        }
    }

    /// Optional fields are dropped when odd; identifying fields are refused.
    #[test]
    fn lenient_on_optional_strict_on_identity() {
        type Edit = fn(&mut serde_json::Value);
        let cases: [(&str, Edit, Result<(), &str>); 9] = [
            (
                "blank utm_content and email",
                |v| {
                    v["payload"]["tracking"]["utm_content"] = "  ".into();
                    v["payload"]["email"] = "".into();
                },
                Ok(()),
            ),
            (
                "no tracking at all",
                |v| {
                    v["payload"].as_object_mut().unwrap().remove("tracking");
                },
                Ok(()),
            ),
            ("absurd timezone", |v| v["payload"]["timezone"] = "x".repeat(100).into(), Ok(())),
            ("blank old_invitee", |v| v["payload"]["old_invitee"] = "".into(), Ok(())),
            (
                "event uri not https",
                |v| v["payload"]["event"] = "http://api.calendly.com/scheduled_events/x".into(),
                Err("the scheduled event uri is not a Calendly URI"),
            ),
            (
                "invitee uri with a space",
                |v| v["payload"]["uri"] = "https://api.calendly.com/a b".into(),
                Err("the invitee uri is not a Calendly URI"),
            ),
            ("invitee uri empty", |v| v["payload"]["uri"] = "".into(), Err("the invitee uri is not a Calendly URI")),
            (
                "ends before it starts",
                |v| v["payload"]["scheduled_event"]["end_time"] = "2026-03-10T16:00:00Z".into(),
                Err("the scheduled event ends before it starts"),
            ),
            ("old_invitee garbage", |v| v["payload"]["old_invitee"] = "not a uri".into(), Err("old_invitee is not a Calendly URI")),
        ];
        for (name, edit, expected) in cases {
            let mut v: serde_json::Value = serde_json::from_slice(&fixture("invitee-created.json")).unwrap();
            edit(&mut v);
            let got = map(&serde_json::to_vec(&v).unwrap());
            match expected {
                Ok(()) => {
                    let o = got.unwrap().unwrap();
                    o.clone().normalized().unwrap_or_else(|e| panic!("{name}: {e}"));
                    if name == "blank utm_content and email" {
                        assert_eq!(o.lead, matching(None, None));
                    }
                    if name == "absurd timezone" {
                        assert_eq!(o.timezone, None);
                    }
                }
                Err(problem) => assert_eq!(got.unwrap_err(), InvalidDelivery(problem), "{name}"),
            }
        }
    }

    /// The same invitee read from a webhook delivery and from the API maps to the same observation
    /// (only the writer's own fields differ): one mapping for both sources.
    #[test]
    fn webhook_and_api_agree_on_every_invitee_they_share() {
        use shared::providers::calendly::{observation as api_observation, Booking, Invitee as ApiInvitee, ScheduledEvent};
        let api = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(format!("{}/tests/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap()
        };
        let events: Vec<ScheduledEvent> = serde_json::from_value(api("api-list-scheduled-events.json")["collection"].clone()).unwrap();
        let invitees: Vec<ApiInvitee> = serde_json::from_value(api("api-list-event-invitees.json")["collection"].clone()).unwrap();
        let mut compared = 0;
        for invitee in invitees {
            let event = events.iter().find(|e| Some(&e.uri) == invitee.event.as_ref()).unwrap().clone();
            let from_api =
                api_observation("lead_x", &Booking { event, invitee: invitee.clone() }, AppointmentSource::Webhook, TaskPolicy::All)
                    .unwrap();
            for name in ["invitee-created.json", "invitee-created-after-reschedule.json", "invitee-created-group-second.json"] {
                let mut from_webhook = map(&fixture(name)).unwrap().unwrap();
                if from_webhook.key != from_api.key {
                    continue;
                }
                from_webhook.lead = from_api.lead.clone();
                assert_eq!(from_webhook, from_api, "{name}");
                compared += 1;
            }
        }
        assert!(compared > 0, "the fixtures share an invitee");
    }
}
