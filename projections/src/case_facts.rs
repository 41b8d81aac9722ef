//! The facts the sharing rule needs about each case file (team spells, consents, meetings,
//! closures, break-glass grants), kept per resident so that any query can rebuild the rule's
//! input as it was known at an instant and ask the domain's one sharing function.
//!
//! Rows hold no personal data: personal values are replaced by `{"$erased": true}` before
//! they are stored (the rule never looks at them).

use crate::codec::{micros, time};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::{CaseFile, Event, ResidentId};
use rusqlite::{Connection, params};

/// The projection that keeps [`CaseFile`] facts for the sharing rule.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaseFacts;

const TABLES: &[&str] = &["case_facts"];

impl Projection for CaseFacts {
    fn name(&self) -> &'static str {
        "case_facts"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS case_facts (
                position INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                recorded_at INTEGER NOT NULL,
                occurred_at INTEGER NOT NULL,
                event_type TEXT NOT NULL,
                schema_version INTEGER NOT NULL,
                payload TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS case_facts_by_resident
                ON case_facts (tenant, resident, position);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let resident = match env.event {
            Event::CareTeamMemberAdded(e) => e.resident_id,
            Event::CareTeamMemberRemoved(e) => e.resident_id,
            Event::ConsentGranted(e) => e.resident_id,
            Event::ConsentWithdrawn(e) => e.resident_id,
            Event::SupportMeetingRecorded(e) => e.resident_id,
            Event::CaseClosed(e) => e.resident_id,
            Event::CaseReopened(e) => e.resident_id,
            Event::BreakGlassInvoked(e) => e.resident_id,
            _ => return Ok(()),
        };
        let mut payload = env.event.to_payload();
        strip_personal(&mut payload);
        conn.prepare_cached(
            "INSERT INTO case_facts (position, tenant, resident, recorded_at, occurred_at, \
             event_type, schema_version, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            env.position as i64,
            env.tenant,
            resident.0.as_bytes(),
            micros(env.recorded_at),
            micros(env.occurred_at),
            env.event.event_type(),
            env.event.schema_version(),
            serde_json::to_string(&payload)?,
        ])?;
        Ok(())
    }
}

/// Replaces every `{"$personal": v}` in `value` by `{"$erased": true}`.
pub fn strip_personal(value: &mut serde_json::Value) {
    use kasane_domain::personal::{ERASED_KEY, PERSONAL_KEY};
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key(PERSONAL_KEY) {
                map.clear();
                map.insert(ERASED_KEY.into(), serde_json::Value::Bool(true));
            } else {
                map.values_mut().for_each(strip_personal);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_personal),
        _ => {}
    }
}

/// The sharing-relevant part of `resident`'s case file as known at `at`: every fact recorded
/// at or before `at`, folded by the domain's own `evolve`. Notes are not included; pass each
/// note's [`kasane_domain::NoteFacts`] to [`kasane_domain::note_basis`] together with this.
pub fn load(
    conn: &Connection,
    tenant: &str,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<CaseFile, ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT position, occurred_at, event_type, schema_version, payload FROM case_facts \
         WHERE tenant = ?1 AND resident = ?2 AND recorded_at <= ?3 ORDER BY position",
    )?;
    let mut rows = stmt.query(params![tenant, resident.0.as_bytes(), micros(at)])?;
    let mut case = CaseFile::default();
    while let Some(row) = rows.next()? {
        let position: i64 = row.get(0)?;
        let occurred_at = time(row.get(1)?)?;
        let event_type: String = row.get(2)?;
        let schema_version: u16 = row.get(3)?;
        let payload: String = row.get(4)?;
        let event =
            Event::from_payload(&event_type, schema_version, serde_json::from_str(&payload)?)
                .map_err(|e| ProjectionError::Decode {
                    position: position as u64,
                    detail: e.to_string(),
                })?;
        case.evolve(&event, occurred_at);
    }
    Ok(case)
}
