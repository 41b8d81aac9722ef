//! The access ledger: every recorded read (`AccessRecorded`) with who read what about whom, on
//! which basis, so residents' access histories and "who has read this note" can be answered
//! with an index instead of scanning the log.
//!
//! The ledger is itself sensitive: members with the `auditor` role see every entry, an
//! `agency_admin` sees the entries of their own agency, everyone else only their own reads.
//! Rows hold ids and bases only, no personal values, so erasure changes nothing here.

use crate::codec::{from_name, micros, name_of, time, uuid};
use crate::page::{MAX_PAGE, Page, cursor, parse_cursor};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::events::AccessedItem;
use kasane_domain::vocab::{AccessKind, Role};
use kasane_domain::{
    AgencyId, Basis, BreakGlassId, ConsentId, Event, MeetingId, MemberId, NoteId, ResidentId,
    Viewer,
};
use rusqlite::{Connection, named_params, params};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

/// The projection that keeps every access record and one row per item read.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLedger;

const TABLES: &[&str] = &["access_ledger", "access_ledger_items"];

/// One recorded read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessEntry {
    /// Global position of the `AccessRecorded` event (the ledger's order).
    pub position: u64,
    /// Whose data was read.
    pub resident_id: ResidentId,
    /// Who read it.
    pub member_id: MemberId,
    /// For which agency.
    pub agency_id: AgencyId,
    /// What kind of read.
    pub kind: AccessKind,
    /// The case file's stream version the response reflected.
    pub up_to_version: u64,
    /// Each item returned, with its basis.
    pub items: Vec<AccessedItem>,
    /// Business time of the read.
    pub occurred_at: DateTime<Utc>,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// How one member has read one note, for "who has seen this?".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoteReadSummary {
    /// The reader.
    pub member_id: MemberId,
    /// The reader's agency.
    pub agency_id: AgencyId,
    /// Business time of the first read.
    pub first_read_at: DateTime<Utc>,
    /// How many recorded reads included the note.
    pub reads: u64,
    /// The distinct bases the reads were made on, in order of first use.
    pub bases: Vec<Basis>,
}

impl Projection for AccessLedger {
    fn name(&self) -> &'static str {
        "access_ledger"
    }

    fn version(&self) -> String {
        "2".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        // Items are rows keyed by (entry, item), appended in log order; only the items that
        // name a note are indexed, on (note, position).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS access_ledger (
                position INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                kind TEXT NOT NULL,
                up_to_version INTEGER NOT NULL,
                occurred_at INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS access_ledger_by_resident
                ON access_ledger (tenant, resident, position);
            CREATE TABLE IF NOT EXISTS access_ledger_items (
                position INTEGER NOT NULL,
                item INTEGER NOT NULL,
                note BLOB,
                basis TEXT NOT NULL,
                basis_ref BLOB,
                PRIMARY KEY (position, item)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS access_ledger_items_by_note
                ON access_ledger_items (note, position) WHERE note IS NOT NULL;",
        )?;
        Ok(())
    }

    fn bulk_indexes(&self) -> &'static [&'static str] {
        &["access_ledger_by_resident", "access_ledger_items_by_note"]
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let Event::AccessRecorded(e) = env.event else {
            return Ok(());
        };
        let position = env.position as i64;
        conn.prepare_cached(
            "INSERT OR REPLACE INTO access_ledger (position, tenant, resident, member, agency, \
             kind, up_to_version, occurred_at, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            position,
            env.tenant,
            e.resident_id.0.as_bytes(),
            e.member_id.0.as_bytes(),
            e.agency_id.0.as_bytes(),
            name_of(&e.kind),
            e.up_to_version as i64,
            micros(env.occurred_at),
            micros(env.recorded_at),
        ])?;
        let mut insert = conn.prepare_cached(
            "INSERT OR REPLACE INTO access_ledger_items (position, item, note, basis, basis_ref) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (i, item) in e.items.iter().enumerate() {
            let (basis, basis_ref) = basis_parts(&item.basis);
            insert.execute(params![
                position,
                i as i64,
                item.note_id.as_ref().map(|n| n.0.as_bytes()),
                basis,
                basis_ref.as_ref().map(|u| u.as_bytes()),
            ])?;
        }
        Ok(())
    }
}

