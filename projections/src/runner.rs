//! Feeding projections from the log: checkpoints, inline application inside the embedded
//! store's append transaction, catch-up from any position, rebuilds and status.
//!
//! Each projection's checkpoint (the last global position it has applied) lives in
//! `projection_checkpoints` and is written in the same transaction as the projection's rows,
//! so a crash can neither apply an event twice nor skip one. One projection failing never
//! stops the others: it keeps its checkpoint, records the error, and is retried by catch-up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kasane_domain::Event;
use kasane_store::{EventStore, InlineHook, InlineProjector, OpenedEvent, RecordedEvent};
use rusqlite::{Connection, OptionalExtension, params};

use crate::folding::{MemoryFolds, fold_of};
use crate::projection::decode_opened;
use crate::{Envelope, Projection, ProjectionError};

/// Events read from the log per catch-up batch.
const CATCH_UP_BATCH: usize = 4096;

/// Events applied per catch-up transaction (bounds how long the store's writer can wait).
const EVENTS_PER_TRANSACTION: usize = 16_384;

/// Decoded batches the reading stage may hold ahead of the applying stage.
const READ_AHEAD_BATCHES: usize = 8;

/// Up to how many events a rebuild folds projections in memory by default.
const MEMORY_FOLDS_UP_TO: u64 = 8_000_000;

/// From how many events behind a catch-up checkpoints the WAL on a thread of its own.
const BACKGROUND_CHECKPOINTS_FROM: u64 = 65_536;

/// How often that thread checkpoints.
const BACKGROUND_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Events read from the log with their decoded domain events (`None`: not decoded yet).
#[derive(Default)]
struct Decoded {
    events: Vec<OpenedEvent>,
    decoded: Vec<Option<Result<Event, String>>>,
}

impl Decoded {
    /// Decodes every event of `events` (on the reading stage's thread).
    fn decode(mut events: Vec<OpenedEvent>) -> Self {
        let decoded = events
            .iter_mut()
            .map(|e| Some(decode_opened(e).map_err(|e| e.to_string())))
            .collect();
        Decoded { events, decoded }
    }

    fn append(&mut self, mut other: Decoded) {
        self.events.append(&mut other.events);
        self.decoded.append(&mut other.decoded);
    }
}

/// What the runner needs of a logged event to feed it to projections.
trait Feed {
    /// Its global position.
    fn position(&self) -> u64;
    /// Its domain event, or why it cannot be decoded.
    fn decode(&self) -> Result<Event, String>;
    /// Its envelope around `event`, its decoding.
    fn envelope<'a>(&'a self, event: &'a Event) -> Envelope<'a>;
}

impl Feed for RecordedEvent {
    fn position(&self) -> u64 {
        self.global_position
    }
    fn decode(&self) -> Result<Event, String> {
        Event::decode(&self.event_type, self.schema_version, &self.payload)
            .map_err(|e| e.to_string())
    }
    fn envelope<'a>(&'a self, event: &'a Event) -> Envelope<'a> {
        Envelope::new(self, event)
    }
}

impl Feed for OpenedEvent {
    fn position(&self) -> u64 {
        self.global_position
    }
    fn decode(&self) -> Result<Event, String> {
        // Catch-up decodes every event up front, moving its opened values into the decoding;
        // the values are gone here, so a second decoding would misread sealed fields.
        Err(format!(
            "event at position {} was not decoded before it was applied (a runner bug)",
            self.global_position
        ))
    }
    fn envelope<'a>(&'a self, event: &'a Event) -> Envelope<'a> {
        Envelope::opened(self, event)
    }
}

/// Where each projection stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// The code version its rows were built with.
    pub version: String,
    /// The last global position it has applied.
    pub position: u64,
    /// Events in the log that it has not applied yet.
    pub lag: u64,
    /// The last failure, if it is stuck.
    pub error: Option<String>,
}

