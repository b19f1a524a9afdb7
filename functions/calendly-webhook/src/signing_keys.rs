//! The clients' Calendly signing keys, read from `Client."calendlyWebhookSigningKey"` and kept in
//! the warm process for a short while: steady-state deliveries cost no extra round trip, and a
//! rotated key (or a new client) takes effect within [`DEFAULT_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::{Error, Store};

/// How long a looked-up key (or the absence of a client) is trusted.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Entries kept at most; a flood of made-up client ids cannot grow the process without bound.
const MAX_ENTRIES: usize = 4096;

const SELECT_KEY: &str = r#"SELECT "calendlyWebhookSigningKey" FROM "Client" WHERE "id" = $1"#;

/// What the database says about a client.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientKey {
    UnknownClient,
    /// The client exists but has no (or an empty) signing key.
    NoKey,
    Key(Arc<str>),
}

impl std::fmt::Debug for ClientKey {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::UnknownClient => f.write_str("UnknownClient"),
            ClientKey::NoKey => f.write_str("NoKey"),
            ClientKey::Key(_) => f.write_str("Key(..)"),
        }
    }
}

pub struct SigningKeys {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, ClientKey)>>,
}

impl SigningKeys {
    pub fn new(ttl: Duration) -> Self {
        SigningKeys { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The client's key: from the cache while fresh, else from the database (one round trip).
    pub async fn get(&self, store: &Store, client_id: &str) -> Result<ClientKey, Error> {
        if let Some(found) = self.cached(client_id, Instant::now()) {
            return Ok(found);
        }
        let found = lookup(store, client_id).await?;
        self.remember(client_id, found.clone(), Instant::now());
        Ok(found)
    }

    fn cached(&self, client_id: &str, now: Instant) -> Option<ClientKey> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(client_id).filter(|(at, _)| now.duration_since(*at) < self.ttl).map(|(_, k)| k.clone())
    }

    fn remember(&self, client_id: &str, key: ClientKey, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(client_id) {
            entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(client_id.to_string(), (now, key));
    }
}

async fn lookup(store: &Store, client_id: &str) -> Result<ClientKey, Error> {
    let mut conn = store.conn().await?;
    let statement = conn.statement(SELECT_KEY).await?;
    conn.count_round_trip();
    let row = conn.client.query_opt(&statement, &[&client_id]).await?;
    Ok(match row {
        None => ClientKey::UnknownClient,
        Some(row) => match row.try_get::<_, Option<String>>(0)? {
            Some(key) if !key.trim().is_empty() => ClientKey::Key(key.into()),
            _ => ClientKey::NoKey,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_stay_bounded() {
        let keys = SigningKeys::new(Duration::from_secs(60));
        let t0 = Instant::now();
        keys.remember("c1", ClientKey::Key("k".into()), t0);
        assert_eq!(keys.cached("c1", t0 + Duration::from_secs(59)), Some(ClientKey::Key("k".into())));
        assert_eq!(keys.cached("c1", t0 + Duration::from_secs(60)), None);
        assert_eq!(keys.cached("c2", t0), None);
        for i in 0..(MAX_ENTRIES + 10) {
            keys.remember(&format!("made_up_{i}"), ClientKey::UnknownClient, t0);
        }
        assert!(keys.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert_eq!(format!("{:?}", ClientKey::Key("secret".into())), "Key(..)");
    }
}
