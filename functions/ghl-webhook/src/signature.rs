//! GHL's webhook signature ("Security and privacy" in docs/architecture.md): `x-ghl-signature` is
//! the base64 Ed25519 signature of the raw body under GHL's private key; we hold the public key. The legacy RSA `x-wh-signature` was
//! retired on 2026-07-01 and is refused. Pure functions over the raw bytes: the body is never
//! re-serialized before checking.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};

/// The header GHL signs deliveries with (Ed25519).
pub const HEADER: &str = "x-ghl-signature";
/// The retired RSA-SHA256 header. A delivery signed only with it is refused.
pub const LEGACY_HEADER: &str = "x-wh-signature";

/// GHL's published Ed25519 webhook public key (SubjectPublicKeyInfo, PEM), as given in GHL's
/// webhook integration guide (marketplace.gohighlevel.com/docs/webhook/WebhookIntegrationGuide).
/// The SAM template's default for `GHL_WEBHOOK_PUBLIC_KEY`; kept here so that tests pin its form.
pub const GHL_PUBLISHED_KEY_PEM: &str =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=\n-----END PUBLIC KEY-----";

/// Longest header accepted: a 64-byte signature is 88 base64 characters.
const MAX_HEADER_LEN: usize = 256;

/// Why a delivery's signature was refused. Every case answers 401; the distinction is for logs
/// and the problem body's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No `x-ghl-signature` header (and no legacy one either).
    Missing,
    /// Only the retired RSA `x-wh-signature` header.
    LegacyRefused,
    /// Not base64 of 64 bytes.
    Malformed,
    /// A well-formed signature that does not verify: wrong key, tampered body, forged.
    Mismatch,
}

impl SignatureError {
    /// Safe to log: says nothing about the key or the body.
    pub fn describe(self) -> &'static str {
        match self {
            SignatureError::Missing => "the x-ghl-signature header is missing",
            SignatureError::LegacyRefused => "only the retired x-wh-signature (RSA) header was sent",
            SignatureError::Malformed => "the x-ghl-signature header is not a base64 Ed25519 signature",
            SignatureError::Mismatch => "the signature does not match the body",
        }
    }
}

/// Why `GHL_WEBHOOK_PUBLIC_KEY` could not be read. The text never quotes the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Reads GHL's public key in any of the forms it is handed around in: PEM (SubjectPublicKeyInfo),
/// the PEM's body alone (base64 of the 44-byte DER), the raw 32-byte key in base64, or in hex.
/// Surrounding quotes and `\n` written as two characters (environment editors) are tolerated.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let text = text.trim().trim_matches(|c| c == '"' || c == '\'').replace("\\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(KeyError("the public key is empty"));
    }
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text).map_err(|_| KeyError("the PEM is not an Ed25519 public key"));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() == 2 * PUBLIC_KEY_LENGTH && compact.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut raw = [0u8; PUBLIC_KEY_LENGTH];
        hex::decode_to_slice(&compact, &mut raw).map_err(|_| KeyError("the hex key does not decode"))?;
        return VerifyingKey::from_bytes(&raw).map_err(|_| KeyError("the hex key is not an Ed25519 point"));
    }
    let bytes = STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| KeyError("the key is neither PEM, base64 nor hex"))?;
    match bytes.len() {
        PUBLIC_KEY_LENGTH => {
            let raw: [u8; PUBLIC_KEY_LENGTH] = bytes.try_into().expect("length checked");
            VerifyingKey::from_bytes(&raw).map_err(|_| KeyError("the base64 key is not an Ed25519 point"))
        }
        _ => {
            VerifyingKey::from_public_key_der(&bytes).map_err(|_| KeyError("the base64 key is neither 32 raw bytes nor an Ed25519 DER key"))
        }
    }
}

/// Checks a delivery: `signature` is the `x-ghl-signature` value (`None` when absent), `legacy`
/// whether an `x-wh-signature` header came instead.
pub fn verify(signature: Option<&str>, legacy: bool, raw_body: &[u8], key: &VerifyingKey) -> Result<(), SignatureError> {
    let text = match signature.map(str::trim) {
        Some(t) if !t.is_empty() => t,
        _ if legacy => return Err(SignatureError::LegacyRefused),
        _ => return Err(SignatureError::Missing),
    };
    if text.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let bytes = STANDARD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).map_err(|_| SignatureError::Malformed)?;
    let bytes: [u8; SIGNATURE_LENGTH] = bytes.try_into().map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::from_bytes(&bytes);
    // `verify_strict` refuses the malleable and small-order forms plain `verify` lets through.
    key.verify_strict(raw_body, &signature).map_err(|_| SignatureError::Mismatch)?;
    debug_assert!(key.verify(raw_body, &signature).is_ok());
    Ok(())
}

