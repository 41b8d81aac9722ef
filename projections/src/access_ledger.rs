//! The access ledger: every recorded read (`AccessRecorded`) with who read what about whom, on
//! which basis, so residents' access histories and "who has read this note" can be answered
//! from one resident's reads instead of scanning the log.
//!
//! Every read of personal data appends here in the append's own transaction, so a read must
//! dirty few pages: one row per read, its items packed into one BLOB ([`items`]), and one
//! index by resident. There is deliberately no index by note: its inserts landed on a random
//! leaf per item (20 per timeline page) and cost a quarter of the server's throughput. "Who
//! has read this note" scans the reads of the note's resident since the note was posted.
//!
//! The ledger is itself sensitive: members with the `auditor` role see every entry, an
//! `agency_admin` sees the entries of their own agency, everyone else only their own reads.
//! Rows hold ids and bases only, no personal values, so erasure changes nothing here.

use crate::codec::{blob, from_name, micros, text, time, uuid};
use crate::page::{MAX_PAGE, Page, cursor, parse_cursor};
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::events::AccessedItem;
use kasane_domain::vocab::{AccessKind, Role};
use kasane_domain::{AgencyId, Basis, Event, MemberId, NoteId, ResidentId, Viewer};
use rusqlite::{Connection, named_params, params};
use serde::Serialize;
use std::collections::HashMap;

/// The projection that keeps every access record, one row per read.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLedger;

const TABLES: &[&str] = &["access_ledger"];

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
        "3".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        // Version 2 kept one row per item in `access_ledger_items`; its rows now live in
        // `access_ledger.items`, and a rebuild must not leave the old table behind.
        conn.execute_batch(
            "DROP TABLE IF EXISTS access_ledger_items;
            CREATE TABLE IF NOT EXISTS access_ledger (
                position INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                kind TEXT NOT NULL,
                up_to_version INTEGER NOT NULL,
                occurred_at INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                items BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS access_ledger_by_resident
                ON access_ledger (tenant, resident, position);",
        )?;
        Ok(())
    }

    fn bulk_indexes(&self) -> &'static [&'static str] {
        &["access_ledger_by_resident"]
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let Event::AccessRecorded(e) = env.event else {
            return Ok(());
        };
        conn.prepare_cached(
            "INSERT OR REPLACE INTO access_ledger (position, tenant, resident, member, agency, \
             kind, up_to_version, occurred_at, recorded_at, items) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            env.position as i64,
            env.tenant,
            e.resident_id.0.as_bytes(),
            e.member_id.0.as_bytes(),
            e.agency_id.0.as_bytes(),
            e.kind.as_str(),
            e.up_to_version as i64,
            micros(env.occurred_at),
            micros(env.recorded_at),
            items::encode(&e.items),
        ])?;
        Ok(())
    }
}

/// How a read's items are packed into `access_ledger.items`: for each item one tag byte (the
/// basis kind in the low bits, [`items::NOTE`] set when a note id follows), then the note's
/// 16 bytes if any, then the 16 bytes of the consent, meeting or break-glass grant the basis
/// names, if it names one.
pub mod items {
    use crate::ProjectionError;
    use kasane_domain::events::AccessedItem;
    use kasane_domain::{Basis, BreakGlassId, ConsentId, MeetingId, NoteId};
    use uuid::Uuid;

    /// Set in an item's tag byte when the item names a note.
    pub const NOTE: u8 = 0x80;

    /// The kind of a basis as stored, and the id it names.
    fn kind(basis: &Basis) -> (u8, Option<Uuid>) {
        match *basis {
            Basis::OwnAgency => (0, None),
            Basis::Consent { consent_id } => (1, Some(consent_id.0)),
            Basis::SupportMeeting { meeting_id } => (2, Some(meeting_id.0)),
            Basis::BreakGlass { grant_id } => (3, Some(grant_id.0)),
            Basis::AuditorMetadata => (4, None),
            Basis::CareTeam => (5, None),
        }
    }

