//! The bitemporal timeline of each resident: one entry per event of the case file, in
//! recorded order, answerable as of any instant T.
//!
//! As of T means: only entries recorded at or before T exist; a note reads with the last body
//! recorded at or before T (a later correction is not yet known); a redaction recorded after
//! T has not happened yet; and the sharing rule is asked at T over the case file as known at
//! T ([`crate::case_facts::load`]). Each entry carries the basis on which it was shown.

use chrono::{DateTime, Utc};
use kasane_domain::events::NotePosted;
use kasane_domain::personal::{ERASED_KEY, PERSONAL_KEY};
use kasane_domain::vocab::{InfoCategory, NoteCategory};
use kasane_domain::{
    AgencyId, Basis, Event, MemberId, NoteFacts, NoteId, ResidentId, Viewer, case_basis, note_basis,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::case_facts::strip_personal;
use crate::codec::{blob, from_json, from_name, json, micros, name_of, opt_uuid, text, time, uuid};
use crate::page::{MAX_PAGE, cursor, parse_cursor};
use crate::{Envelope, Projection, ProjectionError};

/// The projection behind [`timeline`].
#[derive(Debug, Default)]
pub struct Timeline {
    /// A rebuild's rows, folded in memory ([`crate::MemoryFold`]).
    fold: fold::TimelineFold,
}

#[path = "timeline_fold.rs"]
mod fold;

const TABLES: &[&str] = &[
    "timeline",
    "timeline_payloads",
    "timeline_notes",
    "timeline_note_bodies",
];

/// How corrections, redactions and acknowledgements find a note's row.
const NOTES_BY_ID: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS timeline_notes_by_id ON timeline_notes (note_id);";

// A page reads a few neighbouring B-tree pages (the entries and the notes, both clustered by
// resident) instead of one page per entry. This matters because a reader's page cache is
// emptied whenever another connection commits (SQLite's WAL mode): on almost every request
// under load. The log visits residents at random, so a rebuild folds the rows in memory and
// writes them in key order at the end (`fold`).
impl Projection for Timeline {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn version(&self) -> String {
        "7".into()
    }

    fn tables(&self) -> &'static [&'static str] {
        TABLES
    }

    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS timeline (
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                position INTEGER NOT NULL,
                stream_version INTEGER NOT NULL,
                kind TEXT NOT NULL,
                recorded_at INTEGER NOT NULL,
                occurred_at INTEGER NOT NULL,
                actor_member BLOB,
                actor_agency BLOB,
                note_position INTEGER,
                PRIMARY KEY (tenant, resident, position)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS timeline_payloads (
                position INTEGER PRIMARY KEY,
                payload TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS timeline_notes (
                tenant TEXT NOT NULL,
                resident BLOB NOT NULL,
                posted_position INTEGER NOT NULL,
                note_id BLOB NOT NULL,
                posted_at INTEGER NOT NULL,
                posted_recorded_at INTEGER NOT NULL,
                author BLOB NOT NULL,
                author_agency BLOB NOT NULL,
                category TEXT NOT NULL,
                info_categories TEXT NOT NULL,
                describes_at INTEGER NOT NULL,
                redacted_at INTEGER,
                redacted_recorded_at INTEGER,
                body TEXT,
                corrected_recorded_at INTEGER,
                PRIMARY KEY (tenant, resident, posted_position)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS timeline_note_bodies (
                note_id BLOB NOT NULL,
                position INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                body TEXT,
                PRIMARY KEY (note_id, position)
            ) WITHOUT ROWID;",
        )?;
        conn.execute_batch(NOTES_BY_ID)?;
        Ok(())
    }

    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let Some((resident, note)) = subject(env.event) else {
            return Ok(());
        };
        let note_position = match (env.event, note) {
            (Event::NotePosted(_), _) => Some(env.position as i64),
            (_, Some(note)) => Some(posted_position(conn, note)?),
            (_, None) => None,
        };
        let row = EntryRow::of(env, resident, note_position);
        conn.prepare_cached(INSERT_ENTRY)?.execute(params![
            env.tenant,
            row.resident,
            row.position,
            row.stream_version,
            row.kind,
            row.recorded_at,
            row.occurred_at,
            row.actor_member,
            row.actor_agency,
            row.note_position
        ])?;
        // A note entry is shown through its note's row (facts, body as of T), not its payload.
        if note.is_none() {
            conn.prepare_cached(INSERT_PAYLOAD)?
                .execute(params![row.position, env.event.to_payload_string()])?;
        }
        match env.event {
            Event::NotePosted(e) => {
                let row = NoteRow::posted(env, e)?;
                conn.prepare_cached(INSERT_NOTE)?.execute(params![
                    env.tenant,
                    row.resident,
                    row.posted_position,
                    row.note_id,
                    row.posted_at,
                    row.posted_recorded_at,
                    row.author,
                    row.author_agency,
                    row.category,
                    row.info_categories,
                    row.describes_at,
                    row.redacted_at,
                    row.redacted_recorded_at,
                    row.body,
                    row.corrected_recorded_at,
                ])?;
            }
            Event::NoteCorrected(e) => correct(conn, env, e.note_id, e.body.known())?,
            Event::NoteRedacted(e) => {
                conn.prepare_cached(
                    "UPDATE timeline_notes SET redacted_at = ?2, redacted_recorded_at = ?3 \
                     WHERE note_id = ?1 AND redacted_at IS NULL",
                )?
                .execute(params![
                    e.note_id.0.as_bytes(),
                    micros(env.occurred_at),
                    micros(env.recorded_at)
                ])?;
            }
            Event::ResidentErased(_) => erase(conn, env.tenant, resident)?,
            _ => {}
        }
        Ok(())
    }

    fn memory_fold(&self) -> Option<&dyn crate::MemoryFold> {
        Some(&self.fold)
    }
}

