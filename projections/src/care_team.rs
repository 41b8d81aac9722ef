//! Care-team membership with validity intervals, both times kept: when a spell began and
//! ended in business time, and when each was recorded, so the team can be read as of any T.

use chrono::{DateTime, Utc};
use kasane_domain::vocab::TeamRole;
use kasane_domain::{AgencyId, Event, MemberId, ResidentId, Viewer, case_basis};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::codec::{from_name, micros, name_of, time, uuid};
use crate::{Envelope, Projection, ProjectionError};

/// The projection behind [`team`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CareTeam;

const TABLES: &[&str] = &["care_team"];

impl Projection for CareTeam {
    fn name(&self) -> &'static str {
        "care_team"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS care_team (
                added_position INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                team_role TEXT NOT NULL,
                from_at INTEGER NOT NULL,
                added_recorded_at INTEGER NOT NULL,
                until_at INTEGER,
                removed_position INTEGER,
                removed_recorded_at INTEGER
            );
            CREATE INDEX IF NOT EXISTS care_team_by_resident ON care_team (tenant, resident, member);
            CREATE INDEX IF NOT EXISTS care_team_by_member ON care_team (tenant, member, resident);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        match env.event {
            Event::CareTeamMemberAdded(e) => {
                conn.prepare_cached(
                    "INSERT INTO care_team (added_position, tenant, resident, member, agency, \
                     team_role, from_at, added_recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    env.position as i64,
                    env.tenant,
                    e.resident_id.0.as_bytes(),
                    e.member_id.0.as_bytes(),
                    e.agency_id.0.as_bytes(),
                    name_of(&e.team_role),
                    micros(env.occurred_at),
                    micros(env.recorded_at),
                ])?;
            }
            Event::CareTeamMemberRemoved(e) => {
                conn.prepare_cached(
                    "UPDATE care_team SET until_at = ?4, removed_position = ?5, removed_recorded_at = ?6 \
                     WHERE tenant = ?1 AND resident = ?2 AND member = ?3 AND removed_position IS NULL",
                )?
                .execute(params![
                    env.tenant,
                    e.resident_id.0.as_bytes(),
                    e.member_id.0.as_bytes(),
                    micros(env.occurred_at),
                    env.position as i64,
                    micros(env.recorded_at),
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// One spell of team membership as known at the query's instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeamSpellView {
    /// The member.
    pub member_id: MemberId,
    /// The agency they served for.
    pub agency_id: AgencyId,
    /// Lead or member.
    pub team_role: TeamRole,
    /// Business time the spell began.
    pub from: DateTime<Utc>,
    /// When the addition was recorded.
    pub added_recorded_at: DateTime<Utc>,
    /// Business time the spell ended, if its end was recorded by the instant.
    pub until: Option<DateTime<Utc>>,
    /// When the removal was recorded, under the same condition.
    pub removed_recorded_at: Option<DateTime<Utc>>,
    /// True when the spell covers the instant itself.
    pub active: bool,
}

/// Every team spell of `resident` known at `at` (oldest first), for a viewer who may see
/// the case file at `at`.
pub fn team(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    at: DateTime<Utc>,
) -> Result<Vec<TeamSpellView>, ProjectionError> {
    let case = crate::case_facts::load(conn, tenant, resident, at)?;
    case_basis(&case, viewer, at).map_err(ProjectionError::Refused)?;
    let at_us = micros(at);
    let mut stmt = conn.prepare_cached(
        "SELECT member, agency, team_role, from_at, added_recorded_at, until_at, removed_recorded_at \
         FROM care_team WHERE tenant = ?1 AND resident = ?2 AND added_recorded_at <= ?3 \
         ORDER BY added_position",
    )?;
    let mut rows = stmt.query(params![tenant, resident.0.as_bytes(), at_us])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let removed: Option<i64> = r.get(6)?;
        let (until, removed_recorded_at) = match removed {
            Some(rec) if rec <= at_us => (Some(time(r.get(5)?)?), Some(time(rec)?)),
            _ => (None, None),
        };
        let from = time(r.get(3)?)?;
        out.push(TeamSpellView {
            member_id: MemberId(uuid(&r.get::<_, Vec<u8>>(0)?)?),
            agency_id: AgencyId(uuid(&r.get::<_, Vec<u8>>(1)?)?),
            team_role: from_name(&r.get::<_, String>(2)?)?,
            from,
            added_recorded_at: time(r.get(4)?)?,
            until,
            removed_recorded_at,
            active: from <= at && until.is_none_or(|u| at < u),
        });
    }
    Ok(out)
}

/// Residents whose care team `member` is on now (open spells), for "my residents" lists.
pub fn residents_of(
    conn: &Connection,
    tenant: &str,
    member: MemberId,
) -> Result<Vec<ResidentId>, ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT resident FROM care_team WHERE tenant = ?1 AND member = ?2 \
         AND removed_position IS NULL ORDER BY resident",
    )?;
    let rows = stmt.query_map(params![tenant, member.0.as_bytes()], |r| {
        r.get::<_, Vec<u8>>(0)
    })?;
    rows.map(|b| Ok(ResidentId(uuid(&b?)?))).collect()
}