/// The projections of one database and how to keep them current.
#[derive(Clone)]
pub struct ProjectionRunner {
    path: PathBuf,
    projections: Arc<Vec<Box<dyn Projection>>>,
    /// The runner's own write connection (catch-up, rebuild), opened on first use.
    conn: Arc<Mutex<Option<Connection>>>,
    /// From how many events behind a catch-up checkpoints on a thread of its own.
    background_checkpoints_from: u64,
    /// Up to how many events a rebuild folds in memory ([`crate::MemoryFold`]).
    memory_folds_up_to: u64,
    /// One catch-up at a time: two would fold the same projections in memory at once.
    catching_up: Arc<tokio::sync::Mutex<()>>,
}

const CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    position INTEGER NOT NULL,
    error TEXT
)";

impl ProjectionRunner {
    /// A runner for `projections` whose tables live in the SQLite file at `path` (for the
    /// embedded store, the store's own file).
    pub fn new(path: impl Into<PathBuf>, projections: Vec<Box<dyn Projection>>) -> Self {
        ProjectionRunner {
            path: path.into(),
            projections: Arc::new(projections),
            conn: Arc::new(Mutex::new(None)),
            background_checkpoints_from: BACKGROUND_CHECKPOINTS_FROM,
            memory_folds_up_to: MEMORY_FOLDS_UP_TO,
            catching_up: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Sets from how many events behind a catch-up moves WAL checkpoints to a thread of its
    /// own (default 65,536; a test lowers it to run that path on a small log).
    pub fn background_checkpoints_from(mut self, events: u64) -> Self {
        self.background_checkpoints_from = events;
        self
    }

    /// Sets up to how many events a rebuild folds projections in memory (default
    /// 8,000,000, about 2.4 GB at the ~300 bytes per event measured on the demo town); a
    /// longer log is rebuilt through `apply`, slower but in bounded memory.
    pub fn memory_folds_up_to(mut self, events: u64) -> Self {
        self.memory_folds_up_to = events;
        self
    }

    /// The database file holding the projection tables.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The projections this runner feeds.
    pub fn projections(&self) -> &[Box<dyn Projection>] {
        &self.projections
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ProjectionError>,
    ) -> Result<T, ProjectionError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(open_write(&self.path)?);
        }
        f(guard.as_mut().expect("opened above"))
    }