/// A basis as stored: its serde tag and the id it names, if any.
fn basis_parts(basis: &Basis) -> (&'static str, Option<Uuid>) {
    match *basis {
        Basis::OwnAgency => ("own_agency", None),
        Basis::Consent { consent_id } => ("consent", Some(consent_id.0)),
        Basis::SupportMeeting { meeting_id } => ("support_meeting", Some(meeting_id.0)),
        Basis::BreakGlass { grant_id } => ("break_glass", Some(grant_id.0)),
        Basis::AuditorMetadata => ("auditor_metadata", None),
        Basis::CareTeam => ("care_team", None),
    }
}

/// The inverse of [`basis_parts`].
fn basis_from(tag: &str, stored_id: Option<Vec<u8>>) -> Result<Basis, ProjectionError> {
    let id = || -> Result<Uuid, ProjectionError> {
        uuid(
            stored_id
                .as_deref()
                .ok_or_else(|| ProjectionError::Corrupt(format!("basis {tag} without its id")))?,
        )
    };
    Ok(match tag {
        "own_agency" => Basis::OwnAgency,
        "consent" => Basis::Consent {
            consent_id: ConsentId(id()?),
        },
        "support_meeting" => Basis::SupportMeeting {
            meeting_id: MeetingId(id()?),
        },
        "break_glass" => Basis::BreakGlass {
            grant_id: BreakGlassId(id()?),
        },
        "auditor_metadata" => Basis::AuditorMetadata,
        "care_team" => Basis::CareTeam,
        other => return Err(ProjectionError::Corrupt(format!("unknown basis {other:?}"))),
    })
}

/// Which ledger rows a viewer may see, given the viewer's [`scope`], agency and member id.
const VISIBLE: &str = "(:scope = 'all' OR (:scope = 'agency' AND agency = :agency) \
    OR member = :member)";

fn scope(viewer: &Viewer) -> &'static str {
    if viewer.roles.contains(&Role::Auditor) {
        "all"
    } else if viewer.roles.contains(&Role::AgencyAdmin) {
        "agency"
    } else {
        "own"
    }
}

/// The reads of `resident`'s data that occurred in `[from, to)` and the viewer may see, oldest
/// first, `first` entries after the cursor. Suspended viewers see nothing.
#[allow(clippy::too_many_arguments)]
pub fn for_resident(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first: usize,
    after: Option<&str>,
) -> Result<Page<AccessEntry>, ProjectionError> {
    let after = after.map(parse_cursor).transpose()?.unwrap_or(0);
    if !viewer.active {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let first = first.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT position, member, agency, kind, up_to_version, occurred_at, recorded_at \
         FROM access_ledger WHERE tenant = :tenant AND resident = :resident \
         AND position > :after AND occurred_at >= :from AND occurred_at < :to AND {VISIBLE} \
         ORDER BY position LIMIT :limit"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(named_params! {
        ":tenant": tenant,
        ":resident": resident.0.as_bytes(),
        ":after": after,
        ":from": micros(from),
        ":to": micros(to),
        ":limit": (first + 1) as i64,
        ":scope": scope(viewer),
        ":agency": viewer.agency_id.0.as_bytes(),
        ":member": viewer.member_id.0.as_bytes(),
    })?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(AccessEntry {
            position: row.get::<_, i64>(0)? as u64,
            resident_id: resident,
            member_id: MemberId(uuid(&row.get::<_, Vec<u8>>(1)?)?),
            agency_id: AgencyId(uuid(&row.get::<_, Vec<u8>>(2)?)?),
            kind: from_name(&row.get::<_, String>(3)?)?,
            up_to_version: row.get::<_, i64>(4)? as u64,
            items: Vec::new(),
            occurred_at: time(row.get(5)?)?,
            recorded_at: time(row.get(6)?)?,
        });
    }
    let next_cursor = if items.len() > first {
        items.truncate(first);
        items.last().map(|e| cursor(e.position as i64))
    } else {
        None
    };
    drop(rows);
    let mut item_stmt = conn.prepare_cached(
        "SELECT note, basis, basis_ref FROM access_ledger_items WHERE position = ?1 ORDER BY item",
    )?;
    for entry in &mut items {
        let mut rows = item_stmt.query([entry.position as i64])?;
        while let Some(row) = rows.next()? {
            let note: Option<Vec<u8>> = row.get(0)?;
            entry.items.push(AccessedItem {
                note_id: note.map(|n| uuid(&n)).transpose()?.map(NoteId),
                basis: basis_from(&row.get::<_, String>(1)?, row.get(2)?)?,
            });
        }
    }
    Ok(Page { items, next_cursor })
}