const INSERT_ENTRY: &str = "INSERT INTO timeline (tenant, resident, position, stream_version, \
    kind, recorded_at, occurred_at, actor_member, actor_agency, note_position) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const INSERT_PAYLOAD: &str = "INSERT INTO timeline_payloads (position, payload) VALUES (?1, ?2)";

const INSERT_NOTE: &str = "INSERT INTO timeline_notes (tenant, resident, posted_position, \
    note_id, posted_at, posted_recorded_at, author, author_agency, category, info_categories, \
    describes_at, redacted_at, redacted_recorded_at, body, corrected_recorded_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const INSERT_BODY: &str = "INSERT OR IGNORE INTO timeline_note_bodies \
    (note_id, position, recorded_at, body) VALUES (?1, ?2, ?3, ?4)";

/// A `timeline` row but its tenant, as `apply` and the memory fold both write it.
#[derive(Debug)]
struct EntryRow {
    resident: [u8; 16],
    position: i64,
    stream_version: i64,
    kind: &'static str,
    recorded_at: i64,
    occurred_at: i64,
    actor_member: Option<[u8; 16]>,
    actor_agency: Option<[u8; 16]>,
    note_position: Option<i64>,
}

impl EntryRow {
    fn of(env: &Envelope<'_>, resident: ResidentId, note_position: Option<i64>) -> Self {
        EntryRow {
            resident: *resident.0.as_bytes(),
            position: env.position as i64,
            stream_version: env.stream_version as i64,
            kind: env.event.event_type(),
            recorded_at: micros(env.recorded_at),
            occurred_at: micros(env.occurred_at),
            actor_member: env.actor.map(|a| *a.member.as_bytes()),
            actor_agency: env.actor.map(|a| *a.agency.as_bytes()),
            note_position,
        }
    }
}

/// A `timeline_notes` row but its tenant, as posted.
#[derive(Debug)]
struct NoteRow {
    resident: [u8; 16],
    posted_position: i64,
    note_id: [u8; 16],
    posted_at: i64,
    posted_recorded_at: i64,
    author: [u8; 16],
    author_agency: [u8; 16],
    category: String,
    info_categories: String,
    describes_at: i64,
    redacted_at: Option<i64>,
    redacted_recorded_at: Option<i64>,
    body: Option<String>,
    corrected_recorded_at: Option<i64>,
}

impl NoteRow {
    fn posted(env: &Envelope<'_>, e: &NotePosted) -> Result<Self, ProjectionError> {
        Ok(NoteRow {
            resident: *e.resident_id.0.as_bytes(),
            posted_position: env.position as i64,
            note_id: *e.note_id.0.as_bytes(),
            posted_at: micros(env.occurred_at),
            posted_recorded_at: micros(env.recorded_at),
            author: *e.author.0.as_bytes(),
            author_agency: *e.author_agency.0.as_bytes(),
            category: name_of(&e.category),
            info_categories: json(&e.info_categories)?,
            describes_at: micros(e.describes_at),
            redacted_at: None,
            redacted_recorded_at: None,
            body: e.body.known().cloned(),
            corrected_recorded_at: None,
        })
    }
}

