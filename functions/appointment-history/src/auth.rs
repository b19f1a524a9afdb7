//! Bearer tokens: HS256 JWTs signed by the CRM with a shared secret. Required claims: `sub` (who
//! calls), `exp`, and `clientIds` (the workspaces the caller may see). Everything that is wrong with
//! a token is the same 401; the reason is logged (never the token).
//!
//! Beyond what jsonwebtoken checks: `exp` at most `JWT_MAX_LIFETIME_SECONDS` from now (a token
//! valid until 2^64-1 is not a bearer token but a password); `nbf` and `iat`, when present, are
//! numbers (jsonwebtoken skips an `nbf` it cannot read); a header with `crit` is refused, since
//! this service understands no JWS extension (RFC 7515 §4.1.11); and the header and the claims
//! are read strictly ([`shared::json`]: a key given twice is refused).

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AppConfig;
use crate::problem::{Kind, Problem};

/// Clock skew tolerated on `exp` (and `nbf` when present), in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(rename = "clientIds")]
    pub client_ids: Vec<String>,
}

impl Claims {
    /// Whether the caller may see a lead of this workspace.
    pub fn may_see(&self, client_id: &str) -> bool {
        self.client_ids.iter().any(|c| c == client_id)
    }
}

pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
    max_lifetime_seconds: u64,
}

impl Authenticator {
    pub fn new(config: &AppConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        match &config.jwt_issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &config.jwt_audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Authenticator {
            key: DecodingKey::from_secret(config.jwt_secret.expose().as_bytes()),
            validation,
            max_lifetime_seconds: config.jwt_max_lifetime_seconds,
        }
    }

    /// The caller's claims, or the one 401 answer.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Claims, Problem> {
        let unauthorized = |reason: &str| {
            tracing::info!(reason, "rejected bearer token");
            Problem::new(Kind::Unauthorized)
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(unauthorized("missing or repeated Authorization header"));
        };
        let value = value.to_str().map_err(|_| unauthorized("Authorization header is not text"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthorized("not a bearer token")),
        };
        check_header(token).map_err(unauthorized)?;
        // The claims strictly (a key given twice has no single meaning), then as `Claims`.
        let data = decode::<shared::json::Strict>(token, &self.key, &self.validation).map_err(|e| unauthorized(rejection(e.kind())))?;
        let claims = data.claims.0;
        for time in ["nbf", "iat"] {
            if claims.get(time).is_some_and(|t| !t.is_u64()) {
                return Err(unauthorized("nbf or iat is not a number"));
            }
        }
        let claims: Claims = serde_json::from_value(claims).map_err(|_| unauthorized("unreadable claims"))?;
        if claims.sub.trim().is_empty() {
            return Err(unauthorized("empty sub"));
        }
        let latest_exp = jsonwebtoken::get_current_timestamp().saturating_add(self.max_lifetime_seconds + LEEWAY_SECONDS);
        if claims.exp > latest_exp {
            return Err(unauthorized("exp beyond the longest lifetime"));
        }
        Ok(claims)
    }
}

/// The token's header, read strictly: no `crit` (RFC 7515 §4.1.11: a recipient that does not
/// understand a listed extension must refuse the token, and this one understands none), and no key
/// given twice. The signature is checked afterwards, by `decode`.
fn check_header(token: &str) -> Result<(), &'static str> {
    let segment = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).map_err(|_| "malformed token")?;
    let header = shared::json::parse(&bytes).map_err(|_| "unreadable header")?;
    match header.get("crit") {
        Some(_) => Err("crit header names an extension this service does not understand"),
        None => Ok(()),
    }
}

/// Signs claims with a secret (tests, benches and `events/` use it to make tokens).
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), claims, &jsonwebtoken::EncodingKey::from_secret(secret))
        .expect("HS256 signing cannot fail")
}

/// Why a token was refused, as a fixed label: the library's own errors for malformed claims
/// (JSON, base64, UTF-8) quote the token's content, which may hold an email.
fn rejection(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match kind {
        InvalidToken => "malformed token",
        InvalidSignature => "bad signature",
        ExpiredSignature => "expired",
        ImmatureSignature => "not yet valid",
        InvalidIssuer => "wrong issuer",
        InvalidAudience => "wrong audience",
        InvalidAlgorithm | InvalidAlgorithmName => "wrong algorithm",
        MissingRequiredClaim(_) => "missing claim",
        Json(_) | Base64(_) | Utf8(_) => "unreadable claims",
        _ => "invalid token",
    }
}
