//! The directory: agencies and their members, so listings and the write path's directory can
//! be read from a table instead of scanning the log.
//!
//! Member names and kana are personal (sealed with the member's key): the known value is
//! stored, NULL once erased. Each row keeps its stream version, which the write path needs as
//! the expected version of the next directory command.

use crate::codec::{from_json, from_name, json, micros, name_of, time, uuid};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::directory::{AgencyState, MemberState};
use kasane_domain::events::{AgencyRegistered, MemberEnrolled};
use kasane_domain::vocab::{AgencyKind, Profession, Role};
use kasane_domain::{AgencyFacts, AgencyId, Directory, Event, MemberFacts, MemberId, Personal};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use std::collections::HashMap;

/// The projection that keeps the agency and member directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectoryProjection;

const TABLES: &[&str] = &["directory_agencies", "directory_members"];

/// An agency as the directory lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgencyRecord {
    /// The agency.
    pub agency_id: AgencyId,
    /// Its name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: AgencyKind,
    /// Business time of the registration.
    pub registered_at: DateTime<Utc>,
    /// Version of the `agency-{id}` stream.
    pub version: u64,
}

/// A member as the directory lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberRecord {
    /// The member.
    pub member_id: MemberId,
    /// The agency they belong to.
    pub agency_id: AgencyId,
    /// Their name; `None` once erased.
    pub name: Option<String>,
    /// Reading of the name in katakana; `None` once erased.
    pub kana: Option<String>,
    /// Their profession.
    pub profession: Profession,
    /// What they may do.
    pub roles: Vec<Role>,
    /// False while suspended.
    pub active: bool,
    /// Business time of the enrolment.
    pub enrolled_at: DateTime<Utc>,
    /// When last suspended.
    pub suspended_at: Option<DateTime<Utc>>,
    /// When last reinstated.
    pub reinstated_at: Option<DateTime<Utc>>,
    /// Version of the `member-{id}` stream.
    pub version: u64,
}

impl Projection for DirectoryProjection {
    fn name(&self) -> &'static str {
        "directory"
    }

    fn version(&self) -> String {
        "1".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS directory_agencies (
                tenant TEXT NOT NULL,
                agency BLOB NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                registered_at INTEGER NOT NULL,
                stream_version INTEGER NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                PRIMARY KEY (tenant, agency)
            );
            CREATE TABLE IF NOT EXISTS directory_members (
                tenant TEXT NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                name TEXT,
                kana TEXT,
                profession TEXT NOT NULL,
                roles TEXT NOT NULL,
                active INTEGER NOT NULL,
                enrolled_at INTEGER NOT NULL,
                suspended_at INTEGER,
                reinstated_at INTEGER,
                stream_version INTEGER NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                PRIMARY KEY (tenant, member)
            );
            CREATE INDEX IF NOT EXISTS directory_members_by_agency
                ON directory_members (tenant, agency, position);",
        )?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let (at, version) = (micros(env.occurred_at), env.stream_version as i64);
        let (pos, rec) = (env.position as i64, micros(env.recorded_at));
        match env.event {
            Event::AgencyRegistered(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO directory_agencies (tenant, agency, name, kind, \
                     registered_at, stream_version, position, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    env.tenant,
                    e.agency_id.0.as_bytes(),
                    e.name,
                    name_of(&e.kind),
                    at,
                    version,
                    pos,
                    rec,
                ])?;
            }
            Event::MemberEnrolled(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO directory_members (tenant, member, agency, name, \
                     kana, profession, roles, active, enrolled_at, stream_version, position, \
                     recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    env.tenant,
                    e.member_id.0.as_bytes(),
                    e.agency_id.0.as_bytes(),
                    e.name.known(),
                    e.kana.known(),
                    name_of(&e.profession),
                    json(&e.roles)?,
                    at,
                    version,
                    pos,
                    rec,
                ])?;
            }
            Event::MemberSuspended(e) => {
                conn.prepare_cached(
                    "UPDATE directory_members SET active = 0, suspended_at = ?3, \
                     stream_version = ?4 WHERE tenant = ?1 AND member = ?2",
                )?
                .execute(params![
                    env.tenant,
                    e.member_id.0.as_bytes(),
                    at,
                    version
                ])?;
            }
            Event::MemberReinstated(e) => {
                conn.prepare_cached(
                    "UPDATE directory_members SET active = 1, reinstated_at = ?3, \
                     stream_version = ?4 WHERE tenant = ?1 AND member = ?2",
                )?
                .execute(params![
                    env.tenant,
                    e.member_id.0.as_bytes(),
                    at,
                    version
                ])?;
            }
            _ => {}
        }
        Ok(())
    }
}

const AGENCY_COLUMNS: &str = "SELECT agency, name, kind, registered_at, stream_version \
    FROM directory_agencies WHERE tenant = ?1";
const MEMBER_COLUMNS: &str = "SELECT member, agency, name, kana, profession, roles, active, \
    enrolled_at, suspended_at, reinstated_at, stream_version FROM directory_members \
    WHERE tenant = ?1";

