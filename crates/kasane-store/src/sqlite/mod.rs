//! The embedded SQLite backend: one file, WAL mode, one writer thread with group commit,
//! a pool of reader connections.

mod durable;
mod inline;
mod reader;
mod schema;
mod stream_index;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::params;
use tokio::sync::{mpsc, oneshot, watch};

pub use inline::{InlineHook, InlineProjector};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

use crate::clock::{Clock, SystemClock};
use crate::envelope::{AppendResult, OpenedEvent, ProposedEvent, RecordedEvent, StoredEvent};
use crate::error::StoreError;
use crate::expected::ExpectedVersion;
use crate::keys::{KeyCache, MasterKey};
use crate::prepare::prepare_append;
use crate::store::{EventStore, ReadDirection};
use crate::subscription::Subscription;
use crate::verify::VerifyReport;
pub use durable::SyncFn;
use durable::{Durable, SyncStage};
use reader::{EVENT_COLUMNS, READ_ALL, ReadSide, ReadSideSource, clamp_i64, query_stored};
use writer::{ReplyBatch, Writer, WriterMsg, WriterParts};

/// How hard a commit tries to survive a crash before the append is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every group commit; survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives an application crash, but the last commits may be
    /// lost on power loss or an OS crash.
    Normal,
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        })
    }
}

impl FromStr for Durability {
    type Err = String;

    /// Parses `full` or `normal` (for flags and config files).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            other => Err(format!(
                "unknown durability {other:?}; use \"full\" or \"normal\""
            )),
        }
    }
}

/// Everything needed to open a SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The database file (created with its directory if missing).
    pub path: PathBuf,
    /// The store's master key (must be the one it was created with).
    pub master_key: MasterKey,
    /// Commit durability.
    pub durability: Durability,
    /// Number of reader connections (at least 1).
    pub readers: usize,
    /// Where `recorded_at` comes from (the system clock unless a simulation pins it); the
    /// writer never lets it go backwards.
    pub clock: Arc<dyn Clock>,
    /// Read models updated inside each append transaction (`None`: the log only).
    pub inline: Option<InlineHook>,
    /// Unindexed events after which the writer fills the stream index (default 16,384).
    /// Smaller means shorter tail scans for stream reads and more index writes; tests set
    /// it low to cross the boundary often.
    pub stream_index_every: usize,
    /// What makes the WAL durable at full durability (`None`: an `fdatasync` of the
    /// `-wal` file). Tests put a gate or a failure here.
    pub sync: Option<SyncFn>,
}

