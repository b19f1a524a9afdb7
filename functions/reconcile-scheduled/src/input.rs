//! What the function is invoked with: an EventBridge schedule (cron mode) or an operator's backfill
//! request. Anything else is rejected with a stable error type, before any work is done.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::RunError;

/// Largest `maxLeads` one backfill invocation accepts (a Lambda has 15 minutes at most).
pub const MAX_BACKFILL_LEADS: u32 = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// The EventBridge schedule fired: reconcile the due leads of every client (source RECONCILE_CRON).
    Cron,
    /// An operator asked to walk one client's leads (source BACKFILL).
    Backfill(BackfillRequest),
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackfillRequest {
    pub mode: BackfillMode,
    pub client_id: String,
    /// Leads walked by this invocation at most (default: the function's `BACKFILL_MAX_LEADS`).
    #[serde(default)]
    pub max_leads: Option<u32>,
    /// Where the previous invocation stopped (its `nextCursor`); absent: from the start.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackfillMode {
    Backfill,
}

/// The payload's JSON as sent, read strictly: a key given twice has no single meaning and is
/// refused ([`shared::json`]).
pub fn read_payload(payload: &[u8]) -> Result<Value, RunError> {
    shared::json::parse(payload).map_err(|e| {
        RunError::InvalidInput(if shared::json::is_duplicate_key(&e) {
            format!("the payload gives a key more than once ({e})")
        } else {
            "the payload is not JSON".into()
        })
    })
}

/// Reads the invocation payload.
pub fn parse_request(payload: Value) -> Result<Request, RunError> {
    if payload.get("mode").is_some() {
        let request: BackfillRequest =
            serde_json::from_value(payload).map_err(|e| RunError::InvalidInput(format!("backfill request: {e}")))?;
        if request.client_id.trim().is_empty() {
            return Err(RunError::InvalidInput("backfill request: clientId is empty".into()));
        }
        if let Some(n) = request.max_leads {
            if n == 0 || n > MAX_BACKFILL_LEADS {
                return Err(RunError::InvalidInput(format!("backfill request: maxLeads must be between 1 and {MAX_BACKFILL_LEADS}")));
            }
        }
        if request.cursor.as_deref().is_some_and(|c| c.trim().is_empty() || c.len() > 512) {
            return Err(RunError::InvalidInput("backfill request: cursor is empty or too long".into()));
        }
        // Both are looked up in PostgreSQL, which refuses NUL.
        for (field, id) in [("clientId", Some(request.client_id.as_str())), ("cursor", request.cursor.as_deref())] {
            if let Some(Err(nul)) = id.map(shared::text::check_id) {
                return Err(RunError::InvalidInput(format!("backfill request: {field} {nul}")));
            }
        }
        return Ok(Request::Backfill(request));
    }
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(payload).map_err(|e| RunError::InvalidInput(format!("EventBridge event: {e}")))?;
        if event.detail_type != "Scheduled Event" {
            return Err(RunError::InvalidInput(format!(
                "EventBridge event of type {:?}: only \"Scheduled Event\" is handled",
                truncate(&event.detail_type)
            )));
        }
        return Ok(Request::Cron);
    }
    Err(RunError::InvalidInput("expected an EventBridge \"Scheduled Event\" or {\"mode\":\"backfill\",\"clientId\":...}".into()))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_as_a_table() {
        let schedule = json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-03-04T09:15:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile-scheduled"], "detail": {}
        });
        assert_eq!(parse_request(schedule.clone()).unwrap(), Request::Cron);
        let backfill = json!({"mode": "backfill", "clientId": "client_1", "maxLeads": 50, "cursor": "lead_9"});
        assert_eq!(
            parse_request(backfill).unwrap(),
            Request::Backfill(BackfillRequest {
                mode: BackfillMode::Backfill,
                client_id: "client_1".into(),
                max_leads: Some(50),
                cursor: Some("lead_9".into())
            })
        );
        assert_eq!(
            parse_request(json!({"mode": "backfill", "clientId": "c"})).unwrap(),
            Request::Backfill(BackfillRequest { mode: BackfillMode::Backfill, client_id: "c".into(), max_leads: None, cursor: None })
        );

        let mut other_event = schedule;
        other_event["detail-type"] = json!("EC2 Instance State-change Notification");
        let bad = [
            json!({}),
            json!([]),
            json!("backfill"),
            json!({"mode": "restore", "clientId": "c"}),
            json!({"mode": "backfill"}),
            json!({"mode": "backfill", "clientId": "  "}),
            json!({"mode": "backfill", "clientId": "c", "maxLeads": 0}),
            json!({"mode": "backfill", "clientId": "c", "maxLeads": -5}),
            json!({"mode": "backfill", "clientId": "c", "maxLeads": 1000000}),
            json!({"mode": "backfill", "clientId": "c", "cursor": ""}),
            json!({"mode": "backfill", "clientId": "c", "dryRun": true}),
            json!({"mode": "backfill", "clientId": "c\u{0}"}),
            json!({"mode": "backfill", "clientId": "c", "cursor": "\u{0}lead_9"}),
            other_event,
            json!({"detail-type": "Scheduled Event"}),
        ];
        for payload in bad {
            let err = parse_request(payload.clone()).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput", "{payload}");
        }
    }

    #[test]
    fn payloads_are_read_strictly() {
        assert!(read_payload(br#"{"mode":"backfill","clientId":"c"}"#).is_ok());
        let table: [(&[u8], &str); 4] = [
            (
                br#"{"mode":"backfill","clientId":"a","clientId":"b"}"#,
                "invalid input: the payload gives a key more than once (duplicate key `clientId`",
            ),
            (br#"{"detail-type":"Scheduled Event","detail":{"x":1,"x":1}}"#, "invalid input: the payload gives a key more than once"),
            (b"{\"mode\":", "invalid input: the payload is not JSON"),
            (b"\"\xc3\x28\"", "invalid input: the payload is not JSON"),
        ];
        for (bytes, message) in table {
            let err = read_payload(bytes).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput");
            assert!(err.to_string().starts_with(message), "{err}");
        }
    }

    #[test]
    fn the_sample_events_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/reconcile-scheduled");
        let read = |name: &str| serde_json::from_str::<Value>(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap();
        assert_eq!(parse_request(read("schedule.json")).unwrap(), Request::Cron);
        assert!(matches!(
            parse_request(read("backfill.json")).unwrap(),
            Request::Backfill(BackfillRequest { max_leads: Some(200), cursor: None, .. })
        ));
        assert!(matches!(parse_request(read("backfill-resume.json")).unwrap(), Request::Backfill(BackfillRequest { cursor: Some(_), .. })));
    }
}