/// Who has read `note_id`, one summary per member in order of first read, limited to the
/// ledger entries the viewer may see.
pub fn readers_of_note(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    note_id: NoteId,
) -> Result<Vec<NoteReadSummary>, ProjectionError> {
    if !viewer.active {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT i.position, l.member, l.agency, i.basis, i.basis_ref, l.occurred_at \
         FROM access_ledger_items i JOIN access_ledger l ON l.position = i.position \
         WHERE i.note = :note AND l.tenant = :tenant AND {VISIBLE} ORDER BY i.position, i.item"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(named_params! {
        ":tenant": tenant,
        ":note": note_id.0.as_bytes(),
        ":scope": scope(viewer),
        ":agency": viewer.agency_id.0.as_bytes(),
        ":member": viewer.member_id.0.as_bytes(),
    })?;
    // (summary, position of the last read counted), in order of first read
    let mut summaries: Vec<(NoteReadSummary, i64)> = Vec::new();
    let mut index: HashMap<MemberId, usize> = HashMap::new();
    while let Some(row) = rows.next()? {
        let position: i64 = row.get(0)?;
        let member_id = MemberId(uuid(&row.get::<_, Vec<u8>>(1)?)?);
        let basis = basis_from(&row.get::<_, String>(3)?, row.get(4)?)?;
        let at = time(row.get(5)?)?;
        match index.get(&member_id).map(|&i| &mut summaries[i]) {
            Some((summary, last)) => {
                if *last != position {
                    summary.reads += 1;
                    *last = position;
                }
                if !summary.bases.contains(&basis) {
                    summary.bases.push(basis);
                }
            }
            None => {
                index.insert(member_id, summaries.len());
                summaries.push((
                    NoteReadSummary {
                        member_id,
                        agency_id: AgencyId(uuid(&row.get::<_, Vec<u8>>(2)?)?),
                        first_read_at: at,
                        reads: 1,
                        bases: vec![basis],
                    },
                    position,
                ))
            }
        }
    }
    Ok(summaries.into_iter().map(|(s, _)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::AccessRecorded;

    fn viewer(agency_id: AgencyId, roles: Vec<Role>) -> Viewer {
        Viewer {
            member_id: MemberId(Uuid::now_v7()),
            agency_id,
            roles,
            active: true,
        }
    }

    fn read(h: &mut Harness, r: ResidentId, v: &Viewer, items: Vec<AccessedItem>, d: u32) -> u64 {
        let e = AccessRecorded {
            resident_id: r,
            member_id: v.member_id,
            agency_id: v.agency_id,
            kind: AccessKind::Note,
            up_to_version: 7,
            items,
        };
        h.apply(e, day(d), None)
    }

    fn item(note: NoteId, basis: Basis) -> AccessedItem {
        AccessedItem {
            note_id: Some(note),
            basis,
        }
    }

    struct World {
        h: Harness,
        resident: ResidentId,
        note: NoteId,
        consent: ConsentId,
        a1: Viewer,
        a2: Viewer,
        b1: Viewer,
    }

    /// a1 reads the note twice (own agency, then consent), a2 once, b1 once: days 1 to 4.
    fn world() -> World {
        let mut h = Harness::new(vec![Box::new(AccessLedger)]);
        let (a, b) = (AgencyId(Uuid::now_v7()), AgencyId(Uuid::now_v7()));
        let (a1, a2) = (
            viewer(a, vec![Role::Supporter]),
            viewer(a, vec![Role::Supporter]),
        );
        let b1 = viewer(b, vec![Role::Supporter]);
        let (resident, note) = (ResidentId(Uuid::now_v7()), NoteId(Uuid::now_v7()));
        let consent = ConsentId(Uuid::now_v7());
        read(&mut h, resident, &a1, vec![item(note, Basis::OwnAgency)], 1);
        let consent_basis = Basis::Consent {
            consent_id: consent,
        };
        read(&mut h, resident, &b1, vec![item(note, consent_basis)], 2);
        let details = AccessedItem {
            note_id: None,
            basis: Basis::CareTeam,
        };
        read(
            &mut h,
            resident,
            &a1,
            vec![details, item(note, consent_basis)],
            3,
        );
        read(&mut h, resident, &a2, vec![item(note, Basis::OwnAgency)], 4);
        World {
            h,
            resident,
            note,
            consent,
            a1,
            a2,
            b1,
        }
    }

    fn members(w: &World, v: &Viewer) -> Vec<MemberId> {
        let page = for_resident(&w.h.conn, TENANT, v, w.resident, day(1), day(30), 50, None);
        page.unwrap().items.iter().map(|e| e.member_id).collect()
    }

    #[test]
    fn auditors_see_all_admins_their_agency_others_their_own_reads() {
        let w = world();
        let (a1, a2, b1) = (w.a1.member_id, w.a2.member_id, w.b1.member_id);
        let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
        assert_eq!(members(&w, &auditor), vec![a1, b1, a1, a2]);
        let admin = viewer(w.a1.agency_id, vec![Role::AgencyAdmin]);
        assert_eq!(members(&w, &admin), vec![a1, a1, a2]);
        assert_eq!(members(&w, &w.a1), vec![a1, a1]);
        assert_eq!(members(&w, &w.b1), vec![b1]);
        let mut suspended = auditor.clone();
        suspended.active = false;
        assert_eq!(members(&w, &suspended), vec![]);
    }

    #[test]
    fn entries_keep_their_items_and_page_oldest_first_within_the_period() {
        let w = world();
        let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
        let page = |after: Option<&str>| {
            for_resident(
                &w.h.conn,
                TENANT,
                &auditor,
                w.resident,
                day(2),
                day(4),
                1,
                after,
            )
        };
        let p1 = page(None).unwrap();
        assert_eq!(p1.items.len(), 1);
        assert_eq!(p1.items[0].member_id, w.b1.member_id);
        assert_eq!(p1.items[0].occurred_at, day(2));
        assert_eq!(p1.items[0].up_to_version, 7);
        let p2 = page(p1.next_cursor.as_deref()).unwrap();
        assert_eq!(p2.items[0].items.len(), 2);
        assert_eq!(p2.items[0].items[0].basis, Basis::CareTeam);
        assert_eq!(p2.items[0].items[0].note_id, None);
        let consent = Basis::Consent {
            consent_id: w.consent,
        };
        assert_eq!(p2.items[0].items[1], item(w.note, consent));
        assert_eq!(p2.next_cursor, None, "day 4 is outside [day 2, day 4)");
        assert!(matches!(
            page(Some("nope")),
            Err(ProjectionError::BadCursor(_))
        ));
    }

    #[test]
    fn readers_of_a_note_are_summarised_per_member() {
        let w = world();
        let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
        let summaries = readers_of_note(&w.h.conn, TENANT, &auditor, w.note).unwrap();
        let consent = Basis::Consent {
            consent_id: w.consent,
        };
        let a1 = NoteReadSummary {
            member_id: w.a1.member_id,
            agency_id: w.a1.agency_id,
            first_read_at: day(1),
            reads: 2,
            bases: vec![Basis::OwnAgency, consent],
        };
        assert_eq!(summaries.len(), 3);
        assert_eq!(summaries[0], a1);
        assert_eq!(summaries[1].member_id, w.b1.member_id);
        assert_eq!(
            (summaries[2].reads, summaries[2].first_read_at),
            (1, day(4))
        );
        let own = readers_of_note(&w.h.conn, TENANT, &w.b1, w.note).unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].bases, vec![consent]);
        let other_note = readers_of_note(&w.h.conn, TENANT, &auditor, NoteId(Uuid::now_v7()));
        assert_eq!(other_note.unwrap(), vec![]);
    }
}