impl SqliteConfig {
    /// A config with full durability, 4 readers and the system clock.
    pub fn new(path: impl Into<PathBuf>, master_key: MasterKey) -> Self {
        SqliteConfig {
            path: path.into(),
            master_key,
            durability: Durability::Full,
            readers: 4,
            clock: Arc::new(SystemClock),
            inline: None,
            stream_index_every: stream_index::INDEX_EVERY_EVENTS,
            sync: None,
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10) for background work. Best effort:
/// a failure leaves the priority as it was.
#[cfg(target_os = "linux")]
fn lower_thread_priority() {
    // SAFETY: plain system calls about the calling thread itself; no memory is shared.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_thread_priority() {}

/// Capacity of the request queue in front of the writer (callers wait when it is full).
const QUEUE_CAPACITY: usize = 4096;

/// The embedded event store: a single SQLite file. Cheap to clone (handles share it).
///
/// One process should own a store file at a time: the writer keeps positions, keys and the
/// head in memory. Call [`SqliteStore::close`] to stop it cleanly; dropping every handle
/// also stops the writer (asynchronously).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    requests: mpsc::Sender<WriterMsg>,
    head: watch::Receiver<u64>,
    read: Arc<ReadSide>,
    durable: Arc<Durable>,
    keys: Arc<KeyCache>,
    stats: Arc<crate::stats::CommitStats>,
    /// Whether appends keep their proposed payloads (for the inline hook).
    keep_payloads: bool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store; async because it does file I/O on a blocking thread.
    /// Must be called inside a tokio runtime, which then delivers append acknowledgements.
    ///
    /// Fails with `STORE_NOT_KASANE` for a file that is not a Kasane store,
    /// `STORE_SCHEMA_TOO_NEW` for a newer schema, `MASTER_KEY_MISMATCH` for another key.
    pub async fn open(config: SqliteConfig) -> Result<Self, StoreError> {
        // Acknowledgements are sent from a task, so the writer thread wakes the runtime once
        // per group instead of once per request.
        let (replies_tx, mut replies_rx) = mpsc::unbounded_channel::<ReplyBatch>();
        tokio::spawn(async move {
            while let Some(batch) = replies_rx.recv().await {
                for (reply, answer) in batch {
                    let _ = reply.send(answer);
                }
            }
        });
        tokio::task::spawn_blocking(move || Self::open_blocking(config, replies_tx))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }

    fn open_blocking(
        config: SqliteConfig,
        replies: mpsc::UnboundedSender<ReplyBatch>,
    ) -> Result<Self, StoreError> {
        let opened = schema::open_writer(&config.path, &config.master_key)?;
        let head = opened.head;
        let readers = (0..config.readers.max(1))
            .map(|_| schema::open_reader(&config.path))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint_conn = schema::open_checkpointer(&config.path, config.durability)?;
        let (checkpoint_tx, checkpoint_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let checkpointer = std::thread::Builder::new()
            .name("kasane-sqlite-checkpoint".into())
            .spawn(move || {
                // Copies committed WAL frames into the database off the writer's path;
                // PASSIVE never blocks the writer or readers.
                // At a lower priority: on a busy machine the writer, whose commits every
                // append waits for, goes first (measured in docs/performance.md).
                lower_thread_priority();
                while checkpoint_rx.recv().is_ok() {
                    if let Err(e) =
                        checkpoint_conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                    }
                }
            })?;
        let keys = Arc::new(KeyCache::default());
        let stats = Arc::new(crate::stats::CommitStats::default());
        let (head_tx, head_rx) = watch::channel(head);
        let durable = Arc::new(Durable::new(head, head_rx.clone()));
        // Full durability: a thread flushes the WAL and only then acknowledges.
        let (head_tx, durable_tx, durable_thread) = match config.durability {
            Durability::Normal => (Some(head_tx), None, None),
            Durability::Full => {
                let sync = match config.sync.clone() {
                    Some(sync) => sync,
                    // SQLite's own name for the file: a symlinked path puts the WAL next to
                    // the file it points to, not next to the link.
                    None => durable::wal_sync(
                        opened.conn.path().map(Path::new).unwrap_or(&config.path),
                    )?,
                };
                // A crash may have left commits that were never flushed: flush them before
                // the head they reach is served as durable.
                (sync.0)().map_err(StoreError::Io)?;
                let stage = SyncStage {
                    sync,
                    head_tx,
                    state: Arc::clone(&durable),
                    replies: Some(replies.clone()),
                    stats: Arc::clone(&stats),
                };
                let (tx, rx) = std::sync::mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name("kasane-sqlite-sync".into())
                    .spawn(move || stage.run(rx))?;
                (None, Some(tx), Some(thread))
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let tail = opened.unindexed.view();
        let writer = Writer::new(
            opened.conn,
            WriterParts {
                master: config.master_key.clone(),
                head,
                next_stream_id: opened.next_stream_id,
                unindexed: opened.unindexed.every(config.stream_index_every),
                last_recorded_us: opened.last_recorded_us,
                shared_keys: Arc::clone(&keys),
                head_tx,
                durable: Arc::clone(&durable),
                durable_tx,
                durable_thread,
                clock: config.clock,
                replies: Some(replies),
                checkpointer: Some(checkpoint_tx),
                checkpoint_thread: Some(checkpointer),
                inline: config.inline,
                stats: Arc::clone(&stats),
            },
        );
        let keep_payloads = writer.has_inline_hook();
        std::thread::Builder::new()
            .name("kasane-sqlite-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: config.path,
                requests: tx,
                head: head_rx,
                read: Arc::new(ReadSide::new(
                    readers,
                    Arc::clone(&keys),
                    config.master_key,
                    Arc::clone(&durable),
                    tail,
                )),
                durable,
                keys,
                stats,
                keep_payloads,
            }),
        })
    }

    /// The database file this store uses.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Serves what is queued, stops the writer and closes its connection; afterwards every
    /// call (through any handle) fails with `STORE_CLOSED`. Idempotent.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .inner
            .requests
            .send(WriterMsg::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
        self.inner.read.close();
    }

    async fn send(&self, msg: WriterMsg) -> Result<(), StoreError> {
        self.inner
            .requests
            .send(msg)
            .await
            .map_err(|_| StoreError::Closed)
    }
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        tenant: &str,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendResult, StoreError> {
        let mut request =
            prepare_append(tenant, stream, expected, events, self.inner.keep_payloads)?;
        request.pre_seal(&self.inner.keys);
        let (reply, answer) = oneshot::channel();
        self.send(WriterMsg::Append { request, reply }).await?;
        // The spent request is dropped here, on this task's thread, not the writer's.
        answer.await.map_err(|_| StoreError::Closed)?.outcome
    }

    async fn read_stream(
        &self,
        tenant: &str,
        stream: &str,
        from_version: u64,
        direction: ReadDirection,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let (tenant, stream) = (tenant.to_owned(), stream.to_owned());
        let from = clamp_i64(from_version);
        let limit = clamp_i64(max as u64);
        self.inner
            .read
            .run(move |rs, conn| {
                stream_index::read_stream(rs, conn, &tenant, &stream, from, direction, limit)
            })
            .await
    }

    async fn read_event(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1 AND position <= ?2");
        let mut found = self
            .inner
            .read
            .run(move |rs, conn| {
                rs.query_recorded(
                    conn,
                    &sql,
                    params![event_id.as_bytes(), rs.visible_head()],
                    1,
                )
            })
            .await?;
        Ok(found.pop())
    }

    async fn stream_version(&self, tenant: &str, stream: &str) -> Result<Option<u64>, StoreError> {
        let (tenant, stream) = (tenant.to_owned(), stream.to_owned());
        self.inner
            .read
            .run(move |rs, conn| {
                // The stream's last event: in the index, or in the tail after its mark.
                let v: Option<i64> = conn
                    .prepare_cached(
                        "WITH s AS (SELECT stream_id FROM streams WHERE tenant = ?1 AND stream = ?2) \
                         SELECT max(v) FROM ( \
                           SELECT (SELECT i.version FROM stream_index i \
                                    WHERE i.stream_id = s.stream_id AND i.position <= ?3 \
                                    ORDER BY i.version DESC LIMIT 1) AS v FROM s \
                           UNION ALL \
                           SELECT max(e.version) FROM events e, s \
                            WHERE e.stream_id = s.stream_id AND e.position <= ?3 AND e.position > \
                              (SELECT value FROM meta WHERE key = 'stream_indexed_to'))",
                    )?
                    .query_row(params![tenant, stream, rs.visible_head()], |r| r.get(0))?;
                Ok(v.map(|v| v as u64))
            })
            .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_all(&self.inner.read, after_position, max, false).await
    }

    async fn read_all_committed(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_all(&self.inner.read, after_position, max, true).await
    }

    async fn read_all_opened(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<OpenedEvent>, StoreError> {
        reader::read_all_opened(&self.inner.read, after_position, max).await
    }

    async fn read_all_stored(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let after = clamp_i64(after_position);
        let limit = clamp_i64(max as u64);
        self.inner
            .read
            .run(move |rs, conn| {
                query_stored(
                    conn,
                    &READ_ALL,
                    params![after, rs.visible_head(), limit],
                    max,
                )
            })
            .await
    }

    fn commit_counts(&self) -> Option<crate::stats::CommitCounts> {
        Some(self.inner.stats.snapshot())
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(*self.inner.head.borrow())
    }

    async fn committed_head(&self) -> Result<u64, StoreError> {
        Ok(self.inner.durable.committed())
    }

    async fn durable_barrier(&self) -> Result<(), StoreError> {
        self.inner.durable.wait_for_committed().await
    }

    async fn subscribe_all(&self, after_position: u64) -> Result<Subscription, StoreError> {
        let source = Arc::new(ReadSideSource(Arc::clone(&self.inner.read)));
        Ok(Subscription::new(
            source,
            self.inner.head.clone(),
            after_position,
        ))
    }

    async fn destroy_data_key(&self, tenant: &str, subject: &str) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterMsg::Destroy {
            tenant: tenant.to_owned(),
            subject: subject.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn verify(
        &self,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<VerifyReport, StoreError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let walk = self.inner.read.run(move |rs, conn| rs.verify(conn, tx));
        tokio::pin!(walk);
        loop {
            tokio::select! {
                result = &mut walk => {
                    while let Ok(n) = rx.try_recv() {
                        on_progress(n);
                    }
                    return result;
                }
                Some(n) = rx.recv() => on_progress(n),
            }
        }
    }
}