    /// Creates missing checkpoints, and resets every projection whose code version changed
    /// or whose tables are missing (it then starts again from position 0); returns the
    /// names reset.
    /// Call before installing the inline hook, then [`ProjectionRunner::catch_up`].
    pub fn prepare(&self) -> Result<Vec<String>, ProjectionError> {
        let projections = Arc::clone(&self.projections);
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(CHECKPOINTS)?;
            let mut reset = Vec::new();
            for p in projections.iter() {
                let stored: Option<String> = tx
                    .query_row(
                        "SELECT version FROM projection_checkpoints WHERE name = ?1",
                        [p.name()],
                        |r| r.get(0),
                    )
                    .optional()?;
                let complete = tables_exist(&tx, p.as_ref())?;
                match stored {
                    Some(v) if v == p.version() && complete => p.create(&tx)?,
                    Some(_) => {
                        reset_one(&tx, p.as_ref())?;
                        reset.push(p.name().to_owned());
                    }
                    None => reset_one(&tx, p.as_ref())?,
                }
            }
            tx.commit()?;
            Ok(reset)
        })
    }

    /// Drops and recreates the named projections (all when `names` is empty) at position 0;
    /// [`ProjectionRunner::catch_up`] then refills them. Unknown names are an error.
    pub fn reset(&self, names: &[String]) -> Result<Vec<String>, ProjectionError> {
        for n in names {
            if !self.projections.iter().any(|p| p.name() == n) {
                return Err(ProjectionError::UnknownProjection(n.clone()));
            }
        }
        let projections = Arc::clone(&self.projections);
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(CHECKPOINTS)?;
            let mut done = Vec::new();
            for p in projections.iter() {
                if names.is_empty() || names.iter().any(|n| n == p.name()) {
                    reset_one(&tx, p.as_ref())?;
                    done.push(p.name().to_owned());
                }
            }
            tx.commit()?;
            Ok(done)
        })
    }

    /// The hook that applies every group of appended events inside the store's transaction
    /// to each projection that is caught up (the others are left to catch-up).
    pub fn inline_hook(&self) -> InlineHook {
        InlineHook(Arc::new(Inline {
            projections: Arc::clone(&self.projections),
            configured: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Applies everything in the log that some projection has not applied yet, up to the head
    /// at the time of the call; `on_progress(applied_up_to, head)` after each transaction.
    /// Returns the last position applied.
    ///
    /// Two stages run at once: reading and decoding the log (on the store's reader and a
    /// blocking thread), and applying (on the runner's connection), with a bounded queue of
    /// decoded batches between them. A projection that starts from position 0 is bulk-loaded:
    /// [`Projection::begin_bulk`] first, [`Projection::create`] at the end (building its
    /// bulk indexes in one sorted pass), whether or not the catch-up succeeded. One that has a
    /// [`crate::MemoryFold`] is folded on the reading stage instead and written at the end.
    /// Catch-ups of one runner take turns.
    pub async fn catch_up(
        &self,
        store: &dyn EventStore,
        on_progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, ProjectionError> {
        let turn = Arc::clone(&self.catching_up).lock_owned().await;
        // Up to the committed head, not the durable one: these tables commit into the same
        // log, and a projection that trailed by a flush could never rejoin the inline path
        // under steady load.
        let head = store.committed_head().await?;
        let from = self.min_checkpoint()?;
        if from >= head {
            on_progress(head, head);
            return Ok(head);
        }
        let (bulk, folds) = self.begin_bulk(turn, head - from <= self.memory_folds_up_to)?;
        let folds = Arc::new(folds);
        // A long catch-up writes GBs: copying them into the database file (and its fsyncs)
        // would otherwise fall to the applying thread at each commit. The guard hands
        // checkpoints back to that connection when it is dropped, even if this future is.
        let checkpoints = (head - from >= self.background_checkpoints_from)
            .then(|| BackgroundCheckpoints::start(self))
            .flatten();
        let result = self.pipeline(store, from, head, &folds, on_progress).await;
        // Seconds of index builds and rows: not on the async runtime's thread.
        let restored = match bulk {
            true => {
                let (runner, folds) = (self.clone(), Arc::clone(&folds));
                let ended = tokio::task::spawn_blocking(move || runner.end_bulk(&folds)).await;
                Some(ended.map_err(|e| {
                    ProjectionError::Corrupt(format!("ending the bulk load failed: {e}"))
                })?)
            }
            false => None,
        };
        drop(checkpoints);
        let reached = result?;
        restored.transpose()?;
        Ok(reached)
    }

    /// Reads and decodes batches after `from` (up to `head`) into a queue while the batches
    /// already read are applied, one transaction per [`EVENTS_PER_TRANSACTION`]; returns the
    /// last position applied (short of `head` when the log ended sooner: a group about to
    /// commit counts in the committed head before readers see it).
    async fn pipeline(
        &self,
        store: &dyn EventStore,
        from: u64,
        head: u64,
        folds: &Arc<MemoryFolds>,
        on_progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, ProjectionError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Decoded>(READ_AHEAD_BATCHES);
        // Reading a batch (on the store's reader) and decoding the one before (on a blocking
        // thread) overlap.
        let (read_tx, mut read_rx) = tokio::sync::mpsc::channel::<Vec<OpenedEvent>>(2);
        let reader = async move {
            let mut after = from;
            while after < head {
                let batch = store.read_all_opened(after, CATCH_UP_BATCH).await?;
                let Some(last) = batch.last().map(|e| e.global_position) else {
                    break;
                };
                after = last;
                let batch: Vec<OpenedEvent> = batch
                    .into_iter()
                    .filter(|e| e.global_position <= head)
                    .collect();
                if read_tx.send(batch).await.is_err() {
                    break; // the decoding stage stopped
                }
            }
            Ok::<(), ProjectionError>(())
        };
        let decoder = async move {
            while let Some(batch) = read_rx.recv().await {
                let folds = Arc::clone(folds);
                let decoded = tokio::task::spawn_blocking(move || {
                    let decoded = Decoded::decode(batch);
                    if !folds.is_empty() {
                        folds.fold(&decoded.events, &decoded.decoded);
                    }
                    decoded
                })
                .await
                .map_err(|e| ProjectionError::Corrupt(format!("decoding task failed: {e}")))?;
                if tx.send(decoded).await.is_err() {
                    break; // the applying stage stopped (its error is reported)
                }
            }
            Ok::<(), ProjectionError>(())
        };
        let applier = async move {
            let mut pending = Decoded::default();
            let mut applied = from;
            loop {
                let next = rx.recv().await;
                let done = next.is_none();
                if let Some(batch) = next {
                    pending.append(batch);
                }
                if pending.events.len() >= EVENTS_PER_TRANSACTION
                    || (done && !pending.events.is_empty())
                {
                    let mut batch = std::mem::take(&mut pending);
                    let runner = self.clone();
                    let folds = Arc::clone(folds);
                    let (batch, reached) = tokio::task::spawn_blocking(move || {
                        let reached = runner.apply_catch_up(&mut batch, &folds);
                        (batch, reached)
                    })
                    .await
                    .map_err(|e| ProjectionError::Corrupt(format!("catch-up task failed: {e}")))?;
                    // Freeing a batch's payloads takes a while: not on the applying thread.
                    tokio::task::spawn_blocking(move || drop(batch));
                    applied = reached?;
                    on_progress(applied, head);
                }
                if done {
                    return Ok::<u64, ProjectionError>(applied);
                }
            }
        };
        let (read, decoded, applied) = tokio::join!(reader, decoder, applier);
        let applied = applied?;
        read?;
        decoded?;
        Ok(applied)
    }

    fn apply_catch_up(
        &self,
        batch: &mut Decoded,
        folds: &MemoryFolds,
    ) -> Result<u64, ProjectionError> {
        let projections = Arc::clone(&self.projections);
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let skip = |i: usize| folds.contains(i);
            apply_decoded(
                &tx,
                &projections,
                &batch.events,
                &mut batch.decoded,
                None,
                &skip,
            )?;
            tx.commit()?;
            Ok(batch.events.last().map(|e| e.global_position).unwrap_or(0))
        })
    }

    /// Readies every projection that is at position 0 (about to be filled from the whole log)
    /// for a bulk load ([`Projection::begin_bulk`]), and starts the memory folds of those that
    /// have one (their tables emptied, to be written at the end); true if there was any.
    fn begin_bulk(
        &self,
        turn: tokio::sync::OwnedMutexGuard<()>,
        in_memory: bool,
    ) -> Result<(bool, MemoryFolds), ProjectionError> {
        let projections = Arc::clone(&self.projections);
        let (any, memory) = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let checkpoints = read_checkpoints(&tx, &projections)?;
            let (mut any, mut memory) = (false, Vec::new());
            for (i, (p, (_, version, position, error))) in
                projections.iter().zip(&checkpoints).enumerate()
            {
                if *position == 0 && *version == p.version() {
                    p.begin_bulk(&tx)?;
                    any = true;
                    // After a failed fold, `apply` instead: it stops at the failing event and
                    // retries from there, not from the start of the log every time.
                    if in_memory && p.memory_fold().is_some() && error.is_none() {
                        for table in p.tables() {
                            tx.execute_batch(&format!("DELETE FROM \"{table}\""))?;
                        }
                        memory.push(i);
                    }
                }
            }
            tx.commit()?;
            Ok((any, memory))
        })?;
        Ok((any, MemoryFolds::begin(projections, memory, turn)))
    }

    /// Brings every projection's tables back to their query layout (after a bulk load), and
    /// writes each memory fold with its checkpoint, one transaction each (a fold that failed
    /// records its error instead, and stays at position 0).
    fn end_bulk(&self, folds: &Arc<MemoryFolds>) -> Result<(), ProjectionError> {
        let projections = Arc::clone(&self.projections);
        // The folds sort their rows on another core while the indexes are built.
        let preparing = (!folds.is_empty()).then(|| {
            let folds = Arc::clone(folds);
            std::thread::spawn(move || folds.prepare())
        });
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (i, p) in projections.iter().enumerate() {
                if !folds.contains(i) {
                    p.create(&tx)?;
                }
            }
            tx.commit()?;
            // A fold whose sorting panicked reports it when written.
            let _ = preparing.map(std::thread::JoinHandle::join);
            for (i, state) in folds.states() {
                let p = &projections[i];
                let fold = fold_of(&projections, i);
                let mut error = state.failed.clone();
                let mut written = false;
                if error.is_none() && state.folded_to > 0 {
                    let open = OpenTransaction::begin(conn)?;
                    let mut commit = || open.commit_and_begin();
                    let result = fold.write(conn, &mut commit).and_then(|()| {
                        p.create(conn)?;
                        let moved = conn.execute(
                            "UPDATE projection_checkpoints SET position = ?2, error = NULL \
                             WHERE name = ?1 AND position = 0",
                            params![p.name(), state.folded_to as i64],
                        )?;
                        match moved {
                            1 => Ok(()),
                            _ => Err(ProjectionError::Corrupt(format!(
                                "the checkpoint of {} moved during its rebuild",
                                p.name()
                            ))),
                        }
                    });
                    written = true;
                    match result {
                        Ok(()) => open.commit()?,
                        Err(e) => {
                            drop(open); // rolled back; rows it committed before go below
                            tracing::warn!(projection = p.name(), error = %e, "projection failed; it stays at position 0");
                            error = Some(format!("[{}] {e}", e.code()));
                        }
                    }
                }
                fold.abandon();
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                if written && error.is_some() {
                    for table in p.tables() {
                        tx.execute_batch(&format!("DELETE FROM \"{table}\""))?;
                    }
                }
                p.create(&tx)?;
                if let Some(error) = &error {
                    tx.execute(
                        "UPDATE projection_checkpoints SET position = 0, error = ?2 WHERE name = ?1",
                        params![p.name(), error],
                    )?;
                }
                tx.commit()?;
                folds.settle(i);
            }
            Ok(())
        })
    }

    /// Keeps the projections current in the background: every `every`, catches up whatever
    /// inline application left behind (a failed projection, appends by another process).
    pub fn spawn_follower(
        &self,
        store: Arc<dyn EventStore>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match runner.catch_up(store.as_ref(), &|_, _| {}).await {
                    Ok(_) => {}
                    Err(ProjectionError::Store(kasane_store::StoreError::Closed)) => return,
                    Err(e) => tracing::warn!(error = %e, "projection catch-up failed"),
                }
            }
        })
    }

    /// The lowest checkpoint of all projections (where catch-up must start).
    pub fn min_checkpoint(&self) -> Result<u64, ProjectionError> {
        Ok(self
            .checkpoints()?
            .iter()
            .map(|(_, _, p, _)| *p)
            .min()
            .unwrap_or(0))
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, ProjectionError> {
        let projections = Arc::clone(&self.projections);
        self.with_conn(|conn| read_checkpoints(conn, &projections))
    }

    /// Each projection's position and lag behind `head`.
    pub fn status(&self, head: u64) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        Ok(self
            .checkpoints()?
            .into_iter()
            .map(|(name, version, position, error)| ProjectionStatus {
                name,
                version,
                position,
                lag: head.saturating_sub(position),
                error,
            })
            .collect())
    }
}