    /// Packs `items` in order.
    pub fn encode(items: &[AccessedItem]) -> Vec<u8> {
        let mut out = Vec::with_capacity(items.len() * 33);
        for item in items {
            let (kind, named) = kind(&item.basis);
            let tag = if item.note_id.is_some() {
                kind | NOTE
            } else {
                kind
            };
            out.push(tag);
            if let Some(note) = item.note_id {
                out.extend_from_slice(note.0.as_bytes());
            }
            if let Some(id) = named {
                out.extend_from_slice(id.as_bytes());
            }
        }
        out
    }

    /// The inverse of [`encode`]; a malformed blob is `Corrupt`.
    pub fn decode(mut bytes: &[u8]) -> Result<Vec<AccessedItem>, ProjectionError> {
        let corrupt = || ProjectionError::Corrupt("a ledger entry's items are malformed".into());
        let id = |bytes: &mut &[u8]| -> Result<Uuid, ProjectionError> {
            let (head, rest) = bytes.split_at_checked(16).ok_or_else(corrupt)?;
            *bytes = rest;
            crate::codec::uuid(head)
        };
        let mut out = Vec::with_capacity(bytes.len() / 17);
        while let Some((&tag, rest)) = bytes.split_first() {
            bytes = rest;
            let note_id = if tag & NOTE != 0 {
                Some(NoteId(id(&mut bytes)?))
            } else {
                None
            };
            let basis = match tag & !NOTE {
                0 => Basis::OwnAgency,
                1 => Basis::Consent {
                    consent_id: ConsentId(id(&mut bytes)?),
                },
                2 => Basis::SupportMeeting {
                    meeting_id: MeetingId(id(&mut bytes)?),
                },
                3 => Basis::BreakGlass {
                    grant_id: BreakGlassId(id(&mut bytes)?),
                },
                4 => Basis::AuditorMetadata,
                5 => Basis::CareTeam,
                _ => return Err(corrupt()),
            };
            out.push(AccessedItem { note_id, basis });
        }
        Ok(out)
    }
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
        "SELECT position, member, agency, kind, up_to_version, occurred_at, recorded_at, items \
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
            member_id: MemberId(uuid(blob(row, 1)?)?),
            agency_id: AgencyId(uuid(blob(row, 2)?)?),
            kind: from_name(text(row, 3)?)?,
            up_to_version: row.get::<_, i64>(4)? as u64,
            items: items::decode(blob(row, 7)?)?,
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
    Ok(Page { items, next_cursor })
}

