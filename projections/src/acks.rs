//! Acknowledgements (既読): who has read each note and when, and each member's unread list.
//!
//! Besides the reads, the projection keeps what it needs to know about notes (no bodies) and
//! the current care teams. Whether a viewer may see a note is never decided here: every query
//! loads the case facts as known at the instant asked and calls [`kasane_domain::note_basis`].
//! The tables hold no personal values, so erasure changes nothing here.

use crate::case_facts;
use crate::codec::{from_json, json, micros, time, uuid};
use crate::page::MAX_PAGE;
use crate::{Envelope, Projection, ProjectionError};
use chrono::{DateTime, Utc};
use kasane_domain::vocab::InfoCategory;
use kasane_domain::{
    AgencyId, Basis, Event, MemberId, NoteFacts, NoteId, ResidentId, Viewer, note_basis,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use std::collections::BTreeMap;

/// The projection that keeps acknowledgements, note facts and current care teams.
#[derive(Clone, Copy, Debug, Default)]
pub struct Acknowledgements;

const TABLES: &[&str] = &["ack_notes", "ack_reads", "ack_team"];

/// One member who acknowledged a note.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoteReader {
    /// The member who read it.
    pub member_id: MemberId,
    /// Their agency at the time.
    pub agency_id: AgencyId,
    /// Business time of the acknowledgement.
    pub acknowledged_at: DateTime<Utc>,
}

/// A note the viewer may see and has not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnreadNote {
    /// The note.
    pub note_id: NoteId,
    /// Whose case file it is in.
    pub resident_id: ResidentId,
    /// Who wrote it.
    pub author: MemberId,
    /// The author's agency.
    pub author_agency: AgencyId,
    /// The information categories the note declares.
    pub info_categories: Vec<InfoCategory>,
    /// Business time of the post.
    pub posted_at: DateTime<Utc>,
    /// Why the viewer may see it (what an access record would carry).
    pub basis: Basis,
}

impl Projection for Acknowledgements {
    fn name(&self) -> &'static str {
        "acknowledgements"
    }

    fn version(&self) -> String {
        "2".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS ack_notes (
                tenant TEXT NOT NULL,
                note BLOB NOT NULL,
                resident BLOB NOT NULL,
                author BLOB NOT NULL,
                author_agency BLOB NOT NULL,
                info_categories TEXT NOT NULL,
                posted_at INTEGER NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                redacted_at INTEGER,
                redacted_recorded_at INTEGER,
                PRIMARY KEY (tenant, note)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS ack_notes_by_resident
                ON ack_notes (tenant, resident, posted_at);
            CREATE TABLE IF NOT EXISTS ack_reads (
                tenant TEXT NOT NULL,
                note BLOB NOT NULL,
                member BLOB NOT NULL,
                agency BLOB NOT NULL,
                acknowledged_at INTEGER NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                PRIMARY KEY (tenant, note, member)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS ack_team (
                tenant TEXT NOT NULL,
                member BLOB NOT NULL,
                resident BLOB NOT NULL,
                agency BLOB NOT NULL,
                PRIMARY KEY (tenant, member, resident)
            ) WITHOUT ROWID;",
        )?;
        Ok(())
    }

    fn bulk_indexes(&self) -> &'static [&'static str] {
        &["ack_notes_by_resident"]
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let (at, pos, rec) = (
            micros(env.occurred_at),
            env.position as i64,
            micros(env.recorded_at),
        );
        match env.event {
            Event::NotePosted(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO ack_notes (tenant, note, resident, author, \
                     author_agency, info_categories, posted_at, position, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    env.tenant,
                    e.note_id.0.as_bytes(),
                    e.resident_id.0.as_bytes(),
                    e.author.0.as_bytes(),
                    e.author_agency.0.as_bytes(),
                    json(&e.info_categories)?,
                    at,
                    pos,
                    rec,
                ])?;
            }
            Event::NoteRedacted(e) => {
                conn.prepare_cached(
                    "UPDATE ack_notes SET redacted_at = ?3, redacted_recorded_at = ?4 \
                     WHERE tenant = ?1 AND note = ?2 AND redacted_at IS NULL",
                )?
                .execute(params![env.tenant, e.note_id.0.as_bytes(), at, rec])?;
            }
            Event::NoteAcknowledged(e) => {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO ack_reads (tenant, note, member, agency, \
                     acknowledged_at, position, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    env.tenant,
                    e.note_id.0.as_bytes(),
                    e.member_id.0.as_bytes(),
                    e.agency_id.0.as_bytes(),
                    at,
                    pos,
                    rec,
                ])?;
            }
            Event::CareTeamMemberAdded(e) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO ack_team (tenant, member, resident, agency) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    env.tenant,
                    e.member_id.0.as_bytes(),
                    e.resident_id.0.as_bytes(),
                    e.agency_id.0.as_bytes(),
                ])?;
            }
            // `ack_team` keeps everyone who was ever on a team: unread "as of T" must still
            // consider a member removed after T, and the sharing rule (team at T) decides.
            _ => {}
        }
        Ok(())
    }
}

