//! The invocation payload: `{"mode", "clientId"?, "batchSize"?, "maxLeads"?, "resume"?}`.
//! Validated by hand so that every error names its field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an invocation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Counts what apply would do; writes no appointment.
    DryRun,
    /// Creates the MIGRATION appointments.
    Apply,
    /// Reports leads with data but no history, and rollup drift.
    Verify,
    /// Rewrites drifted rollups through the rule.
    RepairRollups,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Apply => "apply",
            Mode::Verify => "verify",
            Mode::RepairRollups => "repair-rollups",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        [Mode::DryRun, Mode::Apply, Mode::Verify, Mode::RepairRollups].into_iter().find(|m| m.as_str() == text)
    }
}

/// Default leads per batch: a few thousand keeps each batch's lead locks far under a second.
pub const DEFAULT_BATCH_SIZE: u32 = 2_000;
pub const MAX_BATCH_SIZE: u32 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub mode: Mode,
    pub client_id: Option<String>,
    /// Leads per batch (this invocation; a resumed run may use another size).
    pub batch_size: u32,
    /// At most this many leads for the whole run (scanned, with or without data).
    pub max_leads: Option<u32>,
    /// A run id to continue.
    pub resume: Option<String>,
    /// Whether `batchSize` was given (a resume otherwise keeps the run's).
    pub batch_size_given: bool,
}

/// Bad input: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: field `{field}` {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> InputError {
    InputError { field: field.to_string(), problem: problem.into() }
}

const FIELDS: [&str; 5] = ["mode", "clientId", "batchSize", "maxLeads", "resume"];

/// The payload's JSON, read strictly: a key given twice (`{"mode":"dry-run","mode":"apply"}`) has
/// no single meaning and is refused ([`shared::json`]).
pub fn read_payload(payload: &[u8]) -> Result<Value, InputError> {
    shared::json::parse(payload).map_err(|e| {
        if shared::json::is_duplicate_key(&e) {
            bad("(payload)", format!("gives a key more than once ({e})"))
        } else {
            bad("(payload)", "must be a JSON object like {\"mode\":\"dry-run\"}")
        }
    })
}

pub fn parse_input(payload: &Value) -> Result<Input, InputError> {
    let Value::Object(map) = payload else {
        return Err(bad("(payload)", "must be a JSON object like {\"mode\":\"dry-run\"}"));
    };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(unknown, format!("is not a known field (known: {})", FIELDS.join(", "))));
    }
    let mode = match map.get("mode") {
        None | Some(Value::Null) => return Err(bad("mode", "is required: one of dry-run, apply, verify, repair-rollups")),
        Some(Value::String(s)) => Mode::parse(s).ok_or_else(|| bad("mode", "must be one of dry-run, apply, verify, repair-rollups"))?,
        Some(_) => return Err(bad("mode", "must be a string: one of dry-run, apply, verify, repair-rollups")),
    };
    let text = |field: &str| -> Result<Option<String>, InputError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(bad(field, "must not be empty")),
            Some(Value::String(s)) if s.len() > 200 => Err(bad(field, "is longer than 200 characters")),
            // Ids are looked up in PostgreSQL, which refuses NUL.
            Some(Value::String(s)) if shared::text::check_id(s).is_err() => Err(bad(field, shared::text::NulInId.to_string())),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(field, "must be a string")),
        }
    };
    let count = |field: &str, max: u64| -> Result<Option<u32>, InputError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (1..=max).contains(&v) => Ok(Some(v as u32)),
                _ => Err(bad(field, format!("must be a whole number from 1 to {max}"))),
            },
            Some(_) => Err(bad(field, format!("must be a whole number from 1 to {max}"))),
        }
    };
    let client_id = text("clientId")?;
    let resume = text("resume")?;
    if let Some(r) = &resume {
        if uuid::Uuid::parse_str(r).is_err() {
            return Err(bad("resume", "must be a runId returned by an earlier invocation"));
        }
    }
    let batch_size = count("batchSize", u64::from(MAX_BATCH_SIZE))?;
    let max_leads = count("maxLeads", i32::MAX as u64)?;
    Ok(Input {
        mode,
        client_id,
        batch_size: batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
        max_leads,
        resume,
        batch_size_given: batch_size.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_input() {
        let i = parse_input(&json!({"mode": "apply", "clientId": "c1", "batchSize": 500, "maxLeads": 10})).unwrap();
        assert_eq!((i.mode, i.client_id.as_deref(), i.batch_size, i.max_leads), (Mode::Apply, Some("c1"), 500, Some(10)));
        let i =
            parse_input(&json!({"mode": "repair-rollups", "resume": "0190f0c4-7a1e-7b3c-8d2e-1f2a3b4c5d6e", "clientId": null})).unwrap();
        assert_eq!((i.mode, i.batch_size, i.batch_size_given), (Mode::RepairRollups, DEFAULT_BATCH_SIZE, false));
    }

    #[test]
    fn payloads_are_read_strictly() {
        let table: [(&[u8], Option<&str>); 6] = [
            (br#"{"mode":"dry-run"}"#, None),
            (br#"{"mode":"dry-run","mode":"apply"}"#, Some("gives a key more than once (duplicate key `mode`")),
            (br#"{"mode":"apply","clientId":{"a":1,"a":2}}"#, Some("gives a key more than once")),
            (b"{\"mode\":\"apply\"", Some("must be a JSON object")),
            (b"\xff\xfe", Some("must be a JSON object")),
            (b"", Some("must be a JSON object")),
        ];
        for (bytes, problem) in table {
            match (read_payload(bytes), problem) {
                (Ok(_), None) => {}
                (Err(e), Some(p)) => {
                    assert_eq!(e.field, "(payload)");
                    assert!(e.problem.starts_with(p), "{e}");
                }
                (other, _) => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }

    #[test]
    fn every_bad_input_names_its_field() {
        let cases = [
            (json!([]), "(payload)"),
            (json!("apply"), "(payload)"),
            (json!({}), "mode"),
            (json!({"mode": "migrate"}), "mode"),
            (json!({"mode": 1}), "mode"),
            (json!({"mode": "Apply"}), "mode"),
            (json!({"mode": "apply", "batchSize": 0}), "batchSize"),
            (json!({"mode": "apply", "batchSize": 10001}), "batchSize"),
            (json!({"mode": "apply", "batchSize": 1.5}), "batchSize"),
            (json!({"mode": "apply", "batchSize": "100"}), "batchSize"),
            (json!({"mode": "apply", "maxLeads": -1}), "maxLeads"),
            (json!({"mode": "apply", "clientId": ""}), "clientId"),
            (json!({"mode": "apply", "clientId": 7}), "clientId"),
            (json!({"mode": "apply", "resume": "not-a-run"}), "resume"),
            (json!({"mode": "apply", "clientId": "c\u{0}"}), "clientId"),
            (json!({"mode": "verify", "resume": "0190f0c4-7a1e-7b3c-8d2e-1f2a3b4c5d6e\u{0}"}), "resume"),
            (json!({"mode": "apply", "batchsize": 10}), "batchsize"),
        ];
        for (payload, field) in cases {
            let err = parse_input(&payload).unwrap_err();
            assert_eq!(err.field, field, "{payload}");
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        }
    }
}