/// A checkpoint row: name, version, position, last error.
type Checkpoint = (String, String, u64, Option<String>);

/// Checkpoints as stored, one per projection (a projection without a row is at 0).
fn read_checkpoints(
    conn: &Connection,
    projections: &[Box<dyn Projection>],
) -> Result<Vec<Checkpoint>, ProjectionError> {
    conn.execute_batch(CHECKPOINTS)?;
    let mut stmt = conn.prepare_cached(
        "SELECT version, position, error FROM projection_checkpoints WHERE name = ?1",
    )?;
    let mut out = Vec::with_capacity(projections.len());
    for p in projections {
        let row: Option<(String, i64, Option<String>)> = stmt
            .query_row([p.name()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (version, position, error) = row.unwrap_or((String::new(), 0, None));
        out.push((p.name().to_owned(), version, position as u64, error));
    }
    Ok(out)
}

/// False when any of the projection's tables is missing (dropped by hand, say): its rows
/// cannot be trusted to match its checkpoint any more.
fn tables_exist(conn: &Connection, p: &dyn Projection) -> Result<bool, ProjectionError> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?;
    for table in p.tables() {
        if !stmt.exists([table])? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn reset_one(conn: &Connection, p: &dyn Projection) -> Result<(), ProjectionError> {
    for table in p.tables() {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS \"{table}\""))?;
    }
    p.create(conn)?;
    conn.execute(
        "INSERT INTO projection_checkpoints (name, version, position, error) VALUES (?1, ?2, 0, NULL) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0, error = NULL",
        params![p.name(), p.version()],
    )?;
    Ok(())
}

/// A transaction begun by hand, so that a memory fold's write can commit part way; rolled
/// back when dropped unfinished (an error or a panic on the way).
struct OpenTransaction<'c> {
    conn: &'c Connection,
}