/// Where `note` was posted: the key of its `timeline_notes` row.
fn posted_position(conn: &Connection, note: NoteId) -> Result<i64, ProjectionError> {
    conn.prepare_cached("SELECT posted_position FROM timeline_notes WHERE note_id = ?1")?
        .query_row(params![note.0.as_bytes()], |r| r.get(0))
        .optional()?
        .ok_or_else(|| unknown_note(note))
}

/// The error for an event about a note the timeline never saw posted.
fn unknown_note(note: NoteId) -> ProjectionError {
    ProjectionError::Corrupt(format!("the timeline has no note {}", note.0))
}

/// A correction replaces the note's current body; the bodies it replaced are kept in
/// `timeline_note_bodies` (the posted one too, on the first correction) for as-of reads.
fn correct(
    conn: &Connection,
    env: &Envelope<'_>,
    note: NoteId,
    body: Option<&String>,
) -> Result<(), ProjectionError> {
    // Only the first correction finds no history yet: the posted body goes in first.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO timeline_note_bodies (note_id, position, recorded_at, body) \
         SELECT note_id, posted_position, posted_recorded_at, body FROM timeline_notes \
         WHERE note_id = ?1 AND corrected_recorded_at IS NULL",
    )?
    .execute(params![note.0.as_bytes()])?;
    conn.prepare_cached(INSERT_BODY)?.execute(params![
        note.0.as_bytes(),
        env.position as i64,
        micros(env.recorded_at),
        body
    ])?;
    conn.prepare_cached(
        "UPDATE timeline_notes SET body = ?2, corrected_recorded_at = ?3 WHERE note_id = ?1",
    )?
    .execute(params![note.0.as_bytes(), body, micros(env.recorded_at)])?;
    Ok(())
}

/// Crypto-shredding reaches the read model too: every personal value of the resident goes.
fn erase(conn: &Connection, tenant: &str, resident: ResidentId) -> Result<(), ProjectionError> {
    let rows: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT p.position, p.payload FROM timeline t \
             JOIN timeline_payloads p ON p.position = t.position \
             WHERE t.tenant = ?1 AND t.resident = ?2",
        )?
        .query_map(params![tenant, resident.0.as_bytes()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut update =
        conn.prepare_cached("UPDATE timeline_payloads SET payload = ?2 WHERE position = ?1")?;
    for (position, payload) in rows {
        update.execute(params![position, erased_payload(&payload)?])?;
    }
    conn.prepare_cached(
        "UPDATE timeline_note_bodies SET body = NULL WHERE note_id IN \
         (SELECT note_id FROM timeline_notes WHERE tenant = ?1 AND resident = ?2)",
    )?
    .execute(params![tenant, resident.0.as_bytes()])?;
    conn.prepare_cached(
        "UPDATE timeline_notes SET body = NULL WHERE tenant = ?1 AND resident = ?2",
    )?
    .execute(params![tenant, resident.0.as_bytes()])?;
    Ok(())
}

/// A stored payload with every personal value replaced by the erased marker.
fn erased_payload(payload: &str) -> Result<String, ProjectionError> {
    let mut value: serde_json::Value = serde_json::from_str(payload)?;
    strip_personal(&mut value);
    Ok(serde_json::to_string(&value)?)
}

/// The resident an event belongs to (case-file events only) and the note it is about.
fn subject(event: &Event) -> Option<(ResidentId, Option<NoteId>)> {
    use Event::*;
    Some(match event {
        NotePosted(e) => (e.resident_id, Some(e.note_id)),
        NoteCorrected(e) => (e.resident_id, Some(e.note_id)),
        NoteRedacted(e) => (e.resident_id, Some(e.note_id)),
        NoteAcknowledged(e) => (e.resident_id, Some(e.note_id)),
        ResidentRegistered(e) => (e.resident_id, None),
        ResidentDetailsChanged(e) => (e.resident_id, None),
        HouseholdLinked(e) => (e.resident_id, None),
        HouseholdUnlinked(e) => (e.resident_id, None),
        CareTeamMemberAdded(e) => (e.resident_id, None),
        CareTeamMemberRemoved(e) => (e.resident_id, None),
        ConsentGranted(e) => (e.resident_id, None),
        ConsentWithdrawn(e) => (e.resident_id, None),
        ReferralMade(e) => (e.resident_id, None),
        ReferralAccepted(e) => (e.resident_id, None),
        ReferralDeclined(e) => (e.resident_id, None),
        ReferralWithdrawn(e) => (e.resident_id, None),
        ReferralCompleted(e) => (e.resident_id, None),
        SupportMeetingRecorded(e) => (e.resident_id, None),
        SupportPlanSet(e) => (e.resident_id, None),
        CaseClosed(e) => (e.resident_id, None),
        CaseReopened(e) => (e.resident_id, None),
        BreakGlassInvoked(e) => (e.resident_id, None),
        ResidentErased(e) => (e.resident_id, None),
        AgencyRegistered(_) | MemberEnrolled(_) | MemberSuspended(_) | MemberReinstated(_)
        | AccessRecorded(_) => return None,
    })
}

/// Which way a timeline page runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Order {
    /// Newest entry first (what a supporter scrolls).
    #[default]
    NewestFirst,
    /// Recorded order (what an auditor replays).
    OldestFirst,
}

