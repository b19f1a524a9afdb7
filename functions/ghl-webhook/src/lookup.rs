//! Which lead a delivery is about: the client whose `ghlLocationId` is the body's `locationId`,
//! and its lead whose `ghlContactId` is the appointment's `contactId`. One round trip, remembered
//! for a minute by the warm process: a contact's create, move and cancel arrive close together, and
//! the lookup would otherwise cost as much as the write itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use shared::{Error, Store};

/// How long a found lead is remembered. A lead deleted in the meantime is answered "ignored" by
/// the write path (it finds no lead); a contact moved to another lead reaches it after this.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Entries kept at most; when full, the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

/// Several clients should never share a location; if they do, one with the contact wins, then the
/// lowest id. Several leads of a client with one contact: the most recently updated, then the
/// lowest id (the write path's rule for an email matching several leads).
const SELECT_TARGET: &str = r#"SELECT c."id", c."timezone", l."id"
  FROM "Client" c
  LEFT JOIN LATERAL (SELECT "id" FROM "Lead"
                      WHERE "clientId" = c."id" AND "ghlContactId" = $2
                      ORDER BY "updatedAt" DESC, "id" LIMIT 1) l ON true
 WHERE c."ghlLocationId" = $1
 ORDER BY (l."id" IS NULL), c."id"
 LIMIT 1"#;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    UnknownLocation,
    NoLead {
        client_id: String,
    },
    /// `timezone`: the client's IANA zone, `None` when missing or unknown.
    Lead {
        client_id: String,
        lead_id: String,
        timezone: Option<Tz>,
    },
}

/// Found leads by (location, contact). Only found leads are remembered: a lead created in the CRM
/// is seen by the next delivery.
#[derive(Default)]
pub struct LeadCache {
    entries: Mutex<HashMap<(String, String), (Target, Instant)>>,
}

impl LeadCache {
    fn get(&self, location_id: &str, contact_id: &str) -> Option<Target> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (target, at) = entries.get(&(location_id.to_string(), contact_id.to_string()))?;
        (at.elapsed() < CACHE_TTL).then(|| target.clone())
    }

    fn put(&self, location_id: &str, contact_id: &str, target: &Target) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert((location_id.to_string(), contact_id.to_string()), (target.clone(), Instant::now()));
    }
}

/// The delivery's target, from the cache or the database.
pub async fn cached_target(cache: &LeadCache, store: &Store, location_id: &str, contact_id: &str) -> Result<Target, Error> {
    if let Some(hit) = cache.get(location_id, contact_id) {
        return Ok(hit);
    }
    let found = target(store, location_id, contact_id).await?;
    if matches!(found, Target::Lead { .. }) {
        cache.put(location_id, contact_id, &found);
    }
    Ok(found)
}

pub async fn target(store: &Store, location_id: &str, contact_id: &str) -> Result<Target, Error> {
    let mut conn = store.conn().await?;
    let statement = conn.statement(SELECT_TARGET).await?;
    conn.count_round_trip();
    let row = conn.client.query_opt(&statement, &[&location_id, &contact_id]).await?;
    let Some(row) = row else { return Ok(Target::UnknownLocation) };
    let client_id: String = row.try_get(0)?;
    let timezone: Option<String> = row.try_get(1)?;
    Ok(match row.try_get::<_, Option<String>>(2)? {
        None => Target::NoLead { client_id },
        Some(lead_id) => Target::Lead { client_id, lead_id, timezone: timezone.and_then(|z| z.trim().parse::<Tz>().ok()) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_found_leads_only() {
        let cache = LeadCache::default();
        let lead = Target::Lead { client_id: "c".into(), lead_id: "l".into(), timezone: None };
        assert_eq!(cache.get("loc", "cnt"), None);
        cache.put("loc", "cnt", &lead);
        assert_eq!(cache.get("loc", "cnt"), Some(lead));
        assert_eq!(cache.get("loc", "other"), None);
        assert_eq!(cache.get("other", "cnt"), None);
    }
}