impl<'c> OpenTransaction<'c> {
    fn begin(conn: &'c Connection) -> Result<Self, ProjectionError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(OpenTransaction { conn })
    }

    /// Commits what was written so far and begins the next transaction.
    fn commit_and_begin(&self) -> Result<(), ProjectionError> {
        self.conn.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(self) -> Result<(), ProjectionError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "a memory fold's transaction could not be rolled back");
        }
    }
}

/// While alive, a thread checkpoints the WAL (PASSIVE: it never blocks a writer) in place of
/// the runner connection's auto-checkpoint, which it turns off and restores when dropped.
struct BackgroundCheckpoints {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    runner_conn: Arc<Mutex<Option<Connection>>>,
    autocheckpoint: i64,
}

impl BackgroundCheckpoints {
    /// `None` (and checkpoints stay where they were) when the thread cannot be set up.
    fn start(runner: &ProjectionRunner) -> Option<Self> {
        let conn = match open_write(&runner.path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoints stay on the applying thread");
                return None;
            }
        };
        let autocheckpoint = runner
            .with_conn(|c| {
                let pages: i64 = c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))?;
                c.pragma_update(None, "wal_autocheckpoint", 0)?;
                Ok(pages)
            })
            .inspect_err(|e| tracing::warn!(error = %e, "checkpoints stay on the applying thread"))
            .ok()?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("kasane-proj-ckpt".into())
            .spawn(move || {
                loop {
                    // The last round comes after the stop, so the final commit is copied too.
                    let stopping = flag.load(std::sync::atomic::Ordering::Relaxed);
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "background checkpoint failed");
                    }
                    if stopping {
                        return;
                    }
                    std::thread::sleep(BACKGROUND_CHECKPOINT_EVERY);
                }
            });
        let mut guard = BackgroundCheckpoints {
            stop,
            thread: None,
            runner_conn: Arc::clone(&runner.conn),
            autocheckpoint,
        };
        match spawned {
            Ok(thread) => {
                guard.thread = Some(thread);
                Some(guard)
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoints stay on the applying thread");
                None // dropping `guard` restores the auto-checkpoint
            }
        }
    }
}

