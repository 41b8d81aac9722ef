//! What a projection is: a named, versioned fold over envelopes into its own tables.

use chrono::{DateTime, Utc};
use kasane_domain::Event;
use kasane_store::{Actor, OpenedEvent, OpenedValues, RecordedEvent};
use rusqlite::Connection;
use uuid::Uuid;

/// One event as projections see it: the envelope's facts plus the decoded domain event.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// The tenant (municipality) the event belongs to.
    pub tenant: &'a str,
    /// The stream within the tenant.
    pub stream: &'a str,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Position in the global order; what checkpoints count.
    pub position: u64,
    /// Business time.
    pub occurred_at: DateTime<Utc>,
    /// Server time; as-of queries cut the log here.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Option<Actor>,
    /// Groups the events of one user intention.
    pub correlation_id: Uuid,
    /// The decoded event.
    pub event: &'a Event,
}

impl<'a> Envelope<'a> {
    /// The envelope of a recorded event whose payload was decoded into `event`.
    pub fn new(recorded: &'a RecordedEvent, event: &'a Event) -> Self {
        Envelope {
            tenant: &recorded.tenant,
            stream: &recorded.stream,
            stream_version: recorded.stream_version,
            position: recorded.global_position,
            occurred_at: recorded.occurred_at,
            recorded_at: recorded.recorded_at,
            actor: recorded.actor,
            correlation_id: recorded.correlation_id,
            event,
        }
    }

    /// The envelope of an event read for a replay, whose payload was decoded into `event`.
    pub fn opened(opened: &'a OpenedEvent, event: &'a Event) -> Self {
        Envelope {
            tenant: &opened.tenant,
            stream: &opened.stream,
            stream_version: opened.stream_version,
            position: opened.global_position,
            occurred_at: opened.occurred_at,
            recorded_at: opened.recorded_at,
            actor: opened.actor,
            correlation_id: opened.correlation_id,
            event,
        }
    }
}

/// The domain event of an event read for a replay, decoded straight from its stored text;
/// takes its opened personal values (they move into the event).
pub fn decode_opened(opened: &mut OpenedEvent) -> Result<Event, kasane_domain::DecodeError> {
    use kasane_domain::personal::sealed::SealedValues;
    let sealed = match std::mem::replace(&mut opened.personal, OpenedValues::None) {
        OpenedValues::None => SealedValues::Absent,
        OpenedValues::Opened(values) => SealedValues::Opened(values),
        OpenedValues::Erased => SealedValues::Erased,
    };
    Event::decode_stored(
        &opened.event_type,
        opened.schema_version,
        &opened.payload,
        sealed,
    )
}

/// Why a projection could not apply an event or answer a query.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The projection's database failed.
    #[error("projection storage failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be encoded or decoded.
    #[error("projection data could not be (de)serialized: {0}")]
    Json(#[from] serde_json::Error),
    /// An event in the log could not be decoded (written by a newer Kasane?).
    #[error("event at position {position} could not be decoded: {detail}")]
    Decode {
        /// Where the event is.
        position: u64,
        /// What was wrong.
        detail: String,
    },
    /// A projection table holds a value this code cannot read; rebuild the projection.
    #[error("projection data is corrupt ({0}); run `kasane projections rebuild`")]
    Corrupt(String),
    /// A page cursor that this query did not hand out.
    #[error("the cursor {0:?} is not one this query returned; start again without `after`")]
    BadCursor(String),
    /// The sharing rule refuses the viewer this read (`refusal.code()` says why).
    #[error("{}", refusal_sentence(*.0))]
    Refused(kasane_domain::Refusal),
    /// No projection has this name.
    #[error("there is no projection named {0:?}; `kasane projections status` lists them")]
    UnknownProjection(String),
    /// The event store failed while the runner was reading it.
    #[error(transparent)]
    Store(#[from] kasane_store::StoreError),
}

impl ProjectionError {
    /// The stable code a user sees.
    pub fn code(&self) -> &'static str {
        match self {
            ProjectionError::Sqlite(_) | ProjectionError::Json(_) => "PROJECTION_FAILED",
            ProjectionError::Decode { .. } => "EVENT_UNDECODABLE",
            ProjectionError::Corrupt(_) => "PROJECTION_CORRUPT",
            ProjectionError::BadCursor(_) => "BAD_CURSOR",
            ProjectionError::UnknownProjection(_) => "UNKNOWN_PROJECTION",
            ProjectionError::Refused(r) => r.code().as_str(),
            ProjectionError::Store(e) => e.code(),
        }
    }
}