/// Who has read `note_id` of `resident`, one summary per member in order of first read,
/// limited to the ledger entries the viewer may see. Only reads after `posted_position` (the
/// note's `NotePosted`) can include the note, so only they are scanned.
pub fn readers_of_note(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    note_id: NoteId,
    posted_position: u64,
) -> Result<Vec<NoteReadSummary>, ProjectionError> {
    if !viewer.active {
        return Ok(Vec::new());
    }
    // `instr` on the packed items skips most reads without decoding them; each hit is then
    // decoded and matched exactly.
    let sql = format!(
        "SELECT position, member, agency, occurred_at, items FROM access_ledger \
         WHERE tenant = :tenant AND resident = :resident AND position > :after \
         AND instr(items, :note) > 0 AND {VISIBLE} ORDER BY position"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(named_params! {
        ":tenant": tenant,
        ":resident": resident.0.as_bytes(),
        ":after": posted_position as i64,
        ":note": note_id.0.as_bytes(),
        ":scope": scope(viewer),
        ":agency": viewer.agency_id.0.as_bytes(),
        ":member": viewer.member_id.0.as_bytes(),
    })?;
    let mut summaries: Vec<NoteReadSummary> = Vec::new();
    let mut index: HashMap<MemberId, usize> = HashMap::new();
    while let Some(row) = rows.next()? {
        let bases: Vec<Basis> = items::decode(blob(row, 4)?)?
            .into_iter()
            .filter(|item| item.note_id == Some(note_id))
            .map(|item| item.basis)
            .collect();
        if bases.is_empty() {
            continue;
        }
        let member_id = MemberId(uuid(blob(row, 1)?)?);
        let summary = match index.get(&member_id) {
            Some(&i) => {
                summaries[i].reads += 1;
                &mut summaries[i]
            }
            None => {
                index.insert(member_id, summaries.len());
                summaries.push(NoteReadSummary {
                    member_id,
                    agency_id: AgencyId(uuid(blob(row, 2)?)?),
                    first_read_at: time(row.get(3)?)?,
                    reads: 1,
                    bases: Vec::new(),
                });
                summaries.last_mut().expect("just pushed")
            }
        };
        for basis in bases {
            if !summary.bases.contains(&basis) {
                summary.bases.push(basis);
            }
        }
    }
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::AccessRecorded;
    use kasane_domain::{BreakGlassId, ConsentId, MeetingId};
    use uuid::Uuid;

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
        let summaries =
            readers_of_note(&w.h.conn, TENANT, &auditor, w.resident, w.note, 0).unwrap();
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
        let own = readers_of_note(&w.h.conn, TENANT, &w.b1, w.resident, w.note, 0).unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].bases, vec![consent]);
        let other_note = NoteId(Uuid::now_v7());
        let other = readers_of_note(&w.h.conn, TENANT, &auditor, w.resident, other_note, 0);
        assert_eq!(other.unwrap(), vec![]);
    }

    #[test]
    fn readers_of_a_note_count_only_reads_after_it_was_posted() {
        let w = world();
        let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
        let all = readers_of_note(&w.h.conn, TENANT, &auditor, w.resident, w.note, 0).unwrap();
        let first_read = for_resident(
            &w.h.conn,
            TENANT,
            &auditor,
            w.resident,
            day(1),
            day(2),
            1,
            None,
        )
        .unwrap()
        .items[0]
            .position;
        let later =
            readers_of_note(&w.h.conn, TENANT, &auditor, w.resident, w.note, first_read).unwrap();
        assert_eq!(all[0].reads, 2);
        assert_eq!(
            later[0].member_id, w.b1.member_id,
            "a1's first read is before the cut"
        );
        let a1 = later
            .iter()
            .find(|s| s.member_id == w.a1.member_id)
            .unwrap();
        assert_eq!((a1.reads, a1.first_read_at), (1, day(3)));
        let elsewhere = ResidentId(Uuid::now_v7());
        let none = readers_of_note(&w.h.conn, TENANT, &auditor, elsewhere, w.note, 0).unwrap();
        assert_eq!(none, vec![], "only the note's resident's reads are scanned");
    }

    #[test]
    fn a_read_whose_items_only_contain_the_notes_bytes_elsewhere_is_not_a_read_of_it() {
        let mut w = world();
        let auditor = viewer(AgencyId(Uuid::now_v7()), vec![Role::Auditor]);
        // A consent whose id has the note's bytes: `instr` matches, the decode does not.
        let lookalike = AccessedItem {
            note_id: None,
            basis: Basis::Consent {
                consent_id: ConsentId(w.note.0),
            },
        };
        let b1 = w.b1.clone();
        read(&mut w.h, w.resident, &b1, vec![lookalike], 5);
        let summaries = readers_of_note(&w.h.conn, TENANT, &auditor, w.resident, w.note, 0);
        let b1_reads = summaries.unwrap()[1].clone();
        assert_eq!(b1_reads.member_id, w.b1.member_id);
        assert_eq!(b1_reads.reads, 1, "the look-alike read is not counted");
    }

    #[test]
    fn packed_items_round_trip_every_basis_with_and_without_a_note() {
        let bases = [
            Basis::OwnAgency,
            Basis::Consent {
                consent_id: ConsentId(Uuid::now_v7()),
            },
            Basis::SupportMeeting {
                meeting_id: MeetingId(Uuid::now_v7()),
            },
            Basis::BreakGlass {
                grant_id: BreakGlassId(Uuid::now_v7()),
            },
            Basis::AuditorMetadata,
            Basis::CareTeam,
        ];
        let all: Vec<AccessedItem> = bases
            .iter()
            .flat_map(|&basis| {
                [None, Some(NoteId(Uuid::now_v7()))].map(|note_id| AccessedItem { note_id, basis })
            })
            .collect();
        let packed = items::encode(&all);
        assert_eq!(items::decode(&packed).unwrap(), all);
        assert_eq!(items::decode(&[]).unwrap(), vec![]);
        for bad in [&packed[..packed.len() - 1], &[0x86][..], &[0x81, 1, 2][..]] {
            assert!(matches!(
                items::decode(bad),
                Err(ProjectionError::Corrupt(_))
            ));
        }
    }
}
