//! A provider key that another workspace only asserted never makes a signed delivery be dropped;
//! each such conflict is logged with the ids of both sides and counted by what the write did.

mod common;

use common::*;
use shared::metrics::check;
use shared::{AppointmentSource, AppointmentStatus, LeadRef, Observation, ObservedStatus, Provider};

const OTHER_CLIENT: &str = "client_other";
const OTHER_LEAD: &str = "lead_other";

/// What the history API's POST hands the write path: pinned to the lead, asserted by the CRM.
fn asserted(key: &str) -> Observation {
    let mut o = Observation::new(
        LeadRef::Pinned(OTHER_LEAD.into()),
        Provider::Calendly,
        ObservedStatus::Is(AppointmentStatus::Confirmed),
        AppointmentSource::Manual,
    );
    o.key = Some(key.into());
    o.start_at = Some("2026-03-10T17:00:00Z".parse().unwrap());
    o.end_at = Some("2026-03-10T17:30:00Z".parse().unwrap());
    o
}

#[tokio::test]
async fn a_signed_delivery_takes_the_invitee_from_another_workspaces_post() {
    let logs = trace_logs();
    let emf = shared::testing::LogCapture::default();
    shared::metrics::init_with_writer("calendly-webhook", "Test/KeyConflict".into(), emf.clone());
    let (db, client) = seeded().await;
    shared::testing::seed_client(&client, OTHER_CLIENT, None).await.unwrap();
    shared::testing::seed_lead(&client, OTHER_CLIENT, OTHER_LEAD, None).await.unwrap();
    let store = db.store().await;
    // Workspace "other" POSTs the acme invitee's URI first.
    store.record(asserted(OLD)).await.unwrap();

    let app = app(&db).await;
    let a = deliver(&app, "invitee-created.json").await;
    assert_eq!((a.status.as_u16(), a.taken()), (200, Some("recorded")), "{}", a.body);
    let s = state(&client).await;
    assert_eq!(s.row(OLD).lead, DANA, "the signed delivery is recorded on the acme lead");
    let other: Vec<(Option<String>, String)> = client
        .query(r#"SELECT "calendlyInviteeUri", "status"::text FROM "Appointment" WHERE "leadId" = $1"#, &[&OTHER_LEAD])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(other, [(None, "CONFIRMED".to_string())], "the other workspace keeps its appointment, without the key");

    // The acme invitee's later deliveries reach it too, and the other workspace cannot take it back.
    assert_eq!(deliver(&app, "invitee-no-show-created.json").await.taken(), Some("recorded"));
    assert_eq!(state(&client).await.row(OLD).status, "NO_SHOW");
    let again = store.record(asserted(OLD)).await.unwrap();
    assert_eq!(again.key_conflict, Some(shared::write_path::KeyConflict::Dropped));
    assert_eq!(state(&client).await.row(OLD).lead, DANA);

    let text = emf.text();
    let conflicts: Vec<String> = check::emf_lines(&text)
        .into_iter()
        .map(|l| check::emf(l, "Test/KeyConflict").unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|d| d["ProviderKeyConflicts"] == 1)
        .map(|d| d["Conflict"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(conflicts, ["taken", "dropped"], "one count per conflict, by what the write did");
    for id in [DANA, OTHER_LEAD, OTHER_CLIENT, OLD] {
        assert!(!text.contains(id), "the metric lines name {id:?}");
    }

    let logs = logs.text();
    let logged: Vec<&str> = logs.lines().filter(|l| l.contains("key_conflict")).collect();
    assert_eq!(logged.len(), 2, "one warning per committed conflict: {logged:#?}");
    for (line, (kind, lead, other)) in logged.iter().zip([("taken", DANA, OTHER_LEAD), ("dropped", OTHER_LEAD, DANA)]) {
        assert!(line.contains("WARN") && line.contains(kind), "{line}");
        assert!(line.contains(&format!(" lead_id={lead} ")) && line.contains(&format!("other_lead_id={other} ")), "{line}");
    }
}