impl Drop for BackgroundCheckpoints {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let guard = self.runner_conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = guard.as_ref()
            && let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", self.autocheckpoint)
        {
            tracing::warn!(error = %e, "the runner's auto-checkpoint could not be restored");
        }
    }
}

/// Opens a write connection for catch-up and rebuilds (derived data: `synchronous=NORMAL`).
pub fn open_write(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", CACHE_KIB)?;
    // Statement journals (an insert into a table with a unique index may need one) stay in
    // memory instead of a temporary file written with a syscall per page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Page cache of the runner's connection (negative: KiB).
const CACHE_KIB: i64 = -64_000;

/// Opens a read-only connection for queries.
pub fn open_read(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Applies `events` (ascending positions) to every projection, inside the caller's
/// transaction. With `require_at = Some(h)` (inline) a projection takes the events only if
/// its checkpoint is exactly `h`; otherwise each takes the events after its checkpoint.
/// A projection that fails is rolled back to before the batch and its error recorded.
pub fn apply_batch(
    conn: &Connection,
    projections: &[Box<dyn Projection>],
    events: &[RecordedEvent],
    require_at: Option<u64>,
) -> Result<(), ProjectionError> {
    let mut decoded: Vec<Option<Result<Event, String>>> = (0..events.len()).map(|_| None).collect();
    apply_decoded(conn, projections, events, &mut decoded, require_at, &|_| {
        false
    })
}

/// [`apply_batch`] with `decoded[i]` holding the decoded `events[i]` where it is known
/// already (the others are decoded when a projection first needs them).
fn apply_decoded(
    conn: &Connection,
    projections: &[Box<dyn Projection>],
    events: &[impl Feed],
    decoded: &mut [Option<Result<Event, String>>],
    require_at: Option<u64>,
    skip: &dyn Fn(usize) -> bool,
) -> Result<(), ProjectionError> {
    let Some(last) = events.last().map(|e| e.position()) else {
        return Ok(());
    };
    let checkpoints = read_checkpoints(conn, projections)?;
    let mut set_checkpoint = conn.prepare_cached(
        "UPDATE projection_checkpoints SET position = ?2, error = NULL WHERE name = ?1",
    )?;
    for (i, (p, (_, version, checkpoint, _))) in projections.iter().zip(&checkpoints).enumerate() {
        if *version != p.version() || skip(i) {
            // Not prepared (or being reset): catch-up after prepare fills it. Or folded in
            // memory by this catch-up.
            continue;
        }
        let take = match require_at {
            Some(h) => *checkpoint == h,
            None => *checkpoint < last,
        };
        if !take {
            continue;
        }
        p.discard(); // nothing may be left over from an interrupted batch
        conn.execute_batch("SAVEPOINT projection")?;
        let result = (|| -> Result<(), ProjectionError> {
            for (i, logged) in events.iter().enumerate() {
                if logged.position() <= *checkpoint {
                    continue;
                }
                let event = decoded[i].get_or_insert_with(|| logged.decode());
                let event = event.as_ref().map_err(|detail| ProjectionError::Decode {
                    position: logged.position(),
                    detail: detail.clone(),
                })?;
                p.apply(conn, &logged.envelope(event))?;
            }
            p.flush(conn)?;
            set_checkpoint.execute(params![p.name(), last as i64])?;
            Ok(())
        })();
        match result {
            Ok(()) => conn.execute_batch("RELEASE projection")?,
            Err(e) => {
                p.discard();
                conn.execute_batch("ROLLBACK TO projection; RELEASE projection")?;
                tracing::warn!(projection = p.name(), error = %e, "projection failed; it stays at its checkpoint");
                conn.execute(
                    "UPDATE projection_checkpoints SET error = ?2 WHERE name = ?1",
                    params![p.name(), format!("[{}] {e}", e.code())],
                )?;
            }
        }
    }
    Ok(())
}

/// The inline hook's state: the projections and whether the writer's connection was tuned.
struct Inline {
    projections: Arc<Vec<Box<dyn Projection>>>,
    configured: std::sync::atomic::AtomicBool,
}

impl InlineProjector for Inline {
    fn apply(
        &self,
        conn: &Connection,
        head_before: u64,
        events: &[RecordedEvent],
    ) -> Result<(), String> {
        if !self
            .configured
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            conn.set_prepared_statement_cache_capacity(256);
        }
        apply_batch(conn, &self.projections, events, Some(head_before)).map_err(|e| e.to_string())
    }
}
