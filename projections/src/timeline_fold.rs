//! The timeline rebuilt in memory ([`MemoryFold`]): every row kept as `apply` would write it,
//! then written in key order once the log is folded.
//!
//! An erasure is kept as a position per resident and applied while writing: `apply` empties
//! every personal value the resident's rows hold at the time of the erasure, so a value goes
//! exactly when it was written at or before the resident's last erasure.

use std::collections::HashMap;
use std::sync::Mutex;

use kasane_domain::{Event, NoteId};
use rusqlite::{Connection, params};

use super::{
    EntryRow, INSERT_BODY, INSERT_ENTRY, INSERT_NOTE, INSERT_PAYLOAD, NoteRow, erased_payload,
    subject, unknown_note,
};
use crate::codec::micros;
use crate::folding::{Chunks, Tenant, Tenants};
use crate::{Envelope, MemoryFold, ProjectionError};

/// The fold's rows while a rebuild runs (`None` between rebuilds).
#[derive(Debug, Default)]
pub(super) struct TimelineFold {
    state: Mutex<Option<State>>,
}

/// Everything `apply` would have written so far.
#[derive(Debug, Default)]
struct Rows {
    tenants: Tenants,
    entries: Chunks<(Tenant, EntryRow)>,
    /// `timeline_payloads` in log order, with whose they are.
    payloads: Chunks<Payload>,
    /// `timeline_notes`, each with the position its current body was written at.
    notes: Chunks<(Tenant, NoteRow, i64)>,
    /// Where each note is in `notes` (small values: the map grows by moving them).
    note_index: HashMap<[u8; 16], u32>,
    /// `timeline_note_bodies` rows.
    bodies: Chunks<Body>,
    /// The position of each resident's last erasure.
    erased: HashMap<(Tenant, [u8; 16]), i64>,
}

#[derive(Debug)]
struct Payload {
    tenant: Tenant,
    resident: [u8; 16],
    position: i64,
    text: String,
}

#[derive(Debug)]
struct Body {
    note_id: [u8; 16],
    position: i64,
    recorded_at: i64,
    body: Option<String>,
}

impl Rows {
    /// [`super::Timeline::apply`], in memory.
    fn fold(&mut self, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        let Some((resident, note)) = subject(env.event) else {
            return Ok(());
        };
        let tenant = self.tenants.of(env.tenant);
        let position = env.position as i64;
        let note_position = match (env.event, note) {
            (Event::NotePosted(_), _) => Some(position),
            (_, Some(note)) => Some(
                note_row(&self.note_index, &mut self.notes, note)?
                    .1
                    .posted_position,
            ),
            (_, None) => None,
        };
        let entry = EntryRow::of(env, resident, note_position);
        if note.is_none() {
            self.payloads.push(Payload {
                tenant,
                resident: entry.resident,
                position,
                text: env.event.to_payload_string(),
            });
        }
        self.entries.push((tenant, entry));
        match env.event {
            Event::NotePosted(e) => {
                let row = NoteRow::posted(env, e)?;
                let index = self.notes.len() as u32;
                if self.note_index.insert(row.note_id, index).is_some() {
                    return Err(ProjectionError::Corrupt(format!(
                        "note {} is posted twice",
                        e.note_id.0
                    )));
                }
                self.notes.push((tenant, row, position));
            }
            Event::NoteCorrected(e) => {
                let (_, row, body_position) =
                    note_row(&self.note_index, &mut self.notes, e.note_id)?;
                let body = e.body.known().cloned();
                if row.corrected_recorded_at.is_none() {
                    self.bodies.push(Body {
                        note_id: row.note_id,
                        position: row.posted_position,
                        recorded_at: row.posted_recorded_at,
                        body: row.body.clone(),
                    });
                }
                let note_id = row.note_id;
                row.body = body.clone();
                row.corrected_recorded_at = Some(micros(env.recorded_at));
                *body_position = position;
                self.bodies.push(Body {
                    note_id,
                    position,
                    recorded_at: micros(env.recorded_at),
                    body,
                });
            }
            Event::NoteRedacted(e) => {
                let (_, row, _) = note_row(&self.note_index, &mut self.notes, e.note_id)?;
                if row.redacted_at.is_none() {
                    row.redacted_at = Some(micros(env.occurred_at));
                    row.redacted_recorded_at = Some(micros(env.recorded_at));
                }
            }
            Event::ResidentErased(_) => {
                self.erased
                    .insert((tenant, *resident.0.as_bytes()), position);
            }
            _ => {}
        }
        Ok(())
    }

    /// Every row in its table's key order, erasures applied: all the work of writing but
    /// SQLite's.
    fn sort(self) -> Result<Sorted, ProjectionError> {
        let Rows {
            tenants,
            entries,
            payloads,
            notes,
            note_index,
            bodies,
            erased,
        } = self;
        let erased_at = |t: Tenant, resident: &[u8; 16], position: i64| {
            erased
                .get(&(t, *resident))
                .is_some_and(|&erased| erased >= position)
        };
        let order = tenants.ranks();
        let mut entries = entries.into_vec();
        entries.sort_unstable_by_key(|(t, e)| (order[*t as usize], e.resident, e.position));
        let mut notes = notes.into_vec();
        // Bodies are keyed by note; whose note it is comes from the notes.
        let mut bodies = bodies.into_vec();
        for b in &mut bodies {
            let (t, note, _) = &notes[note_index[&b.note_id] as usize];
            if erased_at(*t, &note.resident, b.position) {
                b.body = None;
            }
        }
        bodies.sort_unstable_by_key(|b| (b.note_id, b.position));
        for (t, n, body_position) in &mut notes {
            if erased_at(*t, &n.resident, *body_position) {
                n.body = None;
            }
        }
        notes.sort_unstable_by_key(|(t, n, _)| (order[*t as usize], n.resident, n.posted_position));
        let mut texts = Vec::with_capacity(payloads.len());
        for p in payloads.into_vec() {
            let text = match erased_at(p.tenant, &p.resident, p.position) {
                true => erased_payload(&p.text)?,
                false => p.text,
            };
            texts.push((p.position, text));
        }
        Ok(Sorted {
            tenants,
            entries,
            payloads: texts,
            notes,
            bodies,
        })
    }
}

