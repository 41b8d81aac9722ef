//! Consents with their validity: granted (effective from `valid_from`), lapsing at
//! `valid_until`, withdrawn (effective at the withdrawal's `effective_at`); business times
//! and recorded-at times both kept, so the state can be read as of any T.

use chrono::{DateTime, Utc};
use kasane_domain::vocab::{ConsentMethod, InfoCategory};
use kasane_domain::{AgencyId, ConsentId, Event, MemberId, ResidentId, Viewer, case_basis};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::codec::{from_json, from_name, json, micros, name_of, time, uuid};
use crate::{Envelope, Projection, ProjectionError};

/// The projection behind [`consents`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Consents;

const TABLES: &[&str] = &["consents"];

impl Projection for Consents {
    fn name(&self) -> &'static str {
        "consents"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS consents (
                consent_id BLOB PRIMARY KEY,
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                agencies TEXT NOT NULL,
                categories TEXT NOT NULL,
                purpose TEXT NOT NULL,
                method TEXT NOT NULL,
                obtained_by BLOB NOT NULL,
                valid_from INTEGER NOT NULL,
                valid_until INTEGER,
                document_ref TEXT,
                granted_position INTEGER NOT NULL,
                granted_recorded_at INTEGER NOT NULL,
                withdrawn_effective_at INTEGER,
                withdrawn_recorded_at INTEGER,
                withdrawal_reason TEXT
            );
            CREATE INDEX IF NOT EXISTS consents_by_resident ON consents (tenant, resident, granted_position);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        match env.event {
            Event::ConsentGranted(e) => {
                conn.prepare_cached(
                    "INSERT INTO consents (consent_id, tenant, resident, agencies, categories, purpose, \
                     method, obtained_by, valid_from, valid_until, document_ref, granted_position, \
                     granted_recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![
                    e.consent_id.0.as_bytes(),
                    env.tenant,
                    e.resident_id.0.as_bytes(),
                    json(&e.agencies)?,
                    json(&e.categories)?,
                    e.purpose,
                    name_of(&e.method),
                    e.obtained_by.0.as_bytes(),
                    micros(e.valid_from),
                    e.valid_until.map(micros),
                    e.document_ref,
                    env.position as i64,
                    micros(env.recorded_at),
                ])?;
            }
            Event::ConsentWithdrawn(e) => {
                conn.prepare_cached(
                    "UPDATE consents SET withdrawn_effective_at = ?2, withdrawn_recorded_at = ?3, \
                     withdrawal_reason = ?4 WHERE consent_id = ?1",
                )?
                .execute(params![
                    e.consent_id.0.as_bytes(),
                    micros(e.effective_at),
                    micros(env.recorded_at),
                    e.reason,
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where a consent stands at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Granted, but `valid_from` is still ahead.
    NotYetValid,
    /// In force.
    Active,
    /// Ended by its `valid_until`.
    Lapsed,
    /// Withdrawn.
    Withdrawn,
}

/// A consent as known at the query's instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    /// The consent.
    pub consent_id: ConsentId,
    /// Agencies it lets information go to.
    pub agencies: Vec<AgencyId>,
    /// Information categories it covers.
    pub categories: Vec<InfoCategory>,
    /// What for.
    pub purpose: String,
    /// How it was obtained.
    pub method: ConsentMethod,
    /// Who obtained it.
    pub obtained_by: MemberId,
    /// Effective from.
    pub valid_from: DateTime<Utc>,
    /// Lapses at (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
    /// Reference to the signed document.
    pub document_ref: Option<String>,
    /// When the grant was recorded.
    pub granted_recorded_at: DateTime<Utc>,
    /// Effective time of a withdrawal recorded by the instant.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// When that withdrawal was recorded.
    pub withdrawn_recorded_at: Option<DateTime<Utc>>,
    /// Why it was withdrawn.
    pub withdrawal_reason: Option<String>,
    /// Its state at the instant.
    pub status: ConsentStatus,
}

/// Every consent of `resident` known at `at` (in grant order), for a viewer who may see the
/// case file at `at`.
pub fn consents(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<Vec<ConsentView>, ProjectionError> {
    let case = crate::case_facts::load(conn, tenant, resident, at)?;
    case_basis(&case, viewer, at).map_err(ProjectionError::Refused)?;
    let at_us = micros(at);
    let mut stmt = conn.prepare_cached(
        "SELECT consent_id, agencies, categories, purpose, method, obtained_by, valid_from, \
         valid_until, document_ref, granted_recorded_at, withdrawn_effective_at, \
         withdrawn_recorded_at, withdrawal_reason FROM consents \
         WHERE tenant = ?1 AND resident = ?2 AND granted_recorded_at <= ?3 ORDER BY granted_position",
    )?;
    let mut rows = stmt.query(params![tenant, resident.0.as_bytes(), at_us])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let withdrawn_recorded: Option<i64> = r.get(11)?;
        let known_withdrawal = withdrawn_recorded.is_some_and(|w| w <= at_us);
        let (withdrawn_at, withdrawn_recorded_at, withdrawal_reason) = if known_withdrawal {
            (
                r.get::<_, Option<i64>>(10)?.map(time).transpose()?,
                withdrawn_recorded.map(time).transpose()?,
                r.get(12)?,
            )
        } else {
            (None, None, None)
        };
        let valid_from = time(r.get(6)?)?;
        let valid_until = r.get::<_, Option<i64>>(7)?.map(time).transpose()?;
        let status = if withdrawn_at.is_some_and(|w| w <= at) {
            ConsentStatus::Withdrawn
        } else if valid_until.is_some_and(|u| u <= at) {
            ConsentStatus::Lapsed
        } else if at < valid_from {
            ConsentStatus::NotYetValid
        } else {
            ConsentStatus::Active
        };
        out.push(ConsentView {
            consent_id: ConsentId(uuid(&r.get::<_, Vec<u8>>(0)?)?),
            agencies: from_json(&r.get::<_, String>(1)?)?,
            categories: from_json(&r.get::<_, String>(2)?)?,
            purpose: r.get(3)?,
            method: from_name(&r.get::<_, String>(4)?)?,
            obtained_by: MemberId(uuid(&r.get::<_, Vec<u8>>(5)?)?),
            valid_from,
            valid_until,
            document_ref: r.get(8)?,
            granted_recorded_at: time(r.get(9)?)?,
            withdrawn_at,
            withdrawn_recorded_at,
            withdrawal_reason,
            status,
        });
    }
    Ok(out)
}