/// What to return from a timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineQuery {
    /// The instant the timeline is read as of (now for a live read).
    pub at: DateTime<Utc>,
    /// Page size (clamped to 1..=[`MAX_PAGE`]).
    pub first: usize,
    /// Cursor from the previous page.
    pub after: Option<String>,
    /// Direction.
    pub order: Order,
    /// Only notes of these categories (other entries are left out when set).
    pub categories: Vec<NoteCategory>,
    /// Only notes written by members of this agency (other entries are left out when set).
    pub author_agency: Option<AgencyId>,
    /// Only entries whose business time is at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Only entries whose business time is before this.
    pub until: Option<DateTime<Utc>>,
    /// Whether entries other than notes carry their payload; a caller that will not show it
    /// says `false` and saves a row lookup and a JSON parse per such entry.
    pub details: bool,
}

impl TimelineQuery {
    /// The first `first` entries as of `at`, newest first, unfiltered.
    pub fn at(at: DateTime<Utc>, first: usize) -> Self {
        TimelineQuery {
            at,
            first,
            after: None,
            order: Order::NewestFirst,
            categories: Vec::new(),
            author_agency: None,
            from: None,
            until: None,
            details: true,
        }
    }

    fn filters_notes(&self) -> bool {
        !self.categories.is_empty() || self.author_agency.is_some()
    }
}

/// A note as the viewer may see it at the query's instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoteView {
    /// The note.
    pub note_id: NoteId,
    /// What kind of note.
    pub category: NoteCategory,
    /// The information categories it contains.
    pub info_categories: Vec<InfoCategory>,
    /// Who wrote it.
    pub author: MemberId,
    /// The author's agency.
    pub author_agency: AgencyId,
    /// Business time of the post.
    pub posted_at: DateTime<Utc>,
    /// The time the note describes.
    pub describes_at: DateTime<Utc>,
    /// The body as last corrected by the instant; `None` when withheld (metadata-only
    /// basis) or erased.
    pub body: Option<String>,
    /// True when a correction was recorded by the instant.
    pub corrected: bool,
    /// True when the note was redacted by the instant (only auditors see such notes).
    pub redacted: bool,
}

/// One timeline entry as shown to a viewer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Global position of the event (also its identity in the timeline).
    pub position: u64,
    /// Version of the case file after this event.
    pub stream_version: u64,
    /// The event type.
    pub kind: String,
    /// Server time.
    pub recorded_at: DateTime<Utc>,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor_member: Option<MemberId>,
    /// For which agency.
    pub actor_agency: Option<AgencyId>,
    /// Why this viewer may see it (what the access record will say).
    pub basis: Basis,
    /// The note, for note entries.
    pub note: Option<NoteView>,
    /// The event's payload for entries that are not about a note (those show `note`
    /// instead): personal values opened, or `{"$withheld": true}` for a metadata-only basis,
    /// or `{"$erased": true}`.
    pub payload: Option<serde_json::Value>,
}

