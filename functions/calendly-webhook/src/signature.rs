//! Calendly's webhook signature ("Security and privacy" in docs/architecture.md):
//! `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is the hex HMAC-SHA256 of
//! `"<t>.<raw body>"` under the subscription's signing key.
//! A pure function over the raw bytes: the body is never re-serialized before checking.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Calendly signs deliveries with.
pub const HEADER: &str = "calendly-webhook-signature";

/// How far the signed time may be from now, in either direction: older is a replay, newer is a
/// forged or badly skewed clock.
pub const TOLERANCE_SECONDS: i64 = 180;

/// Longest header accepted; a real one is about 80 characters.
const MAX_HEADER_LEN: usize = 512;

/// Why a delivery's signature was refused. Every case answers 401; the distinction is for logs
/// and the problem body's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Calendly-Webhook-Signature` header.
    Missing,
    /// The header is not `t=<digits>,v1=<64 hex>` (in any order, other schemes ignored).
    Malformed,
    /// The signed time is outside the replay window.
    OutsideWindow,
    /// No `v1` matches the HMAC of the body under the client's key.
    Mismatch,
}

impl SignatureError {
    /// Safe to log and to put in an answer: says nothing about the key or the body.
    pub fn describe(self) -> &'static str {
        match self {
            SignatureError::Missing => "the Calendly-Webhook-Signature header is missing",
            SignatureError::Malformed => "the Calendly-Webhook-Signature header is malformed",
            SignatureError::OutsideWindow => "the signature's timestamp is outside the 3-minute window",
            SignatureError::Mismatch => "the signature does not match",
        }
    }
}

/// Checks a delivery. `header` is the header's value (`None` when absent), `now` unix seconds.
pub fn verify_signature(header: Option<&str>, raw_body: &[u8], key: &[u8], now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (t_text, t, candidates) = parse_header(header)?;
    if (now - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideWindow);
    }
    let expected = sign(key, t_text, raw_body);
    // Every candidate is compared, in constant time, whatever the outcome of the others.
    let matched = candidates.iter().fold(0u8, |acc, c| acc | c.ct_eq(&expected).unwrap_u8());
    if matched == 1 {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The HMAC-SHA256 of `"<t>.<body>"`, exactly as Calendly computes it.
pub fn sign(key: &[u8], t: &str, raw_body: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    mac.finalize().into_bytes().into()
}

/// The header value Calendly would send for this body at time `t` (tests, benches, local samples).
pub fn header_value(key: &[u8], t: i64, raw_body: &[u8]) -> String {
    let t = t.to_string();
    format!("t={t},v1={}", hex::encode(sign(key, &t, raw_body)))
}

/// `(t as written, t, v1 digests)`. Several `v1` may be present (Calendly documents none, Stripe-
/// style rotation would); at least one is required, and exactly one `t`.
fn parse_header(header: &str) -> Result<(&str, i64, Vec<[u8; 32]>), SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (name, value) = part.split_once('=').ok_or(SignatureError::Malformed)?;
        let value = value.trim();
        match name.trim() {
            "t" => {
                let digits_only = !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit());
                if t.is_some() || !digits_only {
                    return Err(SignatureError::Malformed);
                }
                t = Some((value, value.parse::<i64>().map_err(|_| SignatureError::Malformed)?));
            }
            "v1" => {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(value, &mut digest).map_err(|_| SignatureError::Malformed)?;
                candidates.push(digest);
            }
            _ => {}
        }
    }
    let (t_text, t) = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok((t_text, t, candidates))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"whsec_test_key";
    const BODY: &[u8] = br#"{"event":"invitee.created","payload":{}}"#;
    const NOW: i64 = 1_772_463_847;

    #[test]
    #[allow(clippy::type_complexity)] // a table reads best inline
    fn verifies_as_a_table() {
        let good = header_value(KEY, NOW, BODY);
        let digest = hex::encode(sign(KEY, &NOW.to_string(), BODY));
        let other_digest = hex::encode(sign(b"other", &NOW.to_string(), BODY));
        let cases: Vec<(&str, Option<String>, &[u8], &[u8], Result<(), SignatureError>)> = vec![
            ("good", Some(good.clone()), BODY, KEY, Ok(())),
            ("good, spaces and v1 first", Some(format!(" v1={digest} , t={NOW} ")), BODY, KEY, Ok(())),
            ("good, uppercase hex", Some(format!("t={NOW},v1={}", digest.to_uppercase())), BODY, KEY, Ok(())),
            ("good among several v1", Some(format!("t={NOW},v1={other_digest},v1={digest}")), BODY, KEY, Ok(())),
            ("unknown scheme ignored", Some(format!("t={NOW},v0=abc,v1={digest}")), BODY, KEY, Ok(())),
            ("wrong key", Some(good.clone()), BODY, b"another key", Err(SignatureError::Mismatch)),
            ("tampered body", Some(good.clone()), br#"{"event":"invitee.created","payload":{} }"#, KEY, Err(SignatureError::Mismatch)),
            ("empty body", Some(good.clone()), b"", KEY, Err(SignatureError::Mismatch)),
            ("stale", Some(header_value(KEY, NOW - 181, BODY)), BODY, KEY, Err(SignatureError::OutsideWindow)),
            ("stale, edge of window", Some(header_value(KEY, NOW - 180, BODY)), BODY, KEY, Ok(())),
            ("future", Some(header_value(KEY, NOW + 181, BODY)), BODY, KEY, Err(SignatureError::OutsideWindow)),
            ("future, edge of window", Some(header_value(KEY, NOW + 180, BODY)), BODY, KEY, Ok(())),
            ("t signed differently", Some(format!("t=0{NOW},v1={digest}")), BODY, KEY, Err(SignatureError::Mismatch)),
            ("missing", None, BODY, KEY, Err(SignatureError::Missing)),
            ("empty", Some(String::new()), BODY, KEY, Err(SignatureError::Malformed)),
            ("garbage", Some("garbage".into()), BODY, KEY, Err(SignatureError::Malformed)),
            ("no t", Some(format!("v1={digest}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("no v1", Some(format!("t={NOW}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("two t", Some(format!("t={NOW},t={NOW},v1={digest}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("t not a number", Some(format!("t=soon,v1={digest}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("negative t", Some(format!("t=-{NOW},v1={digest}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("huge t", Some(format!("t=99999999999999999999,v1={digest}")), BODY, KEY, Err(SignatureError::Malformed)),
            ("v1 not hex", Some(format!("t={NOW},v1=zz{}", &digest[2..])), BODY, KEY, Err(SignatureError::Malformed)),
            ("v1 too short", Some(format!("t={NOW},v1={}", &digest[..62])), BODY, KEY, Err(SignatureError::Malformed)),
            (
                "v1 base64",
                Some(format!("t={NOW},v1=q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")),
                BODY,
                KEY,
                Err(SignatureError::Malformed),
            ),
            ("too long", Some(format!("t={NOW},v1={digest},{}", "x=y,".repeat(200))), BODY, KEY, Err(SignatureError::Malformed)),
        ];
        for (name, header, body, key, expected) in cases {
            assert_eq!(verify_signature(header.as_deref(), body, key, NOW), expected, "{name}");
        }
    }

    #[test]
    fn matches_an_independently_computed_digest() {
        // HMAC-SHA256("key", "1.{}") computed independently: `printf '1.{}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(hex::encode(sign(b"key", "1", b"{}")), "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }
}