/// The `x-ghl-signature` value GHL would send for `raw_body` (tests, benches, local signing).
pub fn sign(key: &ed25519_dalek::SigningKey, raw_body: &[u8]) -> String {
    use ed25519_dalek::Signer;
    STANDARD.encode(key.sign(raw_body).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    const BODY: &[u8] = br#"{"type":"AppointmentCreate","locationId":"loc_1"}"#;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table reads best inline
    fn verifies_as_a_table() {
        let k = key();
        let public = k.verifying_key();
        let good = sign(&k, BODY);
        let other = sign(&SigningKey::from_bytes(&[8u8; 32]), BODY);
        let unpadded = good.trim_end_matches('=').to_string();
        let mut flipped = STANDARD.decode(&good).unwrap();
        flipped[10] ^= 1;
        let cases: Vec<(&str, Option<String>, bool, &[u8], Result<(), SignatureError>)> = vec![
            ("good", Some(good.clone()), false, BODY, Ok(())),
            ("good, without padding", Some(unpadded), false, BODY, Ok(())),
            ("good, with spaces around", Some(format!("  {good} ")), false, BODY, Ok(())),
            ("good, legacy header too", Some(good.clone()), true, BODY, Ok(())),
            (
                "tampered body",
                Some(good.clone()),
                false,
                br#"{"type":"AppointmentCreate","locationId":"loc_2"}"#,
                Err(SignatureError::Mismatch),
            ),
            (
                "body with a space added",
                Some(good.clone()),
                false,
                br#"{"type":"AppointmentCreate", "locationId":"loc_1"}"#,
                Err(SignatureError::Mismatch),
            ),
            ("empty body", Some(good.clone()), false, b"", Err(SignatureError::Mismatch)),
            ("forged: another key", Some(other), false, BODY, Err(SignatureError::Mismatch)),
            ("a flipped bit", Some(STANDARD.encode(&flipped)), false, BODY, Err(SignatureError::Mismatch)),
            ("all zeros", Some(STANDARD.encode([0u8; 64])), false, BODY, Err(SignatureError::Mismatch)),
            ("missing", None, false, BODY, Err(SignatureError::Missing)),
            ("empty", Some(String::new()), false, BODY, Err(SignatureError::Missing)),
            ("legacy only", None, true, BODY, Err(SignatureError::LegacyRefused)),
            ("not base64", Some("!!!".into()), false, BODY, Err(SignatureError::Malformed)),
            ("too short", Some(STANDARD.encode([1u8; 63])), false, BODY, Err(SignatureError::Malformed)),
            ("too long", Some(STANDARD.encode([1u8; 65])), false, BODY, Err(SignatureError::Malformed)),
            ("hex instead of base64", Some(hex::encode(STANDARD.decode(&good).unwrap())), false, BODY, Err(SignatureError::Malformed)),
            ("huge", Some("A".repeat(10_000)), false, BODY, Err(SignatureError::Malformed)),
        ];
        for (name, header, legacy, body, expected) in cases {
            assert_eq!(verify(header.as_deref(), legacy, body, &public), expected, "{name}");
        }
    }

    #[test]
    fn reads_the_key_in_every_form() {
        let public = key().verifying_key();
        let raw = public.to_bytes();
        let der = {
            // SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte prefix and the 32 bytes.
            let mut d = hex::decode("302a300506032b6570032100").unwrap();
            d.extend_from_slice(&raw);
            d
        };
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&der));
        let forms = [
            pem.clone(),
            pem.replace('\n', "\\n"),
            format!("\"{pem}\""),
            STANDARD.encode(&der),
            STANDARD.encode(raw),
            STANDARD.encode(raw).trim_end_matches('=').to_string(),
            hex::encode(raw),
            hex::encode_upper(raw),
        ];
        for form in forms {
            assert_eq!(parse_public_key(&form), Ok(public), "{form}");
        }
        for bad in [
            "",
            "   ",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            &hex::encode([1u8; 31]),
            &STANDARD.encode([1u8; 31]),
        ] {
            assert!(parse_public_key(bad).is_err(), "{bad:?}");
        }
        // An RSA key (the retired scheme's) is refused, not half-read.
        let rsa = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----";
        assert!(parse_public_key(rsa).is_err());
    }

    #[test]
    fn the_published_key_reads() {
        let key = parse_public_key(GHL_PUBLISHED_KEY_PEM).unwrap();
        assert_eq!(hex::encode(key.to_bytes()), "8b61d1d6cacbe28d7c3bc0516bb815258ec6edbba96cddc7f40c09ac708388e8");
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1: the empty message.
        let public = parse_public_key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
        let sig = STANDARD.encode(
            hex::decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
                .unwrap(),
        );
        assert_eq!(verify(Some(&sig), false, b"", &public), Ok(()));
        assert_eq!(verify(Some(&sig), false, b"x", &public), Err(SignatureError::Mismatch));
    }
}