fn agency_row(row: &Row<'_>) -> Result<AgencyRecord, ProjectionError> {
    Ok(AgencyRecord {
        agency_id: AgencyId(uuid(&row.get::<_, Vec<u8>>(0)?)?),
        name: row.get(1)?,
        kind: from_name(&row.get::<_, String>(2)?)?,
        registered_at: time(row.get(3)?)?,
        version: row.get::<_, i64>(4)? as u64,
    })
}

fn member_row(row: &Row<'_>) -> Result<MemberRecord, ProjectionError> {
    let opt_time = |i: usize| -> Result<Option<DateTime<Utc>>, ProjectionError> {
        row.get::<_, Option<i64>>(i)?.map(time).transpose()
    };
    Ok(MemberRecord {
        member_id: MemberId(uuid(&row.get::<_, Vec<u8>>(0)?)?),
        agency_id: AgencyId(uuid(&row.get::<_, Vec<u8>>(1)?)?),
        name: row.get(2)?,
        kana: row.get(3)?,
        profession: from_name(&row.get::<_, String>(4)?)?,
        roles: from_json(&row.get::<_, String>(5)?)?,
        active: row.get(6)?,
        enrolled_at: time(row.get(7)?)?,
        suspended_at: opt_time(8)?,
        reinstated_at: opt_time(9)?,
        version: row.get::<_, i64>(10)? as u64,
    })
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> Result<T, ProjectionError>,
) -> Result<Vec<T>, ProjectionError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// Every agency of the tenant, in order of registration.
pub fn agencies(conn: &Connection, tenant: &str) -> Result<Vec<AgencyRecord>, ProjectionError> {
    let sql = format!("{AGENCY_COLUMNS} ORDER BY position");
    collect(conn, &sql, params![tenant], agency_row)
}

/// The tenant's members (of one agency when given), in order of enrolment.
pub fn members(
    conn: &Connection,
    tenant: &str,
    agency: Option<AgencyId>,
) -> Result<Vec<MemberRecord>, ProjectionError> {
    match agency {
        Some(agency) => {
            let sql = format!("{MEMBER_COLUMNS} AND agency = ?2 ORDER BY position");
            collect(conn, &sql, params![tenant, agency.0.as_bytes()], member_row)
        }
        None => {
            let sql = format!("{MEMBER_COLUMNS} ORDER BY position");
            collect(conn, &sql, params![tenant], member_row)
        }
    }
}

/// One member, if enrolled.
pub fn member(
    conn: &Connection,
    tenant: &str,
    member_id: MemberId,
) -> Result<Option<MemberRecord>, ProjectionError> {
    let sql = format!("{MEMBER_COLUMNS} AND member = ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_row(params![tenant, member_id.0.as_bytes()], |row| {
            Ok(member_row(row))
        })
        .optional()?;
    found.transpose()
}

/// The whole directory in memory, answering the domain's [`Directory`] trait, so the write
/// path can load it from this table instead of scanning the log.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirectorySnapshot {
    /// Every agency by id.
    pub agencies: HashMap<AgencyId, AgencyRecord>,
    /// Every member by id.
    pub members: HashMap<MemberId, MemberRecord>,
}

impl DirectorySnapshot {
    /// The agency's state and stream version (default/0 when unknown), as the write path's
    /// directory cache answers them.
    pub fn agency_state(&self, id: AgencyId) -> (AgencyState, u64) {
        let Some(a) = self.agencies.get(&id) else {
            return Default::default();
        };
        let registered = AgencyRegistered {
            agency_id: a.agency_id,
            name: a.name.clone(),
            kind: a.kind,
        };
        let state = AgencyState {
            registered: Some(registered),
        };
        (state, a.version)
    }

    /// The member's state and stream version (default/0 when unknown).
    pub fn member_state(&self, id: MemberId) -> (MemberState, u64) {
        let Some(m) = self.members.get(&id) else {
            return Default::default();
        };
        let personal = |v: &Option<String>| v.clone().map_or(Personal::Erased, Personal::Known);
        let enrolled = MemberEnrolled {
            member_id: m.member_id,
            agency_id: m.agency_id,
            name: personal(&m.name),
            kana: personal(&m.kana),
            profession: m.profession,
            roles: m.roles.clone(),
        };
        let state = MemberState {
            enrolled: Some(enrolled),
            suspended: !m.active,
        };
        (state, m.version)
    }
}

impl Directory for DirectorySnapshot {
    fn member(&self, id: MemberId) -> Option<MemberFacts> {
        self.members.get(&id).map(|m| MemberFacts {
            member_id: m.member_id,
            agency_id: m.agency_id,
            profession: m.profession,
            roles: m.roles.clone(),
            active: m.active,
        })
    }

    fn agency(&self, id: AgencyId) -> Option<AgencyFacts> {
        self.agencies.get(&id).map(|a| AgencyFacts {
            agency_id: a.agency_id,
            name: a.name.clone(),
            kind: a.kind,
        })
    }
}

