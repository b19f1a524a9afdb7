//! A NUL character (U+0000) in a signed delivery, on a real PostgreSQL (which refuses NUL in text).
//! Calendly redelivers anything that is not a 2xx and disables the subscription after 24 hours, so
//! a NUL must never make a delivery fail on every attempt: free text is recorded without it, an
//! identifier holding it is a 400 that writes nothing, and no answer is a 5xx.

mod common;

use common::*;
use serde_json::Value;

/// A fixture with one edit, signed with the client's key and delivered.
async fn deliver_edited(app: &calendly_webhook::App, name: &str, edit: impl FnOnce(&mut Value)) -> Answer {
    let mut doc: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut doc);
    let body = serde_json::to_vec(&doc).unwrap();
    assert!(body.windows(6).any(|w| w == br"\u0000"), "the body carries an escaped NUL");
    post(app, CLIENT, &body, Some(signed(KEY, &body))).await
}

#[tokio::test]
async fn free_text_with_nul_is_recorded_without_it() {
    // (what holds the NUL, fixture, edit, the invitee recorded, its lead, the cancel reason stored);
    // the invitee's time zone is stored as the fixtures give it in every case.
    type Case = (&'static str, &'static str, fn(&mut Value), &'static str, &'static str, Option<&'static str>);
    let cases: [Case; 5] = [
        (
            "cancel reason",
            "invitee-canceled-by-host.json",
            |v| v["payload"]["cancellation"]["reason"] = "Prospect asked\u{0} us to move it\u{0}".into(),
            OLD,
            DANA,
            Some("Prospect asked us to move it"),
        ),
        // The hint still names the lead its link was made for (not the newer lead with his email).
        (
            "utm_content",
            "invitee-created-group-second.json",
            |v| v["payload"]["tracking"]["utm_content"] = "lead_7b3f\u{0}2a91".into(),
            SAM_INVITEE,
            SAM_HINTED,
            None,
        ),
        ("email", "invitee-created.json", |v| v["payload"]["email"] = "dana.whitfield@\u{0}example.com".into(), OLD, DANA, None),
        ("timezone", "invitee-created.json", |v| v["payload"]["timezone"] = "America/Los_\u{0}Angeles".into(), OLD, DANA, None),
        (
            "every free text at once",
            "invitee-canceled-by-host.json",
            |v| {
                v["payload"]["cancellation"]["reason"] = "\u{0}".into();
                v["payload"]["tracking"]["utm_content"] = "\u{0}".into();
                v["payload"]["email"] = "\u{0}dana.whitfield@example.com".into();
                v["payload"]["timezone"] = "America/Los_Angeles\u{0}".into();
            },
            OLD,
            DANA,
            None,
        ),
    ];
    for (what, name, edit, invitee, lead, reason) in cases {
        let (_db, client, app) = seeded_app().await;
        let a = deliver_edited(&app, name, edit).await;
        assert_eq!((a.status.as_u16(), a.taken()), (200, Some("recorded")), "NUL in the {what}: {:?}", a.body);
        let s = state(&client).await;
        let row = s.row(invitee);
        assert_eq!(row.lead, lead, "NUL in the {what}");
        assert_eq!(row.reason.as_deref(), reason, "NUL in the {what}");
        assert_eq!(row.timezone.as_deref(), Some("America/Los_Angeles"), "NUL in the {what}");
        // The same delivery again is a duplicate: what was stored is what the delivery says.
        let again = deliver_edited(&app, name, edit).await;
        assert_eq!((again.status.as_u16(), again.taken()), (200, Some("duplicate")), "NUL in the {what}, redelivered");
    }
}

#[tokio::test]
async fn an_identifier_with_nul_is_a_400_and_writes_nothing() {
    type Edit = fn(&mut Value);
    let cases: [(&str, &str, Edit); 5] = [
        ("invitee uri", "invitee-created.json", |v| v["payload"]["uri"] = format!("{OLD}\u{0}").into()),
        ("scheduled event uri", "invitee-created.json", |v| {
            v["payload"]["event"] = "https://api.calendly.com/scheduled_events/\u{0}".into()
        }),
        ("old_invitee", "invitee-created-after-reschedule.json", |v| v["payload"]["old_invitee"] = format!("\u{0}{OLD}").into()),
        ("new_invitee", "invitee-canceled-rescheduled.json", |v| v["payload"]["new_invitee"] = format!("{NEW}\u{0}").into()),
        ("no-show's invitee", "invitee-no-show-created.json", |v| v["payload"]["invitee"] = format!("{OLD}\u{0}").into()),
    ];
    let (_db, client, app) = seeded_app().await;
    // Something to match, so that a no-show of a known invitee would be recorded.
    assert_eq!(deliver(&app, "invitee-created.json").await.taken(), Some("recorded"));
    for (what, name, edit) in cases {
        let before = fingerprint(&client).await;
        let a = deliver_edited(&app, name, edit).await;
        assert_eq!(a.status.as_u16(), 400, "NUL in the {what}: {:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json", "NUL in the {what}");
        assert_eq!(a.problem_type(), "urn:problem-type:calendly-webhook:invalid-payload", "NUL in the {what}");
        assert_eq!(fingerprint(&client).await, before, "NUL in the {what}: nothing written");
    }
}

#[tokio::test]
async fn a_client_id_with_nul_in_the_path_is_refused() {
    let (_db, client, app) = seeded_app().await;
    let body = fixture("invitee-created.json");
    let before = fingerprint(&client).await;
    for client_id in ["client_acme%00", "%00", "client%00acme"] {
        let a = post(&app, client_id, &body, Some(signed(KEY, &body))).await;
        assert!(a.status.is_client_error(), "{client_id}: {:?}", a);
        assert_eq!(a.content_type, "application/problem+json", "{client_id}");
    }
    assert_eq!(fingerprint(&client).await, before);
}
