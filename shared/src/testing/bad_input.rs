//! Bad input for the property tests of every entry point: what is done to a valid body or event
//! (a field removed or given a value of another type, bytes truncated or overwritten, a key given
//! twice), and the single deterministic monsters (10 MB, 100,000 levels deep, not UTF-8). The
//! tests draw the parameters with proptest and hand them here, so that every function's tests
//! damage their input the same way. The properties every entry point states alike (random bytes
//! and damaged payloads are refused and write nothing) run here, on the entry point's own check.

use std::future::Future;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};
use tokio_postgres::Client;

/// The size of the huge bodies and events (10 MB).
pub const HUGE_BYTES: usize = 10 * 1024 * 1024;
/// The depth of the deeply nested ones.
pub const DEEP_LEVELS: usize = 100_000;

/// Every JSON pointer in a value, the root included (children before their parent).
pub fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    walk(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// One edit of a JSON document: which value (`target`, modulo the document's values), what is
/// done to it (`op`: 0 removes it, 1..=8 replace it with null, a number, `text`, a boolean, an
/// empty object, an array, a fraction, or up to 700 `x`), and the material of the replacement.
#[derive(Clone, Debug)]
pub struct Mutation {
    pub target: usize,
    pub op: u8,
    pub text: String,
    pub number: i64,
}

/// Text replacements worth drawing: printable text with NUL, dates, URIs (a proptest regex).
pub const MUTATION_TEXT: &str =
    "[ -~\\x00]{0,24}|2026-0[1-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z|(0000|9999)-01-01T00:00:00Z|https://[a-z/\\x00]{0,20}";

impl Mutation {
    /// Applies the edit (the root can be replaced, not removed).
    pub fn apply(&self, doc: &mut Value) {
        let all = pointers(doc);
        let path = &all[self.target % all.len()];
        if self.op == 0 {
            if let Some((parent, key)) = path.rsplit_once('/') {
                match doc.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
        let replacement = match self.op {
            1 => Value::Null,
            2 => self.number.into(),
            3 => self.text.clone().into(),
            4 => (self.number % 2 == 0).into(),
            5 => Value::Object(Map::new()),
            6 => Value::Array(vec![self.text.clone().into()]),
            7 => (self.number as f64 / 7.0).into(),
            _ => "x".repeat((self.number.unsigned_abs() % 700) as usize).into(),
        };
        if let Some(slot) = doc.pointer_mut(path) {
            *slot = replacement;
        }
    }
}

/// The ways a valid document is damaged by [`damaged`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// One of the named fields given a value of any type that the function does not accept.
    WrongValue,
    /// The text cut short (a strict prefix of a JSON object is never JSON).
    Truncated,
    /// One of its objects given its first key twice.
    RepeatedKey,
    /// An invalid UTF-8 sequence inside its first string.
    NotUtf8,
    /// The whole document replaced by another value (a number, a string, an array, `{}`, ...).
    Replaced,
}

impl Damage {
    pub const ALL: [Damage; 5] = [Damage::WrongValue, Damage::Truncated, Damage::RepeatedKey, Damage::NotUtf8, Damage::Replaced];
}

/// `doc` damaged as `damage` says, with `target` and `m` (drawn by the test) choosing where and
/// what; `None` when the result is one the function accepts (`accepted(field, value)` for a
/// [`Damage::WrongValue`]) or the damage does not apply to this document.
pub fn damaged(
    doc: &Value,
    damage: Damage,
    fields: &[&str],
    accepted: impl Fn(&str, &Value) -> bool,
    target: usize,
    m: Mutation,
) -> Option<Vec<u8>> {
    match damage {
        Damage::WrongValue => {
            let field = fields[target % fields.len()];
            let mut holder = serde_json::json!({ field: 0 });
            Mutation { target: 0, op: m.op.max(1), ..m }.apply(&mut holder);
            let value = holder[field].take();
            if accepted(field, &value) {
                return None;
            }
            let mut doc = doc.clone();
            doc[field] = value;
            Some(doc.to_string().into_bytes())
        }
        Damage::Truncated => Some(truncated(doc.to_string().as_bytes(), target)),
        Damage::RepeatedKey => with_repeated_key(doc, target, &Value::String(m.text)),
        Damage::NotUtf8 => Some(not_utf8(doc)),
        Damage::Replaced => {
            let mut doc = doc.clone();
            let root = pointers(&doc).len() - 1;
            Mutation { target: root, op: m.op.max(1), ..m }.apply(&mut doc);
            Some(doc.to_string().into_bytes())
        }
    }
}

/// A signed webhook delivery's damage (`kind % 3`: truncated, not UTF-8, a key given twice) and the
/// last part of the problem `type` both webhooks answer it with (`not-json`, `invalid-payload`).
pub fn damaged_delivery(doc: &Value, kind: u8, at: usize, text: String) -> (Vec<u8>, &'static str) {
    let damage = [Damage::Truncated, Damage::NotUtf8, Damage::RepeatedKey][usize::from(kind % 3)];
    let body = damaged(doc, damage, &[], |_, _| false, at, Mutation { target: at, op: 3, text, number: 0 });
    (body.expect("every delivery has an object"), if damage == Damage::RepeatedKey { "invalid-payload" } else { "not-json" })
}

/// Asserts that a webhook refused with `status`, as problem+json with that status in its body and
/// the `problem_type` given.
pub fn assert_refused(a: &super::WebhookAnswer, status: u16, problem_type: &str) {
    assert_eq!(a.status.as_u16(), status, "{a:?}");
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    assert_eq!(a.body["status"], status, "{a:?}");
    assert_eq!(a.problem_type(), problem_type, "{a:?}");
}

/// The runtime the property tests block on: two workers, as the machine running them has cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

/// `cases` cases, and no file of failures written next to the tests.
pub fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// 48 signed deliveries, each one of `docs` damaged by [`damaged_delivery`], handed to `deliver`
/// (which signs and posts it): each is refused as a 400 of the problem type
/// `{type_prefix}{not-json|invalid-payload}` and writes nothing.
pub fn signed_damaged_deliveries_are_refused<Fut>(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    docs: &[Value],
    type_prefix: &str,
    deliver: impl Fn(Vec<u8>) -> Fut,
) where
    Fut: Future<Output = super::WebhookAnswer>,
{
    let strategy = (0..docs.len(), 0u8..3, any::<usize>(), "[ -~]{0,12}");
    TestRunner::new(config(48))
        .run(&strategy, |(which, damage, at, text)| {
            let (body, slug) = damaged_delivery(&docs[which], damage, at, text);
            rt.block_on(async {
                let before = super::fingerprint(client).await;
                assert_refused(&deliver(body).await, 400, &format!("{type_prefix}{slug}"));
                prop_assert_eq!(super::fingerprint(client).await, before);
                Ok(())
            })
        })
        .unwrap();
}

/// Each of `bodies`, handed to `deliver` (which signs and posts it), is refused as a 400 of the
/// problem type `{type_prefix}invalid-payload` (with `detail`, when given) and writes nothing.
pub async fn invalid_deliveries_are_refused<Fut>(
    client: &Client,
    type_prefix: &str,
    detail: Option<&str>,
    bodies: Vec<Vec<u8>>,
    deliver: impl Fn(Vec<u8>) -> Fut,
) where
    Fut: Future<Output = super::WebhookAnswer>,
{
    let before = super::fingerprint(client).await;
    for (i, body) in bodies.into_iter().enumerate() {
        let a = deliver(body).await;
        assert_refused(&a, 400, &format!("{type_prefix}invalid-payload"));
        if let Some(detail) = detail {
            assert_eq!(a.body["detail"], detail, "body {i}");
        }
        assert_eq!(super::fingerprint(client).await, before, "body {i}");
    }
}

/// `doc` with the value at a JSON pointer replaced, a body per edit (`pointer`, `value`).
pub fn with_values<V: Clone + Into<Value>>(doc: &Value, edits: &[(&str, V)]) -> Vec<Vec<u8>> {
    edits
        .iter()
        .map(|(pointer, value)| {
            let mut doc = doc.clone();
            *doc.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer} is in the document")) = value.clone().into();
            doc.to_string().into_bytes()
        })
        .collect()
}

/// What every operator entry point states alike, handed to `refused` (the entry point's check
/// that it refused the payload and wrote nothing, which gives the error's type):
/// - 48 payloads of up to 512 random bytes;
/// - 64 payloads, each a valid one of `docs` damaged by [`damaged`] (any [`Damage`], a wrong value
///   only in the document's named fields). A damage that leaves a payload the entry point accepts
///   (`accepted(field, value)`) is no case;
/// - each of `monsters` (see [`monsters`]), which must be refused as `InvalidInput`;
/// - each of `docs` with one of its objects given its first key twice, with the same value (each
///   value valid, the whole without one meaning), which must be refused as `InvalidInput`.
pub fn bad_payloads_are_refused(
    docs: &[(Value, &[&str])],
    accepted: impl Fn(&str, &Value) -> bool,
    monsters: Vec<(String, Vec<u8>)>,
    refused: impl Fn(&[u8]) -> Result<&'static str, TestCaseError>,
) {
    TestRunner::new(config(48)).run(&proptest::collection::vec(any::<u8>(), 0..512), |bytes| refused(&bytes).map(drop)).unwrap();
    let strategy = (0..docs.len(), 0..Damage::ALL.len(), any::<usize>(), 1u8..9, MUTATION_TEXT, any::<i64>());
    TestRunner::new(config(64))
        .run(&strategy, |(which, damage, target, op, text, number)| {
            let (doc, fields) = &docs[which];
            let m = Mutation { target, op, text, number };
            match damaged(doc, Damage::ALL[damage], fields, &accepted, target, m) {
                Some(payload) => refused(&payload).map(drop),
                None => Ok(()),
            }
        })
        .unwrap();
    let repeated_keys = docs.iter().flat_map(|(doc, _)| with_each_first_key_repeated(doc));
    for (name, payload) in monsters.into_iter().chain(repeated_keys.map(|p| (String::from_utf8_lossy(&p).into_owned(), p))) {
        let error_type = refused(&payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(error_type, "InvalidInput", "{name}");
    }
}

/// What an operator entry point (a Lambda invoked with a JSON payload) must do with a bad one:
/// fail with `InvalidInput` or `ClientNotFound` (`describe` gives an error's type and message), in
/// a message of at most [`crate::text::EXCERPT_CHARS`] characters and without the database's words,
/// and write nothing (the fingerprint and `written`, a count of what only this entry point writes,
/// unchanged). The error, for more checks.
pub async fn refused_cleanly<T: std::fmt::Debug, E: std::fmt::Debug>(
    client: &Client,
    written: &str,
    invocation: impl Future<Output = Result<T, E>>,
    describe: impl Fn(&E) -> (&'static str, String),
) -> Result<E, TestCaseError> {
    let before = (super::fingerprint(client).await, super::count(client, written).await);
    let err = match invocation.await {
        Ok(out) => return Err(TestCaseError::fail(format!("accepted: {out:?}"))),
        Err(e) => e,
    };
    let (error_type, message) = describe(&err);
    prop_assert!(matches!(error_type, "InvalidInput" | "ClientNotFound"), "{err:?}");
    prop_assert!(message.chars().count() <= crate::text::EXCERPT_CHARS + 1, "{}", message.len());
    for database_words in ["22021", "SQLSTATE", "0x00", "byte sequence"] {
        prop_assert!(!message.contains(database_words), "{}", message);
    }
    prop_assert_eq!((super::fingerprint(client).await, super::count(client, written).await), before);
    Ok(err)
}

/// One edit of the bytes of a body: cut at `at` (`truncate`), else `byte` written at `at`.
pub fn damage(bytes: &mut Vec<u8>, at: usize, byte: u8, truncate: bool) {
    if bytes.is_empty() {
        return;
    }
    let at = at % bytes.len();
    if truncate {
        bytes.truncate(at);
    } else {
        bytes[at] = byte;
    }
}

/// Every strict prefix of a JSON object's text is not JSON: the truncations worth trying.
pub fn truncated(bytes: &[u8], at: usize) -> Vec<u8> {
    bytes[..at % bytes.len().max(1)].to_vec()
}

/// The document's text with one of its objects (`target`, modulo the objects) given its first key
/// twice, the second time with `value`; `None` when the document has no non-empty object.
pub fn with_repeated_key(doc: &Value, target: usize, value: &Value) -> Option<Vec<u8>> {
    let objects = non_empty_objects(doc);
    let chosen = objects.get(target % objects.len().max(1))?.clone();
    fn write(v: &Value, at: &str, chosen: &str, extra: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                for (i, (k, child)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("a key serializes"));
                    out.push(':');
                    write(child, &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), chosen, extra, out);
                }
                if at == chosen {
                    let first = m.keys().next().expect("a non-empty object");
                    out.push(',');
                    out.push_str(&serde_json::to_string(first).expect("a key serializes"));
                    out.push(':');
                    out.push_str(&extra.to_string());
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, child) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(child, &format!("{at}/{i}"), chosen, extra, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(doc, "", &chosen, value, &mut out);
    Some(out.into_bytes())
}

/// The pointers of the document's objects that have a key.
fn non_empty_objects(doc: &Value) -> Vec<String> {
    pointers(doc).into_iter().filter(|p| matches!(doc.pointer(p), Some(Value::Object(m)) if !m.is_empty())).collect()
}

/// The document's text once for each of its objects, that object's first key given twice with
/// the same value: every value valid, and still no single meaning.
pub fn with_each_first_key_repeated(doc: &Value) -> Vec<Vec<u8>> {
    non_empty_objects(doc)
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let first = doc.pointer(p)?.as_object()?.values().next()?;
            with_repeated_key(doc, i, first)
        })
        .collect()
}

/// A JSON object of [`HUGE_BYTES`] whose `field` is a huge string (valid JSON, valid UTF-8).
pub fn huge_object(field: &str) -> Vec<u8> {
    let mut out = format!("{{\"{field}\":\"").into_bytes();
    out.resize(HUGE_BYTES - 2, b'a');
    out.extend_from_slice(b"\"}");
    out
}

/// [`DEEP_LEVELS`] arrays, each in the next (valid JSON).
pub fn deeply_nested_arrays() -> Vec<u8> {
    let mut out = vec![b'['; DEEP_LEVELS];
    out.resize(2 * DEEP_LEVELS, b']');
    out
}

/// [`DEEP_LEVELS`] objects, each the value of `field` of the one around it (valid JSON).
pub fn deeply_nested_objects(field: &str) -> Vec<u8> {
    let open = format!("{{\"{field}\":");
    let mut out = open.repeat(DEEP_LEVELS).into_bytes();
    out.extend_from_slice(b"null");
    out.resize(out.len() + DEEP_LEVELS, b'}');
    out
}

/// The monsters an operator payload must survive, named: a 10 MB string in each of
/// `huge_fields`, [`DEEP_LEVELS`] arrays, as many objects nested in `deep_field`, the valid `doc`
/// made non-UTF-8, and nothing at all.
pub fn monsters(doc: &Value, huge_fields: &[&str], deep_field: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = huge_fields.iter().map(|f| (format!("10 MB {f}"), huge_object(f))).collect();
    out.push(("100,000 arrays".into(), deeply_nested_arrays()));
    out.push(("100,000 objects".into(), deeply_nested_objects(deep_field)));
    out.push(("not UTF-8".into(), not_utf8(doc)));
    out.push(("empty".into(), Vec::new()));
    out
}

/// A JSON text that is not UTF-8: the valid document with bytes 0xC3 0x28 (an invalid sequence)
/// inside its first string.
pub fn not_utf8(doc: &Value) -> Vec<u8> {
    let text = doc.to_string().into_bytes();
    match text.iter().position(|b| *b == b'"') {
        Some(quote) => [&text[..=quote], &[0xC3, 0x28][..], &text[quote + 1..]].concat(),
        None => [b"\"".as_slice(), &[0xC3, 0x28], b"\""].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_monsters_are_what_they_say() {
        assert_eq!(huge_object("clientId").len(), HUGE_BYTES);
        assert!(serde_json::from_slice::<Value>(&huge_object("clientId")).is_ok());
        assert_eq!(deeply_nested_arrays().len(), 2 * DEEP_LEVELS);
        assert!(std::str::from_utf8(&not_utf8(&json!({"a": "b"}))).is_err());
        assert!(std::str::from_utf8(&deeply_nested_objects("payload")).is_ok());
    }

    #[test]
    fn a_repeated_key_is_added_where_chosen() {
        let doc = json!({"mode": "dry-run", "inner": {"k": 1}});
        let texts: Vec<String> = (0..2).map(|i| String::from_utf8(with_repeated_key(&doc, i, &json!("apply")).unwrap()).unwrap()).collect();
        assert!(texts.contains(&r#"{"inner":{"k":1,"k":"apply"},"mode":"dry-run"}"#.to_string()), "{texts:?}");
        assert!(texts.contains(&r#"{"inner":{"k":1},"mode":"dry-run","inner":"apply"}"#.to_string()), "{texts:?}");
        assert_eq!(with_repeated_key(&json!([1, {}]), 0, &json!(1)), None);
        for text in texts {
            assert!(crate::json::is_duplicate_key(&crate::json::parse(text.as_bytes()).unwrap_err()));
        }
    }

    #[test]
    fn damage_is_what_it_says() {
        let doc = json!({"mode": "apply", "batchSize": 5});
        let m = |op: u8| Mutation { target: 0, op, text: "t".into(), number: 7 };
        let none = |_: &str, _: &Value| false;
        for op in 0..9 {
            let replaced = damaged(&doc, Damage::Replaced, &["mode"], none, 0, m(op)).unwrap();
            assert!(serde_json::from_slice::<Value>(&replaced).unwrap().get("mode").is_none(), "{op}");
            let wrong = damaged(&doc, Damage::WrongValue, &["batchSize"], none, 0, m(op)).unwrap();
            assert_ne!(serde_json::from_slice::<Value>(&wrong).unwrap()["batchSize"], 5, "{op}");
        }
        assert_eq!(damaged(&doc, Damage::WrongValue, &["mode"], |_, _| true, 0, m(2)), None);
        assert!(crate::json::parse(&damaged(&doc, Damage::RepeatedKey, &[], none, 0, m(1)).unwrap()).is_err());
    }

    #[test]
    fn mutations_edit_one_value() {
        let mut doc = json!({"a": {"b": 1}});
        Mutation { target: 0, op: 0, text: String::new(), number: 0 }.apply(&mut doc);
        assert_eq!(doc, json!({"a": {}}));
        Mutation { target: 1, op: 3, text: "t".into(), number: 0 }.apply(&mut doc);
        assert_eq!(doc, json!("t"));
    }
}