/// Loads the tenant's whole directory into memory.
pub fn load_directory(
    conn: &Connection,
    tenant: &str,
) -> Result<DirectorySnapshot, ProjectionError> {
    let agencies = agencies(conn, tenant)?
        .into_iter()
        .map(|a| (a.agency_id, a))
        .collect();
    let members = members(conn, tenant, None)?
        .into_iter()
        .map(|m| (m.member_id, m))
        .collect();
    Ok(DirectorySnapshot { agencies, members })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::{MemberReinstated, MemberSuspended};
    use uuid::Uuid;

    fn register(h: &mut Harness, name: &str) -> AgencyId {
        let agency_id = AgencyId(Uuid::now_v7());
        let e = AgencyRegistered {
            agency_id,
            name: name.into(),
            kind: AgencyKind::Clinic,
        };
        h.apply(e, day(1), None);
        agency_id
    }

    fn enrol(h: &mut Harness, agency_id: AgencyId, name: Personal<String>, d: u32) -> MemberId {
        let member_id = MemberId(Uuid::now_v7());
        let e = MemberEnrolled {
            member_id,
            agency_id,
            name,
            kana: Personal::Known("ヤマダ".into()),
            profession: Profession::VisitingNurse,
            roles: vec![Role::Supporter, Role::AgencyAdmin],
        };
        h.apply(e, day(d), None);
        member_id
    }

    #[test]
    fn agencies_and_members_are_listed_with_their_facts() {
        let mut h = Harness::new(vec![Box::new(DirectoryProjection)]);
        let (a, b) = (register(&mut h, "Clinic A"), register(&mut h, "Clinic B"));
        let m1 = enrol(&mut h, a, Personal::Known("山田".into()), 2);
        let m2 = enrol(&mut h, b, Personal::Known("佐藤".into()), 3);
        let m3 = enrol(&mut h, a, Personal::Erased, 4);
        let names: Vec<_> = agencies(&h.conn, TENANT)
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, vec!["Clinic A", "Clinic B"]);
        let of_a: Vec<_> = members(&h.conn, TENANT, Some(a))
            .unwrap()
            .iter()
            .map(|m| m.member_id)
            .collect();
        assert_eq!(of_a, vec![m1, m3]);
        assert_eq!(members(&h.conn, TENANT, None).unwrap().len(), 3);
        let record = member(&h.conn, TENANT, m2).unwrap().unwrap();
        let expected = MemberRecord {
            member_id: m2,
            agency_id: b,
            name: Some("佐藤".into()),
            kana: Some("ヤマダ".into()),
            profession: Profession::VisitingNurse,
            roles: vec![Role::Supporter, Role::AgencyAdmin],
            active: true,
            enrolled_at: day(3),
            suspended_at: None,
            reinstated_at: None,
            version: 1,
        };
        assert_eq!(record, expected);
        assert_eq!(member(&h.conn, TENANT, m3).unwrap().unwrap().name, None);
        assert_eq!(
            member(&h.conn, TENANT, MemberId(Uuid::now_v7())).unwrap(),
            None
        );
    }

    #[test]
    fn suspended_members_are_inactive_until_reinstated() {
        let mut h = Harness::new(vec![Box::new(DirectoryProjection)]);
        let a = register(&mut h, "Clinic A");
        let m = enrol(&mut h, a, Personal::Known("山田".into()), 2);
        let suspended = MemberSuspended {
            member_id: m,
            reason: "left".into(),
        };
        h.apply(suspended, day(3), None);
        let record = member(&h.conn, TENANT, m).unwrap().unwrap();
        assert_eq!(
            (record.active, record.suspended_at, record.version),
            (false, Some(day(3)), 2)
        );
        let dir = load_directory(&h.conn, TENANT).unwrap();
        assert!(!dir.member(m).unwrap().active);
        assert!(dir.member_state(m).0.suspended);
        h.apply(MemberReinstated { member_id: m }, day(4), None);
        let dir = load_directory(&h.conn, TENANT).unwrap();
        assert!(dir.member(m).unwrap().active);
        assert_eq!(dir.member_state(m).1, 3);
    }

    #[test]
    fn loaded_directory_answers_like_the_write_paths_cache() {
        let mut h = Harness::new(vec![Box::new(DirectoryProjection)]);
        let a = register(&mut h, "Clinic A");
        let m = enrol(&mut h, a, Personal::Known("山田".into()), 2);
        let dir = load_directory(&h.conn, TENANT).unwrap();
        let expected = AgencyFacts {
            agency_id: a,
            name: "Clinic A".into(),
            kind: AgencyKind::Clinic,
        };
        assert_eq!(dir.agency(a), Some(expected));
        let actor = kasane_domain::Actor::resolve(&dir, m).unwrap();
        assert_eq!(actor.agency_id(), a);
        assert!(actor.member.has_role(Role::AgencyAdmin));
        let (state, version) = dir.member_state(m);
        assert_eq!(version, 1);
        assert_eq!(state.enrolled.unwrap().name, Personal::Known("山田".into()));
        assert_eq!(dir.agency_state(a).1, 1);
        assert_eq!(dir.member(MemberId(Uuid::now_v7())), None);
    }
}
