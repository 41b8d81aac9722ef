//! The backend-independent event store contract.

use crate::envelope::{AppendResult, OpenedEvent, ProposedEvent, RecordedEvent, StoredEvent};
use crate::error::StoreError;
use crate::expected::ExpectedVersion;
use crate::subscription::Subscription;
use crate::verify::VerifyReport;

/// Which way [`EventStore::read_stream`] walks a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadDirection {
    /// Oldest first: versions >= `from_version`, ascending.
    Forward,
    /// Newest first: versions <= `from_version`, descending (`u64::MAX` = from the end).
    Backward,
}

/// An append-only, hash-chained, per-tenant event log; every backend implements this.
///
/// Guarantees every backend must keep:
/// - An append is atomic: all its events are stored (contiguous versions and global
///   positions) or none. It is acknowledged only once durable at the configured level.
/// - If the caller stops waiting (drops the future) once the request is queued, the append
///   may still commit; retrying with the same events returns its result either way.
/// - Appending the identical events again (same ids, same content) is an idempotent retry:
///   it returns the original [`AppendResult`] with `replayed = true` and writes nothing,
///   whatever the expected version says.
/// - Global positions are unique and increasing; a reader never sees position `p` appear
///   after it has already read a position greater than `p`.
/// - Subscriptions see every committed event exactly once, in global order. The SQLite
///   backend gets this for free because commits are serialized by one writer. A PostgreSQL
///   backend, where transactions with lower positions may commit after higher ones, must
///   only expose (to reads after a position and to subscriptions) positions below its
///   commit horizon, i.e. below the smallest position still held by an in-flight
///   transaction, or a subscriber could skip an event forever.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// Appends `events` to `tenant`/`stream` if the stream's version satisfies `expected`.
    async fn append(
        &self,
        tenant: &str,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Up to `max` events of one stream (see [`ReadDirection`] for which ones).
    async fn read_stream(
        &self,
        tenant: &str,
        stream: &str,
        from_version: u64,
        direction: ReadDirection,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// One event by its id (any tenant), `None` if no event has it; lets a caller recognise
    /// a retried command by the id it used for its first event.
    async fn read_event(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError>;

    /// The stream's current version (its last event's version), `None` if it has no events.
    async fn stream_version(&self, tenant: &str, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Up to `max` events with position > `after_position`, ascending, across all tenants.
    async fn read_all(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Like [`EventStore::read_all`] but exactly as stored (sealed), for export and migration.
    async fn read_all_stored(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The last committed global position (0 when the store is empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// The last committed position, durable or not: how far [`EventStore::read_all_committed`]
    /// reaches. Backends whose commits are visible only once durable return the head.
    async fn committed_head(&self) -> Result<u64, StoreError> {
        self.head_position().await
    }

    /// Like [`EventStore::read_all`], but up to the committed head, whose last events may not
    /// be durable yet. Only for read models that commit into the same transactional log as the
    /// events (the projections of the embedded store): a crash that loses those events loses
    /// what was built from them too, and a model that follows only the durable head trails
    /// the writer by a flush and can never rejoin its transactions under steady load.
    async fn read_all_committed(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_all(after_position, max).await
    }

    /// Like [`EventStore::read_all_committed`], each payload left as its stored text with the
    /// personal values opened beside it: for replays, which decode typed events straight
    /// from the text. By default, the committed read with the values put back inline.
    async fn read_all_opened(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<OpenedEvent>, StoreError> {
        let events = self.read_all_committed(after_position, max).await?;
        Ok(events.into_iter().map(OpenedEvent::from_recorded).collect())
    }

    /// Returns once every commit made so far is durable. Reads of the log never return an
    /// event before it is durable, but read models that commit with the events (the inline
    /// projections of the SQLite store) can show one up to a flush early: a caller about to
    /// answer from them without appending anything itself waits here first. Backends whose
    /// commits become visible only once durable return at once.
    async fn durable_barrier(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Catches up from `after_position`, signals `CaughtUp` once, then follows new commits.
    async fn subscribe_all(&self, after_position: u64) -> Result<Subscription, StoreError>;

    /// Group-commit totals since the store was opened, where the backend counts them.
    fn commit_counts(&self) -> Option<crate::stats::CommitCounts> {
        None
    }

    /// Crypto-shredding: destroys the subject's data key so its personal values read as
    /// `{"$erased": true}` forever; returns `true` if a key existed.
    async fn destroy_data_key(&self, tenant: &str, subject: &str) -> Result<bool, StoreError>;

    /// Re-checks the whole log (order, versions, chains, hashes) without needing any key;
    /// `on_progress` is called with the number of events checked so far.
    async fn verify(
        &self,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<VerifyReport, StoreError>;
}
