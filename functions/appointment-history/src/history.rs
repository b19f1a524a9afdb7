//! Reading a lead's history: the lead's rollup and all its appointments (one statement, so one
//! snapshot), and on request its change log and its cancel / reschedule follow-up tasks, in ONE
//! round trip of pipelined prepared statements.
//!
//! All of a lead's rows are read, not one page of them: the primary appointment is chosen by the
//! rollup rule over the whole set (`shared::rollup::select_primary`, the one place the rule lives),
//! and reschedule successors are found among the lead's rows (links never cross leads: invariant
//! I5 in docs/architecture.md). A lead's history is small (tens of rows); `Appointment_leadId_idx` finds it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::try_join3;
use shared::appointment_columns;
use shared::write_path::{appointment_from_row, from_db, rollup_from_row};
use shared::{AppointmentRow, AppointmentSource, Result, Rollup, Store};

/// The lead and every appointment of it, in one statement so that the rollup and the rows come
/// from one snapshot: one row per appointment (the appointment's columns first, as
/// [`appointment_columns!`] lists them, then the lead's), or one row with null appointment columns
/// for a lead without appointments, or no row when there is no such lead.
///
/// The lead's columns after the appointment's: its workspace, the six rule-computed rollups and the
/// reconciler's last check.
pub const SELECT_LEAD_AND_APPOINTMENTS: &str = concat!(
    r#"SELECT a.*, l."clientId", l."appointmentStartAt", l."appointmentEndAt", l."appointmentStatus",
       l."appointmentCanceledAt", l."appointmentProvider"::text, l."appointmentSource", l."appointmentLastCheckedAt"
  FROM "Lead" l LEFT JOIN LATERAL (SELECT "#,
    appointment_columns!(),
    r#" FROM "Appointment" WHERE "leadId" = l."id") a ON true
 WHERE l."id" = $1"#
);

/// Where the lead's columns start in a row of [`SELECT_LEAD_AND_APPOINTMENTS`].
const LEAD_COLUMNS: usize = 24;

/// The lead's change log, oldest first (uuid v7 ids order events recorded in the same millisecond).
pub const SELECT_EVENTS: &str = r#"SELECT "appointmentId", "kind", "source"::text, "oldValue", "newValue", "providerAt", "recordedAt"
  FROM "AppointmentEvent" WHERE "leadId" = $1 ORDER BY "recordedAt", "id""#;

/// The lead's follow-up tasks about a canceled or rescheduled appointment (the ones the write path
/// creates), oldest first. Open or not is decided in Rust ([`task_is_open`]), not here.
pub const SELECT_TASKS: &str = r#"SELECT "id", "appointmentId", "type", "status", "isUrgent", "dueDate", "createdAt"
  FROM "FollowUpTask"
 WHERE "leadId" = $1 AND "appointmentId" IS NOT NULL AND "type" IN ('meeting-canceled', 'meeting-rescheduled')
 ORDER BY "createdAt", "id""#;

/// What to read beside the lead and its appointments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Include {
    /// The change log (`AppointmentEvent`).
    pub changes: bool,
    /// The open cancel / reschedule follow-up tasks (`FollowUpTask`).
    pub tasks: bool,
}

/// One `FollowUpTask` row about an appointment.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub appointment_id: String,
    pub task_type: String,
    pub status: String,
    pub is_urgent: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Task statuses that mean the task is finished. The CRM creates tasks `pending`; any status not
/// listed here (an unknown one included) counts as open, so that a cancellation is never hidden.
const CLOSED_TASK_STATUSES: [&str; 6] = ["completed", "done", "skipped", "canceled", "cancelled", "dismissed"];

/// Whether a follow-up task still needs doing.
pub fn task_is_open(status: &str) -> bool {
    let status = status.trim();
    !CLOSED_TASK_STATUSES.iter().any(|closed| status.eq_ignore_ascii_case(closed))
}

/// One `AppointmentEvent` row.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRow {
    pub kind: String,
    pub source: AppointmentSource,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub provider_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// What the API knows about one lead.
#[derive(Clone, Debug)]
pub struct LeadHistory {
    pub lead_id: String,
    pub client_id: String,
    pub rollup: Rollup,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub rows: Vec<AppointmentRow>,
    /// Change log per appointment id, when it was asked for.
    pub changes: Option<HashMap<String, Vec<ChangeRow>>>,
    /// Open cancel / reschedule follow-up tasks, oldest first, when they were asked for.
    pub tasks: Option<Vec<TaskRow>>,
}

impl LeadHistory {
    /// Ids of the appointments that replaced each appointment (its reschedule successors), sorted.
    pub fn successors(&self) -> HashMap<&str, Vec<&str>> {
        let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
        for row in &self.rows {
            if let Some(from) = &row.rescheduled_from_id {
                map.entry(from.as_str()).or_default().push(row.id.as_str());
            }
        }
        for ids in map.values_mut() {
            ids.sort_unstable();
        }
        map
    }