/// Rows a write commits at a time: a few tens of MB of WAL, which the checkpointer copies
/// into the database file while the next ones are written.
const ROWS_PER_COMMIT: usize = 100_000;

/// The rows ready to be written: each table's in key order, erasures applied.
#[derive(Debug)]
struct Sorted {
    tenants: Tenants,
    entries: Vec<(Tenant, EntryRow)>,
    payloads: Vec<(i64, String)>,
    notes: Vec<(Tenant, NoteRow, i64)>,
    bodies: Vec<Body>,
}

impl Sorted {
    /// Writes every row into the (empty) tables, committing every [`ROWS_PER_COMMIT`] rows.
    /// Entries go last, so that a reader between two commits finds each entry's payload and
    /// note (it sees fewer entries, never an entry without them).
    fn write(
        &self,
        conn: &Connection,
        commit: &mut dyn FnMut() -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        let name = |t: Tenant| self.tenants.name(t);
        let mut written = 0;
        let mut count = |n: usize| -> Result<(), ProjectionError> {
            written += n;
            if written >= ROWS_PER_COMMIT {
                written = 0;
                commit()?;
            }
            Ok(())
        };
        let mut insert = conn.prepare_cached(INSERT_PAYLOAD)?;
        for (position, text) in &self.payloads {
            count(1)?;
            insert.execute(params![position, text])?;
        }
        let mut insert = conn.prepare_cached(INSERT_BODY)?;
        for b in &self.bodies {
            count(1)?;
            insert.execute(params![b.note_id, b.position, b.recorded_at, b.body])?;
        }
        let mut insert = conn.prepare_cached(INSERT_NOTE)?;
        for (t, n, _) in &self.notes {
            count(1)?;
            insert.execute(params![
                name(*t),
                n.resident,
                n.posted_position,
                n.note_id,
                n.posted_at,
                n.posted_recorded_at,
                n.author,
                n.author_agency,
                n.category,
                n.info_categories,
                n.describes_at,
                n.redacted_at,
                n.redacted_recorded_at,
                n.body,
                n.corrected_recorded_at,
            ])?;
        }
        let mut insert = conn.prepare_cached(INSERT_ENTRY)?;
        for (t, e) in &self.entries {
            count(1)?;
            insert.execute(params![
                name(*t),
                e.resident,
                e.position,
                e.stream_version,
                e.kind,
                e.recorded_at,
                e.occurred_at,
                e.actor_member,
                e.actor_agency,
                e.note_position
            ])?;
        }
        Ok(())
    }
}

/// The row of a note posted earlier in the log.
fn note_row<'a>(
    index: &HashMap<[u8; 16], u32>,
    notes: &'a mut Chunks<(Tenant, NoteRow, i64)>,
    note: NoteId,
) -> Result<&'a mut (Tenant, NoteRow, i64), ProjectionError> {
    let found = match index.get(note.0.as_bytes()) {
        Some(&i) => notes.get_mut(i as usize),
        None => None,
    };
    found.ok_or_else(|| unknown_note(note))
}

/// Where a rebuild's fold stands.
#[derive(Debug)]
enum State {
    Folding(Box<Rows>),
    Sorted(Box<Sorted>),
    /// Sorting failed (the error is reported by `write`).
    Failed(String),
}

impl TimelineFold {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MemoryFold for TimelineFold {
    fn begin(&self) {
        *self.lock() = Some(State::Folding(Box::default()));
    }

    fn fold(&self, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        match self.lock().as_mut() {
            Some(State::Folding(rows)) => rows.fold(env),
            _ => Err(not_begun()),
        }
    }

    fn prepare(&self) {
        let mut state = self.lock();
        if let Some(State::Folding(_)) = state.as_ref()
            && let Some(State::Folding(rows)) = state.take()
        {
            *state = Some(match rows.sort() {
                Ok(sorted) => State::Sorted(Box::new(sorted)),
                Err(e) => State::Failed(e.to_string()),
            });
        }
    }

    fn write(
        &self,
        conn: &Connection,
        commit: &mut dyn FnMut() -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        let sorted = match self.lock().take() {
            Some(State::Folding(rows)) => rows.sort()?,
            Some(State::Sorted(sorted)) => *sorted,
            Some(State::Failed(e)) => return Err(ProjectionError::Corrupt(e)),
            None => return Err(not_begun()),
        };
        // The notes' index by id is built after the rows, in one sorted pass.
        conn.execute_batch("DROP INDEX IF EXISTS timeline_notes_by_id")?;
        let written = sorted.write(conn, commit);
        // Freeing a few hundred MB of rows takes a while: not on the writer.
        std::thread::spawn(move || drop(sorted));
        written
    }

    fn abandon(&self) {
        self.lock().take();
    }
}

fn not_begun() -> ProjectionError {
    ProjectionError::Corrupt("the timeline's memory fold was not begun (a runner bug)".into())
}