/// A page of a timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelinePage {
    /// The visible entries.
    pub entries: Vec<TimelineEntry>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The case file's version as of the instant (what an access record reflects).
    pub up_to_version: u64,
    /// The basis on which the viewer sees the case file at all.
    pub case_basis: Basis,
}

/// A page of `resident`'s timeline as `viewer` may see it as of `q.at`.
///
/// The sharing rule filters inside the scan: a page holds `first` visible entries (or ends
/// the timeline), never fewer because some were hidden. Refused with `NOT_ON_CARE_TEAM`
/// (or `MEMBER_INACTIVE`) when the viewer may not see the case file at all.
pub fn timeline(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    q: &TimelineQuery,
) -> Result<TimelinePage, ProjectionError> {
    let case = crate::case_facts::load(conn, tenant, resident, q.at)?;
    timeline_with_case(conn, tenant, viewer, resident, &case, q)
}

/// [`timeline`] with the case file's sharing facts supplied by the caller, who already holds
/// them (the API's write-path cache), instead of folding `case_facts` again.
///
/// `case` must be the case file as known at `q.at`. A caller that only knows it is the
/// *current* case file at some version checks the page's `up_to_version` against that version
/// and falls back to [`timeline`] when the log moved on in between.
pub fn timeline_with_case(
    conn: &Connection,
    tenant: &str,
    viewer: &Viewer,
    resident: ResidentId,
    case: &kasane_domain::CaseFile,
    q: &TimelineQuery,
) -> Result<TimelinePage, ProjectionError> {
    let case_basis = case_basis(case, viewer, q.at).map_err(ProjectionError::Refused)?;
    let first = q.first.clamp(1, MAX_PAGE);
    let at = micros(q.at);
    let boundary = match &q.after {
        Some(c) => parse_cursor(c)?,
        None => match q.order {
            Order::NewestFirst => i64::MAX,
            Order::OldestFirst => 0,
        },
    };
    let (bound, direction) = match q.order {
        Order::NewestFirst => ("<", "DESC"),
        Order::OldestFirst => (">", "ASC"),
    };
    let sql = format!(
        "SELECT t.position, t.stream_version, t.kind, t.recorded_at, t.occurred_at, \
         t.actor_member, t.actor_agency, n.note_id, t.note_position, n.posted_at, n.author, \
         n.author_agency, n.category, n.info_categories, n.describes_at, n.redacted_at, \
         n.redacted_recorded_at, n.posted_position, n.body, n.corrected_recorded_at \
         FROM timeline t LEFT JOIN timeline_notes n ON n.tenant = t.tenant \
         AND n.resident = t.resident AND n.posted_position = t.note_position \
         WHERE t.tenant = ?1 AND t.resident = ?2 AND t.position {bound} ?3 AND t.recorded_at <= ?4 \
         ORDER BY t.position {direction}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![tenant, resident.0.as_bytes(), boundary, at])?;
    let mut body_stmt = conn.prepare_cached(
        "SELECT body, position FROM timeline_note_bodies WHERE note_id = ?1 AND recorded_at <= ?2 \
         ORDER BY position DESC LIMIT 1",
    )?;
    let mut payload_stmt =
        conn.prepare_cached("SELECT payload FROM timeline_payloads WHERE position = ?1")?;
    let mut entries = Vec::with_capacity(first);
    let mut more = false;
    while let Some(row) = rows.next()? {
        let occurred_at = time(row.get(4)?)?;
        if q.from.is_some_and(|f| occurred_at < f) || q.until.is_some_and(|u| occurred_at >= u) {
            continue;
        }
        let (basis, note) = match opt_uuid(row, 7)? {
            None if q.filters_notes() => continue,
            None => (case_basis, None),
            Some(id) => {
                let note_id = NoteId(id);
                let category: NoteCategory = from_name(text(row, 12)?)?;
                let author_agency = AgencyId(uuid(blob(row, 11)?)?);
                if !q.categories.is_empty() && !q.categories.contains(&category) {
                    continue;
                }
                if q.author_agency.is_some_and(|a| a != author_agency) {
                    continue;
                }
                let info_categories: Vec<InfoCategory> = from_json(text(row, 13)?)?;
                let redacted_recorded: Option<i64> = row.get(16)?;
                let redacted_at = match redacted_recorded {
                    Some(r) if r <= at => Some(time(row.get(15)?)?),
                    _ => None,
                };
                let posted_at = time(row.get(9)?)?;
                let facts = NoteFacts {
                    posted_at,
                    author_agency,
                    info_categories: &info_categories,
                    redacted_at,
                };
                let Ok(basis) = note_basis(case, viewer, facts, q.at) else {
                    continue;
                };
                let posted_position: i64 = row.get(17)?;
                let withheld = basis == Basis::AuditorMetadata;
                // The current body answers unless a correction was recorded after T.
                let (body, corrected) = match row.get::<_, Option<i64>>(19)? {
                    None => (row.get(18)?, false),
                    Some(last) if last <= at => (row.get(18)?, true),
                    Some(_) => {
                        let (body, position): (Option<String>, i64) = body_stmt
                            .query_row(params![id.as_bytes(), at], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })?;
                        (body, position != posted_position)
                    }
                };
                let view = NoteView {
                    note_id,
                    category,
                    author: MemberId(uuid(blob(row, 10)?)?),
                    author_agency,
                    posted_at,
                    describes_at: time(row.get(14)?)?,
                    body: if withheld { None } else { body },
                    corrected,
                    redacted: redacted_at.is_some(),
                    info_categories,
                };
                (basis, Some(view))
            }
        };
        if entries.len() == first {
            more = true;
            break;
        }
        let position: i64 = row.get(0)?;
        // Only entries that are not about a note have a payload; it is kept apart, so the scan
        // above reads narrow rows, and fetched for the entries returned.
        let payload = match row.get::<_, Option<i64>>(8)? {
            Some(_) => None,
            None if !q.details => None,
            None => payload_stmt
                .query_row([position], |r| r.get::<_, Option<String>>(0))?
                .map(|text| {
                    let mut payload: serde_json::Value = serde_json::from_str(&text)?;
                    render_personal(&mut payload, basis == Basis::AuditorMetadata);
                    Ok::<_, ProjectionError>(payload)
                })
                .transpose()?,
        };
        entries.push(TimelineEntry {
            position: position as u64,
            stream_version: row.get::<_, i64>(1)? as u64,
            kind: text(row, 2)?.to_owned(),
            recorded_at: time(row.get(3)?)?,
            occurred_at,
            actor_member: opt_uuid(row, 5)?.map(MemberId),
            actor_agency: opt_uuid(row, 6)?.map(AgencyId),
            basis,
            note,
            payload,
        });
    }
    let next_cursor = if more {
        entries.last().map(|e| cursor(e.position as i64))
    } else {
        None
    };
    let up_to_version = conn
        .prepare_cached(
            "SELECT stream_version FROM timeline WHERE tenant = ?1 AND resident = ?2 \
             AND recorded_at <= ?3 ORDER BY position DESC LIMIT 1",
        )?
        .query_row(params![tenant, resident.0.as_bytes(), at], |r| {
            r.get::<_, i64>(0)
        })
        .optional()?
        .unwrap_or(0) as u64;
    Ok(TimelinePage {
        entries,
        next_cursor,
        up_to_version,
        case_basis,
    })
}

/// Where `note` lives: its resident and the position of its `NotePosted`, or `None` for a
/// note this tenant never posted. Lets the access ledger scan only that resident's reads.
pub fn note_home(
    conn: &Connection,
    tenant: &str,
    note: NoteId,
) -> Result<Option<(ResidentId, u64)>, ProjectionError> {
    let found = conn
        .prepare_cached(
            "SELECT resident, posted_position FROM timeline_notes WHERE note_id = ?1 AND tenant = ?2",
        )?
        .query_row(params![note.0.as_bytes(), tenant], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    found
        .map(|(resident, posted)| Ok((ResidentId(uuid(&resident)?), posted as u64)))
        .transpose()
}

/// Opens `{"$personal": v}` to `v`, or replaces it by `{"$withheld": true}`.
fn render_personal(value: &mut serde_json::Value, withhold: bool) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(inner) = map.get_mut(PERSONAL_KEY) {
                *value = if withhold {
                    serde_json::json!({"$withheld": true})
                } else {
                    inner.take()
                };
            } else if !map.contains_key(ERASED_KEY) {
                map.values_mut().for_each(|v| render_personal(v, withhold));
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| render_personal(v, withhold))
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
