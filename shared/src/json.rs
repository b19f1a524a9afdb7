//! Strict JSON: every body and event the functions read is parsed here, and a key given twice in
//! one object, at any depth, is refused.
//!
//! serde_json keeps the last of repeated keys, so `{"mode":"dry-run","mode":"apply"}` reads as
//! apply, while a reader that keeps the first one (or a log line, or a person) sees a dry-run. Such
//! a body has no single meaning: it is refused, like any other malformed input. serde_json has no
//! option for it, and `serde_with`'s duplicate-refusing maps cover typed maps only, not nested
//! objects of any shape; so the rule is this one visitor, which builds the same `Value` serde_json
//! would and stops at the first repeated key. Everything else is serde_json's: its syntax errors,
//! its nesting limit (128 levels), and `serde_json::Error`, so that callers classify errors as
//! before (a repeated key is a data error).

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The start of the message of a repeated key's error ([`is_duplicate_key`]).
const DUPLICATE_KEY: &str = "duplicate key";

/// The `detail` of an HTTP refusal of a body that gives a key twice (our words, no key named).
pub const REPEATED_KEY_DETAIL: &str = "the body gives a key more than once in one object";

/// A JSON value without repeated keys; deserializing it from anything refuses them.
#[derive(Clone, Debug, PartialEq)]
pub struct Strict(pub Value);

/// Parses JSON, refusing repeated keys.
pub fn parse(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

/// Parses JSON into `T`, refusing repeated keys (anywhere, not only in the fields `T` reads).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    T::deserialize(parse(bytes)?)
}

/// Whether the error is a repeated key's (its message names the key, shortened).
pub fn is_duplicate_key(e: &serde_json::Error) -> bool {
    e.classify() == serde_json::error::Category::Data && e.to_string().starts_with(DUPLICATE_KEY)
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value without repeated keys")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so this is always a number.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Strict::deserialize(deserializer).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_KEY} `{}`", crate::text::excerpt(&key))));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        let table: [(&str, bool); 10] = [
            (r#"{"mode":"dry-run","mode":"apply"}"#, true),
            (r#"{"a":{"b":1,"b":1}}"#, true),
            (r#"[{"x":1},{"y":[{"k":true,"k":false}]}]"#, true),
            (r#"{"a":1,"A":2}"#, false),
            (r#"{"a":{"b":1},"c":{"b":1}}"#, false),
            // The same key after unescaping is the same key.
            (r#"{"mode":1,"mo\u0064e":2}"#, true),
            (r#"{}"#, false),
            (r#"[1,1,"a","a"]"#, false),
            (r#"{"":1,"":2}"#, true),
            (r#""text""#, false),
        ];
        for (text, duplicate) in table {
            match parse(text.as_bytes()) {
                Ok(v) => {
                    assert!(!duplicate, "{text} was accepted");
                    assert_eq!(v, serde_json::from_str::<Value>(text).unwrap(), "{text}: the same value as serde_json's");
                }
                Err(e) => {
                    assert!(duplicate, "{text}: {e}");
                    assert!(is_duplicate_key(&e), "{text}: {e}");
                }
            }
        }
        let e = parse(br#"{"mode":"dry-run","mode":"apply"}"#).unwrap_err();
        assert!(e.to_string().starts_with("duplicate key `mode`"), "{e}");
    }

    #[test]
    fn the_rest_is_serde_jsons() {
        use serde_json::error::Category;
        let table: [(&[u8], Category); 6] = [
            (b"", Category::Eof),
            (b"{\"a\":", Category::Eof),
            (b"{\"a\":1} x", Category::Syntax),
            (b"\"\xff\"", Category::Syntax),
            (b"NaN", Category::Syntax),
            (b"[1,]", Category::Syntax),
        ];
        for (bytes, category) in table {
            let e = parse(bytes).unwrap_err();
            assert_eq!(e.classify(), category, "{:?}: {e}", String::from_utf8_lossy(bytes));
            assert!(!is_duplicate_key(&e));
        }
        // Nesting stops at serde_json's limit, without exhausting the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
        let deep = "{\"a\":".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
        // Numbers and escapes are read as serde_json reads them.
        let v = parse(br#"{"n":-1,"u":18446744073709551615,"f":1.5e300,"s":"\u00e9\n","z":null}"#).unwrap();
        assert_eq!(v, json!({"n": -1, "u": u64::MAX, "f": 1.5e300, "s": "é\n", "z": null}));
    }

    #[test]
    fn typed_reading_refuses_repeats_even_in_fields_it_ignores() {
        #[derive(Deserialize, Debug)]
        struct Head {
            #[allow(dead_code)]
            event: String,
        }
        assert!(from_slice::<Head>(br#"{"event":"x","other":{"k":1}}"#).is_ok());
        let e = from_slice::<Head>(br#"{"event":"x","other":{"k":1,"k":2}}"#).unwrap_err();
        assert!(is_duplicate_key(&e), "{e}");
        let e = from_slice::<Head>(br#"{"event":"x","event":"y"}"#).unwrap_err();
        assert!(is_duplicate_key(&e), "{e}");
        let long = "k".repeat(100_000);
        let e = parse(format!(r#"{{"{long}":1,"{long}":2}}"#).as_bytes()).unwrap_err();
        assert!(e.to_string().chars().count() < 300, "the repeated key is shortened");
    }
}