/// A note row as known at some instant.
struct NoteRow {
    note_id: NoteId,
    resident_id: ResidentId,
    author: MemberId,
    author_agency: AgencyId,
    info_categories: Vec<InfoCategory>,
    posted_at: DateTime<Utc>,
    redacted_at: Option<DateTime<Utc>>,
}

impl NoteRow {
    /// Columns: note, resident, author, author_agency, info_categories, posted_at,
    /// redacted_at, redacted_recorded_at.
    fn read(row: &Row<'_>, at: DateTime<Utc>) -> Result<Self, ProjectionError> {
        let blob =
            |i: usize| -> Result<uuid::Uuid, ProjectionError> { uuid(&row.get::<_, Vec<u8>>(i)?) };
        let redaction_known = row
            .get::<_, Option<i64>>(7)?
            .is_some_and(|r| r <= micros(at));
        let redacted_at = match row.get::<_, Option<i64>>(6)? {
            Some(r) if redaction_known => Some(time(r)?),
            _ => None,
        };
        Ok(NoteRow {
            note_id: NoteId(blob(0)?),
            resident_id: ResidentId(blob(1)?),
            author: MemberId(blob(2)?),
            author_agency: AgencyId(blob(3)?),
            info_categories: from_json(&row.get::<_, String>(4)?)?,
            posted_at: time(row.get(5)?)?,
            redacted_at,
        })
    }

    fn facts(&self) -> NoteFacts<'_> {
        NoteFacts {
            posted_at: self.posted_at,
            author_agency: self.author_agency,
            info_categories: &self.info_categories,
            redacted_at: self.redacted_at,
        }
    }
}

/// Who acknowledged `note_id`, as known at `at`; `None` when the viewer may not see the note
/// at `at` (or it was not known yet).
pub fn readers(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    note_id: NoteId,
    at: DateTime<Utc>,
) -> Result<Option<Vec<NoteReader>>, ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT note, resident, author, author_agency, info_categories, posted_at, redacted_at, \
         redacted_recorded_at FROM ack_notes WHERE tenant = ?1 AND note = ?2 AND recorded_at <= ?3",
    )?;
    let note = stmt
        .query_row(params![tenant, note_id.0.as_bytes(), micros(at)], |row| {
            Ok(NoteRow::read(row, at))
        })
        .optional()?
        .transpose()?;
    let Some(note) = note else { return Ok(None) };
    let case = case_facts::load(conn, tenant, note.resident_id, at)?;
    if note_basis(&case, viewer, note.facts(), at).is_err() {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT member, agency, acknowledged_at FROM ack_reads \
         WHERE tenant = ?1 AND note = ?2 AND recorded_at <= ?3 ORDER BY acknowledged_at, member",
    )?;
    let mut rows = stmt.query(params![tenant, note_id.0.as_bytes(), micros(at)])?;
    let mut readers = Vec::new();
    while let Some(row) = rows.next()? {
        readers.push(NoteReader {
            member_id: MemberId(uuid(&row.get::<_, Vec<u8>>(0)?)?),
            agency_id: AgencyId(uuid(&row.get::<_, Vec<u8>>(1)?)?),
            acknowledged_at: time(row.get(2)?)?,
        });
    }
    Ok(Some(readers))
}

