//! A NUL character (U+0000), which PostgreSQL refuses in text, in a signed GHL delivery: an id
//! holding one is a 400 that writes nothing, free text the service does not keep is no trouble,
//! and no answer is a 5xx (GHL retries only on 429, so a 5xx would lose the delivery).

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn nul_in_a_signed_delivery_is_never_a_5xx() {
    type Edit = fn(&mut Value);
    // (what holds the NUL, edit, expected status)
    let cases: [(&str, Edit, u16); 7] = [
        ("appointment id", |v| v["appointment"]["id"] = "Yq3FpL8wV2nR6tKc9sDx\u{0}".into(), 400),
        ("contact id", |v| v["appointment"]["contactId"] = "\u{0}cnt_8Hj3Kd9Lm".into(), 400),
        ("location id", |v| v["locationId"] = "loc_Rt5v\u{0}B2nQ".into(), 400),
        ("status", |v| v["appointment"]["appointmentStatus"] = "confirmed\u{0}".into(), 400),
        ("start time", |v| v["appointment"]["startTime"] = "2026-03-11T15:00:00+00:00\u{0}".into(), 400),
        ("webhook id", |v| v["webhookId"] = "wh_\u{0}".into(), 200),
        (
            "notes and title",
            |v| {
                v["appointment"]["notes"] = "call\u{0} me".into();
                v["appointment"]["title"] = "\u{0}".into();
            },
            200,
        ),
    ];
    for (what, edit, status) in cases {
        let (_db, client, app) = seeded_app().await;
        let mut doc: Value = serde_json::from_slice(&fixture("webhook-appointment-create.json")).unwrap();
        edit(&mut doc);
        let body = serde_json::to_vec(&doc).unwrap();
        assert!(body.windows(6).any(|w| w == br"\u0000"), "the body carries an escaped NUL");
        let before = fingerprint(&client).await;
        let a = deliver_body(&app, &body).await;
        assert_eq!(a.status.as_u16(), status, "NUL in the {what}: {:?}", a.body);
        if status == 200 {
            assert_eq!(a.taken(), Some("recorded"), "NUL in the {what}");
        } else {
            assert_eq!(a.content_type, "application/problem+json", "NUL in the {what}");
            assert_eq!(fingerprint(&client).await, before, "NUL in the {what}: nothing written");
        }
    }
}
