//! Which lead a delivery is about: the client whose `ghlLocationId` is the body's `locationId`,
//! and its lead whose `ghlContactId` is the appointment's `contactId`. Usually the write path
//! resolves this itself (`LeadRef::GhlContact`); this lookup serves the other cases.

use chrono_tz::Tz;
use shared::{Error, Store};

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

/// The client of the location and its lead with the contact, in one round trip. The webhook asks
/// only when it must: for the client's time zone (times without an offset), or to say why a
/// delivery found no lead.
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