/// The viewer's unread notes at `at`, newest first, at most `limit` (clamped to 1..=MAX_PAGE):
/// notes of residents whose team the viewer is on now, written by someone else, not yet
/// acknowledged, that the sharing rule lets the viewer see (metadata-only access excluded).
pub fn unread(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    at: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<UnreadNote>, ProjectionError> {
    let mut notes = visible_unread(conn, tenant, viewer, at)?;
    notes.truncate(limit.clamp(1, MAX_PAGE));
    Ok(notes)
}

/// How many notes [`unread`] would list without a limit (the badge on the inbox).
pub fn unread_count(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    at: DateTime<Utc>,
) -> Result<u64, ProjectionError> {
    Ok(visible_unread(conn, tenant, viewer, at)?.len() as u64)
}

fn visible_unread(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    at: DateTime<Utc>,
) -> Result<Vec<UnreadNote>, ProjectionError> {
    if !viewer.active {
        return Ok(Vec::new());
    }
    let me = viewer.member_id.0;
    let mut stmt = conn.prepare_cached(
        "SELECT n.note, n.resident, n.author, n.author_agency, n.info_categories, n.posted_at, \
         n.redacted_at, n.redacted_recorded_at \
         FROM ack_team t JOIN ack_notes n ON n.tenant = t.tenant AND n.resident = t.resident \
         WHERE t.tenant = ?1 AND t.member = ?2 AND n.author <> ?2 AND n.recorded_at <= ?3 \
         AND NOT EXISTS (SELECT 1 FROM ack_reads r WHERE r.tenant = n.tenant \
             AND r.note = n.note AND r.member = ?2 AND r.recorded_at <= ?3)",
    )?;
    let mut rows = stmt.query(params![tenant, me.as_bytes(), micros(at)])?;
    let mut by_resident: BTreeMap<ResidentId, Vec<NoteRow>> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let note = NoteRow::read(row, at)?;
        by_resident.entry(note.resident_id).or_default().push(note);
    }
    let mut unread = Vec::new();
    for (resident, notes) in by_resident {
        let case = case_facts::load(conn, tenant, resident, at)?;
        for note in notes {
            match note_basis(&case, viewer, note.facts(), at) {
                Ok(Basis::AuditorMetadata) | Err(_) => {}
                Ok(basis) => unread.push(UnreadNote {
                    note_id: note.note_id,
                    resident_id: note.resident_id,
                    author: note.author,
                    author_agency: note.author_agency,
                    info_categories: note.info_categories,
                    posted_at: note.posted_at,
                    basis,
                }),
            }
        }
    }
    unread.sort_by_key(|n| std::cmp::Reverse((n.posted_at, n.note_id)));
    Ok(unread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case_facts::CaseFacts;
    use crate::test_support::{Harness, TENANT, day};
    use kasane_domain::events::*;
    use kasane_domain::vocab::{ConsentMethod, NoteCategory, Role, TeamRole};
    use kasane_domain::{ConsentId, ResidentId};
    use uuid::Uuid;

    /// Agencies A and B; author and colleague at A, `other` at B; all on R's team from day 1;
    /// a health note by the author on day 2.
    struct World {
        h: Harness,
        resident: ResidentId,
        agency_b: AgencyId,
        author: Viewer,
        colleague: Viewer,
        other: Viewer,
        note: NoteId,
    }

    fn member(agency_id: AgencyId) -> Viewer {
        Viewer {
            member_id: MemberId(Uuid::now_v7()),
            agency_id,
            roles: vec![Role::Supporter],
            active: true,
        }
    }

    fn world() -> World {
        let mut h = Harness::new(vec![Box::new(CaseFacts), Box::new(Acknowledgements)]);
        let resident = ResidentId(Uuid::now_v7());
        let (a, b) = (AgencyId(Uuid::now_v7()), AgencyId(Uuid::now_v7()));
        let (author, colleague, other) = (member(a), member(a), member(b));
        for v in [&author, &colleague, &other] {
            let added = CareTeamMemberAdded {
                resident_id: resident,
                member_id: v.member_id,
                agency_id: v.agency_id,
                team_role: TeamRole::Member,
            };
            h.apply(added, day(1), None);
        }
        let note = post(&mut h, resident, &author, day(2));
        World {
            h,
            resident,
            agency_b: b,
            author,
            colleague,
            other,
            note,
        }
    }

    fn post(h: &mut Harness, resident: ResidentId, by: &Viewer, at: DateTime<Utc>) -> NoteId {
        let note_id = NoteId(Uuid::now_v7());
        let posted = NotePosted {
            resident_id: resident,
            note_id,
            author: by.member_id,
            author_agency: by.agency_id,
            category: NoteCategory::Visit,
            info_categories: vec![InfoCategory::Health],
            body: "visited".to_string().into(),
            describes_at: at,
            attachments: vec![],
        };
        h.apply(posted, at, None);
        note_id
    }

    fn ack(w: &mut World, who: &Viewer, at: DateTime<Utc>) {
        let e = NoteAcknowledged {
            resident_id: w.resident,
            note_id: w.note,
            member_id: who.member_id,
            agency_id: who.agency_id,
        };
        w.h.apply(e, at, None);
    }

    fn unread_ids(w: &World, v: &Viewer, at: DateTime<Utc>) -> Vec<NoteId> {
        let notes = unread(&w.h.conn, TENANT, v, at, 50).unwrap();
        assert_eq!(
            unread_count(&w.h.conn, TENANT, v, at).unwrap(),
            notes.len() as u64
        );
        notes.iter().map(|n| n.note_id).collect()
    }

    #[test]
    fn unread_excludes_own_notes_and_acknowledged_ones() {
        let mut w = world();
        assert_eq!(unread_ids(&w, &w.author, day(3)), vec![]);
        let listed = unread(&w.h.conn, TENANT, &w.colleague, day(3), 50).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].basis, Basis::OwnAgency);
        assert_eq!(listed[0].posted_at, day(2));
        let colleague = w.colleague.clone();
        ack(&mut w, &colleague, day(4));
        assert_eq!(unread_ids(&w, &w.colleague, day(4)), vec![]);
        // as known on day 3 the acknowledgement had not happened yet
        assert_eq!(unread_ids(&w, &w.colleague, day(3)), vec![w.note]);
        // before the note was posted there was nothing to read
        assert_eq!(unread_ids(&w, &w.colleague, day(1)), vec![]);
    }

    #[test]
    fn unread_follows_consent_granted_then_withdrawn() {
        let mut w = world();
        assert_eq!(unread_ids(&w, &w.other, day(3)), vec![]);
        let consent_id = ConsentId(Uuid::now_v7());
        let granted = ConsentGranted {
            resident_id: w.resident,
            consent_id,
            agencies: vec![w.agency_b],
            categories: vec![InfoCategory::Health],
            purpose: "coordination".into(),
            method: ConsentMethod::Written,
            obtained_by: w.author.member_id,
            valid_from: day(3),
            valid_until: None,
            document_ref: None,
        };
        w.h.apply(granted, day(3), None);
        let listed = unread(&w.h.conn, TENANT, &w.other, day(3), 50).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].basis, Basis::Consent { consent_id });
        let withdrawn = ConsentWithdrawn {
            resident_id: w.resident,
            consent_id,
            effective_at: day(5),
            reason: None,
        };
        w.h.apply(withdrawn, day(5), None);
        assert_eq!(unread_ids(&w, &w.other, day(5)), vec![]);
        assert_eq!(unread_ids(&w, &w.other, day(4)), vec![w.note]);
    }

    #[test]
    fn redacted_notes_leave_the_unread_list_suspended_and_leavers_see_nothing() {
        let mut w = world();
        let second = post(&mut w.h, w.resident, &w.author, day(3));
        assert_eq!(unread_ids(&w, &w.colleague, day(4)), vec![second, w.note]);
        let redacted = NoteRedacted {
            resident_id: w.resident,
            note_id: second,
            reason: "wrong resident".into(),
            redacted_by: w.author.member_id,
        };
        w.h.apply(redacted, day(5), None);
        assert_eq!(unread_ids(&w, &w.colleague, day(5)), vec![w.note]);
        assert_eq!(unread_ids(&w, &w.colleague, day(4)), vec![second, w.note]);
        let mut suspended = w.colleague.clone();
        suspended.active = false;
        assert_eq!(unread_ids(&w, &suspended, day(5)), vec![]);
        let removed = CareTeamMemberRemoved {
            resident_id: w.resident,
            member_id: w.colleague.member_id,
        };
        w.h.apply(removed, day(6), None);
        assert_eq!(unread_ids(&w, &w.colleague, day(6)), vec![]);
    }

    #[test]
    fn readers_are_listed_only_to_those_who_may_see_the_note() {
        let mut w = world();
        let colleague = w.colleague.clone();
        ack(&mut w, &colleague, day(4));
        let read = readers(&w.h.conn, TENANT, &w.author, w.note, day(4)).unwrap();
        let expected = NoteReader {
            member_id: colleague.member_id,
            agency_id: colleague.agency_id,
            acknowledged_at: day(4),
        };
        assert_eq!(read, Some(vec![expected]));
        let before = readers(&w.h.conn, TENANT, &w.author, w.note, day(3)).unwrap();
        assert_eq!(before, Some(vec![]));
        let not_yet = readers(&w.h.conn, TENANT, &w.author, w.note, day(1)).unwrap();
        assert_eq!(not_yet, None);
        let no_consent = readers(&w.h.conn, TENANT, &w.other, w.note, day(4)).unwrap();
        assert_eq!(no_consent, None);
    }
}