    /// The primary appointment by the rollup rule at `now`.
    pub fn primary(&self, now: DateTime<Utc>) -> Option<&AppointmentRow> {
        shared::rollup::select_primary(&self.rows, now)
    }
}

/// Reads a lead's history in one round trip (plus one to prepare the statements the first time a
/// connection is used). `None` when there is no such lead.
pub async fn load(store: &Store, lead_id: &str, include: Include) -> Result<Option<LeadHistory>> {
    let mut conn = store.conn().await?;
    // The tasks' statement is only prepared and sent when asked for: the plain timeline does the
    // same work as before it existed.
    if include.tasks {
        conn.prepare_all(&[SELECT_LEAD_AND_APPOINTMENTS, SELECT_EVENTS, SELECT_TASKS]).await?;
    } else {
        conn.prepare_all(&[SELECT_LEAD_AND_APPOINTMENTS, SELECT_EVENTS]).await?;
    }
    let rows_stmt = conn.prepared(SELECT_LEAD_AND_APPOINTMENTS)?;
    let events_stmt = conn.prepared(SELECT_EVENTS)?;
    let tasks_stmt = if include.tasks { Some(conn.prepared(SELECT_TASKS)?) } else { None };
    conn.count_round_trip();
    let client = &conn.client;
    let events = async {
        if include.changes {
            client.query(&events_stmt, &[&lead_id]).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let tasks = async {
        match &tasks_stmt {
            Some(stmt) => client.query(stmt, &[&lead_id]).await.map(Some),
            None => Ok(None),
        }
    };
    let (rows, events, tasks) = try_join3(client.query(&rows_stmt, &[&lead_id]), events, tasks).await?;
    let Some(lead) = rows.first() else { return Ok(None) };

    let rollup = rollup_from_row(lead, LEAD_COLUMNS + 1)?;
    let changes = match events {
        None => None,
        Some(events) => {
            let mut map: HashMap<String, Vec<ChangeRow>> = HashMap::new();
            for e in &events {
                map.entry(e.try_get(0)?).or_default().push(ChangeRow {
                    kind: e.try_get(1)?,
                    source: AppointmentSource::from_db(e.try_get(2)?)?,
                    old_value: e.try_get(3)?,
                    new_value: e.try_get(4)?,
                    provider_at: from_db(e.try_get(5)?),
                    recorded_at: e.try_get::<_, NaiveDateTime>(6)?.and_utc(),
                });
            }
            Some(map)
        }
    };
    let tasks = match tasks {
        None => None,
        Some(tasks) => {
            let mut open = Vec::with_capacity(tasks.len());
            for t in &tasks {
                let status: String = t.try_get(3)?;
                if task_is_open(&status) {
                    open.push(TaskRow {
                        id: t.try_get(0)?,
                        appointment_id: t.try_get(1)?,
                        task_type: t.try_get(2)?,
                        status,
                        is_urgent: t.try_get(4)?,
                        due_at: from_db(t.try_get(5)?),
                        created_at: t.try_get::<_, NaiveDateTime>(6)?.and_utc(),
                    });
                }
            }
            Some(open)
        }
    };
    Ok(Some(LeadHistory {
        lead_id: lead_id.to_string(),
        client_id: lead.try_get(LEAD_COLUMNS)?,
        rollup,
        last_checked_at: from_db(lead.try_get(LEAD_COLUMNS + 7)?),
        // A lead without appointments gives one row whose appointment columns are null.
        rows: rows
            .iter()
            .filter_map(|row| match row.try_get::<_, Option<&str>>(0) {
                Ok(Some(_)) => Some(appointment_from_row(row)),
                Ok(None) => None,
                Err(e) => Some(Err(e.into())),
            })
            .collect::<Result<Vec<_>>>()?,
        changes,
        tasks,
    }))
}

/// The workspace of a lead, or `None` when there is no such lead (one round trip).
pub async fn lead_client(store: &Store, lead_id: &str) -> Result<Option<String>> {
    const SQL: &str = r#"SELECT "clientId" FROM "Lead" WHERE "id" = $1"#;
    let mut conn = store.conn().await?;
    let stmt = conn.statement(SQL).await?;
    conn.count_round_trip();
    let row = conn.client.query_opt(&stmt, &[&lead_id]).await?;
    Ok(row.map(|r| r.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_task_statuses_as_a_table() {
        let cases = [
            ("pending", true),
            ("in_progress", true),
            ("something new", true),
            ("completed", false),
            ("Done", false),
            ("skipped", false),
            ("canceled", false),
            ("cancelled", false),
            (" dismissed ", false),
        ];
        shared::testing::assert_table(cases, |status| task_is_open(status));
    }
}