/// What to tell a viewer who was refused.
fn refusal_sentence(r: kasane_domain::Refusal) -> &'static str {
    use kasane_domain::Refusal::*;
    match r {
        MemberInactive => "your membership is suspended; ask your agency admin to reinstate it",
        NotOnCareTeam => "you are not on this resident's care team; ask the team lead to add you",
        NotYetWritten => "no such note (as of the requested instant)",
        Redacted => "this note was redacted; only auditors can see that it existed",
        NoBasis => "no consent, support meeting or break-glass covers this note for your agency",
    }
}

/// A read model: a fold over envelopes in global order into tables it alone owns.
///
/// `apply` must be deterministic (no clock, no randomness, nothing but the envelope and its
/// own tables), so that a rebuild gives identical rows. It runs inside a transaction that the
/// runner commits together with the projection's checkpoint.
pub trait Projection: Send + Sync + 'static {
    /// Stable name, used for the checkpoint and on the command line.
    fn name(&self) -> &'static str;

    /// Code version plus any setting that changes the rows (a time zone, say); when it differs
    /// from the one stored with the checkpoint, the projection is rebuilt.
    fn version(&self) -> String;

    /// Every table the projection owns (dropped before a rebuild; compared by tests).
    fn tables(&self) -> &'static [&'static str];

    /// Creates the tables and indexes (`IF NOT EXISTS`), including the
    /// [`Projection::bulk_indexes`].
    fn create(&self, conn: &Connection) -> Result<(), ProjectionError>;

    /// Secondary indexes that only queries use (never `apply`): a rebuild from position 0
    /// drops them, loads every row, then calls [`Projection::create`] to build them in one
    /// sorted pass instead of inserting keys at random. Inline application and catch-up of a
    /// projection that has rows keep them.
    fn bulk_indexes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Readies the (empty) tables for a rebuild from position 0, which loads every row and
    /// then calls [`Projection::create`]; `create` must bring the tables back to their query
    /// layout, also after a crash in between. By default it drops the
    /// [`Projection::bulk_indexes`]. (A table clustered by a key that the log visits at random
    /// is better filled by a [`MemoryFold`].)
    fn begin_bulk(&self, conn: &Connection) -> Result<(), ProjectionError> {
        for index in self.bulk_indexes() {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS \"{index}\""))?;
        }
        Ok(())
    }

    /// Folds one event into the tables; events it does not care about are ignored.
    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError>;

    /// How a rebuild from position 0 may fold this projection in memory instead of through
    /// [`Projection::apply`]: see [`MemoryFold`]. `None` (the default): it never does.
    fn memory_fold(&self) -> Option<&dyn MemoryFold> {
        None
    }

    /// Writes what `apply` kept in memory for the batch (counters, say). The runner calls it
    /// after the last `apply` of a batch, in the same transaction and before the checkpoint.
    fn flush(&self, conn: &Connection) -> Result<(), ProjectionError> {
        let _ = conn;
        Ok(())
    }

    /// Forgets what `apply` kept in memory since the last `flush` (the batch failed and is
    /// rolled back).
    fn discard(&self) {}
}

/// A projection's rebuild from position 0 folded in memory, off the SQLite writer, with its
/// rows written once at the end in key order.
///
/// Worth it for tables clustered by a key the log visits at random (a resident's timeline):
/// inserting rows as they come splits pages all over the table, and the single SQLite writer
/// is what limits a rebuild. The runner folds on its reading stage, beside the writer, and
/// keeps the projection's checkpoint at 0 until [`MemoryFold::write`] has written everything,
/// the checkpoint moving in its last transaction: a crash in between leaves the tables at
/// position 0, and the next catch-up empties them and starts the fold again.
pub trait MemoryFold: Send + Sync {
    /// Starts an empty fold, forgetting any earlier one.
    fn begin(&self);

    /// Folds one event (events come in log order); the result must be what
    /// [`Projection::apply`] would have written. After an error the fold is abandoned.
    fn fold(&self, env: &Envelope<'_>) -> Result<(), ProjectionError>;

    /// Readies what was folded for [`MemoryFold::write`] (sorting it, say), once the log is
    /// folded: the runner calls it on a thread of its own while the writer builds the other
    /// projections' indexes. `write` must work whether or not it ran.
    fn prepare(&self) {}

    /// Writes everything folded into the projection's tables (created and empty) and
    /// forgets it; the runner then calls [`Projection::create`] for the indexes.
    ///
    /// A long write may call `commit` between rows: it commits the rows so far and begins the
    /// next transaction, so that the WAL can be copied into the database file meanwhile
    /// instead of all at the end. The checkpoint moves only with the last transaction; if
    /// the write fails, the runner empties the tables again.
    fn write(
        &self,
        conn: &Connection,
        commit: &mut dyn FnMut() -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError>;

    /// Forgets the fold (the rebuild failed or stopped).
    fn abandon(&self);
}
