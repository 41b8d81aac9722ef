//! The single writer: one thread owns the write connection and commits queued append
//! requests in groups (one transaction, one fsync per group).
//!
//! Every request is validated before it writes anything (expected version against the
//! stream heads the writer keeps in memory, data keys), so a rejected request needs no
//! rollback and the others in its group commit. Event ids are left to the unique index: a
//! reused id (a retry, usually) makes its insert fail. That, or any other unexpected failure
//! (an I/O error, say), rolls the whole group back; it is then redone with a savepoint per
//! request and every event id looked up first, so that only the offending request is
//! rejected (or, for a retry, answered with the original result).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot, watch};

use super::durable::{Durable, Pending, sync_failed};
use super::inline::InlineHook;
use super::stream_index::{IndexEntry, UnindexedTail};
use crate::clock::Clock;
use crate::envelope::{AppendResult, RecordedEvent, from_micros};
use crate::error::StoreError;
use crate::hash::{CHAIN_GENESIS, ChainFields};
use crate::keys::{DataKey, KeyCache, KeyState, MasterKey};
use crate::prepare::PreparedAppend;
use crate::seal::{event_aad, seal_bytes};

/// Most events committed in one group transaction (a single larger request still goes alone).
pub(crate) const MAX_BATCH_EVENTS: usize = 1024;

/// Most stream heads the writer keeps in memory; past this the cache is emptied and refilled
/// lazily (each head is one `streams` row away).
const MAX_CACHED_STREAMS: usize = 131_072;

/// Committed events between two background checkpoint requests.
const CHECKPOINT_EVERY_EVENTS: u64 = 2048;

/// What the writer thread is asked to do.
pub(crate) enum WriterMsg {
    /// Append one request; the answer comes after the group commit.
    Append {
        request: PreparedAppend,
        reply: AppendReply,
    },
    /// Destroy a data key (crypto-shredding).
    Destroy {
        tenant: String,
        subject: String,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Finish queued work, close the connection, then answer.
    Shutdown { reply: oneshot::Sender<()> },
}

/// Where an append's answer goes.
pub(crate) type AppendReply = oneshot::Sender<Answer>;

/// What an append's caller gets back: the outcome, and the request itself, so that the
/// caller's task frees it (freeing a group's payloads took 15% of the writer's time).
pub(crate) struct Answer {
    pub outcome: Result<AppendResult, StoreError>,
    pub spent: PreparedAppend,
}

/// A group's answers, handed to a task in the runtime that sends them (one wake-up for the
/// writer thread instead of one per request).
pub(crate) type ReplyBatch = Vec<(AppendReply, Answer)>;

const INSERT_EVENT: &str = "INSERT INTO events (position, event_id, tenant, stream, stream_id, \
     version, event_type, schema_version, occurred_at, recorded_at, actor_member, actor_agency, \
     correlation_id, causation_id, data_subject, payload, sealed, content_digest, prev_hash, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
const SELECT_STREAM: &str = "SELECT stream_id FROM streams WHERE tenant = ?1 AND stream = ?2";
/// A stream's last indexed event (its head, unless the unindexed tail has a newer one).
const SELECT_INDEXED_HEAD: &str = "SELECT i.version, e.hash FROM stream_index i \
     JOIN events e ON e.position = i.position WHERE i.stream_id = ?1 \
     ORDER BY i.version DESC LIMIT 1";
const SELECT_HASH_AT: &str = "SELECT hash FROM events WHERE position = ?1";
const INSERT_STREAM: &str = "INSERT INTO streams (tenant, stream, stream_id) VALUES (?1, ?2, ?3)";
const EVENT_ID_EXISTS: &str = "SELECT 1 FROM events WHERE event_id = ?1";
const SELECT_BY_ID: &str =
    "SELECT position, version, recorded_at, content_digest FROM events WHERE event_id = ?1";
const SELECT_KEY: &str = "SELECT wrapped FROM data_keys WHERE tenant = ?1 AND subject = ?2";
const INSERT_KEY: &str =
    "INSERT INTO data_keys (tenant, subject, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)";

/// The outcome of one request inside a group: `Err` only for an unexpected failure while
/// writing (the group must be rolled back); a rejected request is `Ok(Err(..))`.
type Applied = Result<Result<AppendResult, StoreError>, StoreError>;

/// The writer thread: its connection and everything else it owns.
pub(crate) struct Writer {
    conn: Connection,
    st: State,
}

/// The writer's in-memory state (kept apart from the connection so that prepared statements,
/// which borrow the connection, can be used while the state changes).
struct State {
    master: MasterKey,
    /// Last assigned global position (committed, or in the open transaction).
    head: u64,
    /// Next stream id to hand out (committed, or in the open transaction).
    next_stream_id: i64,
    /// Events not yet in `stream_index` (committed, or in the open transaction).
    unindexed: UnindexedTail,
    /// recorded_at of the last group, so time never goes backwards.
    last_recorded_us: i64,
    /// Unwrapped data keys known to the writer (including ones created in the open group).
    keys: HashMap<String, HashMap<String, DataKey>>,
    /// Keys created in the open group (forgotten again if it rolls back).
    created_in_batch: Vec<(String, String)>,
    /// Stream heads (tenant → stream → head) exactly as the writer's connection sees them,
    /// open transaction included: the writer is the only one that writes the file, so an
    /// entry only changes when the writer appends to that stream. Emptied whenever anything
    /// is rolled back (a head is then found again from the stream's last event on first use).
    streams: HashMap<String, HashMap<String, StreamHead>>,
    /// Number of entries in `streams`.
    cached_streams: usize,
    shared_keys: Arc<KeyCache>,
    /// Publishes the head after each commit; `None` when the durability stage does that.
    head_tx: Option<watch::Sender<u64>>,
    /// The committed and the durable head, shared with the store's handles.
    durable: Arc<Durable>,
    /// Hands committed groups to the durability stage (full durability only).
    durable_tx: Option<std::sync::mpsc::Sender<Pending>>,
    /// The durability stage's thread, joined when the writer stops.
    durable_thread: Option<std::thread::JoinHandle<()>>,
    clock: Arc<dyn Clock>,
    /// Sends answers through a runtime task; `None` (or a closed task): answer directly.
    replies: Option<mpsc::UnboundedSender<ReplyBatch>>,
    /// Wakes the background checkpointer.
    checkpointer: Option<std::sync::mpsc::SyncSender<()>>,
    /// The checkpointer thread, joined when the writer stops.
    checkpoint_thread: Option<std::thread::JoinHandle<()>>,
    events_since_checkpoint: u64,
    /// Read models to update inside each group transaction.
    inline: Option<InlineHook>,
    /// The open group's events, for `inline` (collected only when it is set).
    recorded: Vec<RecordedEvent>,
    /// Where each of `recorded` came from: (request, event) in the group, so that a pass
    /// rolled back can give the payloads it moved back to their events.
    recorded_from: Vec<(usize, usize)>,
    /// Group-commit totals, shared with the store handles.
    stats: Arc<crate::stats::CommitStats>,
}

/// The tail of a stream: what the next append to it needs.
#[derive(Clone, Copy)]
struct StreamHead {
    id: i64,
    version: u64,
    last_hash: [u8; 32],
}

/// What the writer needs besides its connection.
pub(crate) struct WriterParts {
    pub master: MasterKey,
    pub head: u64,
    pub next_stream_id: i64,
    pub unindexed: UnindexedTail,
    pub last_recorded_us: i64,
    pub shared_keys: Arc<KeyCache>,
    pub head_tx: Option<watch::Sender<u64>>,
    pub durable: Arc<Durable>,
    pub durable_tx: Option<std::sync::mpsc::Sender<Pending>>,
    pub durable_thread: Option<std::thread::JoinHandle<()>>,
    pub clock: Arc<dyn Clock>,
    pub replies: Option<mpsc::UnboundedSender<ReplyBatch>>,
    pub checkpointer: Option<std::sync::mpsc::SyncSender<()>>,
    pub checkpoint_thread: Option<std::thread::JoinHandle<()>>,
    pub inline: Option<InlineHook>,
    pub stats: Arc<crate::stats::CommitStats>,
}

/// The statements of the append path, prepared once per group.
struct Stmts<'c> {
    select_stream: CachedStatement<'c>,
    id_exists: CachedStatement<'c>,
    insert: CachedStatement<'c>,
    insert_stream: CachedStatement<'c>,
}

impl<'c> Stmts<'c> {
    fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Stmts {
            select_stream: conn.prepare_cached(SELECT_STREAM)?,
            id_exists: conn.prepare_cached(EVENT_ID_EXISTS)?,
            insert: conn.prepare_cached(INSERT_EVENT)?,
            insert_stream: conn.prepare_cached(INSERT_STREAM)?,
        })
    }
}

/// What to restore when the open group is rolled back.
#[derive(Clone, Copy)]
struct Mark {
    head: u64,
    next_stream_id: i64,
    created: usize,
    recorded: usize,
    unindexed: usize,
}

impl State {
    fn mark(&self) -> Mark {
        Mark {
            head: self.head,
            next_stream_id: self.next_stream_id,
            created: self.created_in_batch.len(),
            recorded: self.recorded.len(),
            unindexed: self.unindexed.len(),
        }
    }

    /// Forgets what happened after `mark` (its writes were rolled back).
    fn reset_to(&mut self, mark: Mark) {
        self.head = mark.head;
        self.forget_streams();
        self.next_stream_id = mark.next_stream_id;
        self.recorded.truncate(mark.recorded);
        self.recorded_from.truncate(mark.recorded);
        self.unindexed.truncate(mark.unindexed);
        for (tenant, subject) in self.created_in_batch.split_off(mark.created) {
            self.forget_key(&tenant, &subject);
        }
    }

    fn forget_streams(&mut self) {
        self.streams.clear();
        self.cached_streams = 0;
    }

    /// The stream's head from memory, else from the log (then remembered); `None` if the
    /// stream does not exist.
    fn stream_head(
        &mut self,
        conn: &Connection,
        select: &mut CachedStatement<'_>,
        tenant: &str,
        stream: &str,
    ) -> Result<Option<StreamHead>, StoreError> {
        if let Some(head) = self.streams.get(tenant).and_then(|m| m.get(stream)) {
            return Ok(Some(*head));
        }
        let Some(id) = select
            .query_row(params![tenant, stream], |r| r.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(None);
        };
        // The head is the stream's last event: in the unindexed tail if it has events there,
        // else the last one the index lists.
        let last = match self.unindexed.last_of(id) {
            Some(entry) => Some((
                entry.version,
                conn.prepare_cached(SELECT_HASH_AT)?
                    .query_row([entry.position as i64], |r| r.get(0))?,
            )),
            None => conn
                .prepare_cached(SELECT_INDEXED_HEAD)?
                .query_row([id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?,
        };
        let Some((version, last_hash)) = last else {
            return Err(StoreError::Corrupt(format!(
                "the stream {stream:?} is listed but has no events"
            )));
        };
        let head = StreamHead {
            id,
            version,
            last_hash,
        };
        self.remember_stream(tenant, stream, head);
        Ok(Some(head))
    }

    /// Records a stream's new head (after its events were inserted).
    fn remember_stream(&mut self, tenant: &str, stream: &str, head: StreamHead) {
        let streams = match self.streams.get_mut(tenant) {
            Some(m) => m,
            None => self.streams.entry(tenant.to_owned()).or_default(),
        };
        match streams.get_mut(stream) {
            Some(cached) => *cached = head,
            None => {
                streams.insert(stream.to_owned(), head);
                self.cached_streams += 1;
            }
        }
    }

    fn forget_key(&mut self, tenant: &str, subject: &str) {
        if let Some(m) = self.keys.get_mut(tenant) {
            m.remove(subject);
        }
    }

    fn answer(&mut self, answers: ReplyBatch) {
        let answers = match &self.replies {
            Some(tx) => match tx.send(answers) {
                Ok(()) => return,
                Err(returned) => {
                    // The runtime task is gone (its runtime shut down): answer from here.
                    self.replies = None;
                    returned.0
                }
            },
            None => answers,
        };
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }

    fn maybe_checkpoint(&mut self) {
        if self.events_since_checkpoint >= CHECKPOINT_EVERY_EVENTS
            && let Some(tx) = &self.checkpointer
        {
            // A full channel means a checkpoint is already pending: nothing to do.
            let _ = tx.try_send(());
            self.events_since_checkpoint = 0;
        }
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection, parts: WriterParts) -> Self {
        Writer {
            conn,
            st: State {
                master: parts.master,
                head: parts.head,
                next_stream_id: parts.next_stream_id,
                unindexed: parts.unindexed,
                last_recorded_us: parts.last_recorded_us,
                keys: HashMap::new(),
                created_in_batch: Vec::new(),
                streams: HashMap::new(),
                cached_streams: 0,
                shared_keys: parts.shared_keys,
                head_tx: parts.head_tx,
                durable: parts.durable,
                durable_tx: parts.durable_tx,
                durable_thread: parts.durable_thread,
                clock: parts.clock,
                replies: parts.replies,
                checkpointer: parts.checkpointer,
                checkpoint_thread: parts.checkpoint_thread,
                events_since_checkpoint: 0,
                inline: parts.inline,
                recorded: Vec::new(),
                recorded_from: Vec::new(),
                stats: parts.stats,
            },
        }
    }

    /// Whether the inline hook is set (appends must then keep their payloads for it).
    pub(crate) fn has_inline_hook(&self) -> bool {
        self.st.inline.is_some()
    }

    /// The thread's main loop: runs until every sender is gone or a shutdown arrives.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        let mut pending: Option<WriterMsg> = None;
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => match rx.blocking_recv() {
                    Some(m) => m,
                    None => break,
                },
            };
            match msg {
                WriterMsg::Append { request, reply } => {
                    let mut events = request.events.len();
                    let mut batch = vec![(request, reply)];
                    while events < MAX_BATCH_EVENTS {
                        match rx.try_recv() {
                            Ok(WriterMsg::Append { request, reply }) => {
                                events += request.events.len();
                                batch.push((request, reply));
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.write_batch(batch);
                }
                WriterMsg::Destroy {
                    tenant,
                    subject,
                    reply,
                } => {
                    let _ = reply.send(self.destroy(&tenant, &subject));
                }
                WriterMsg::Shutdown { reply } => {
                    rx.close();
                    // Serve what was queued before the shutdown, then stop.
                    while let Ok(msg) = rx.try_recv() {
                        match msg {
                            WriterMsg::Append { request, reply } => {
                                self.write_batch(vec![(request, reply)])
                            }
                            WriterMsg::Destroy {
                                tenant,
                                subject,
                                reply,
                            } => {
                                let _ = reply.send(self.destroy(&tenant, &subject));
                            }
                            WriterMsg::Shutdown { reply } => {
                                let _ = reply.send(());
                            }
                        }
                    }
                    self.stop();
                    let _ = reply.send(());
                    return;
                }
            }
        }
        self.stop();
    }

    /// Closes the write connection, then lets the durability stage answer what it holds and
    /// the checkpointer finish and close its own connection.
    fn stop(mut self) {
        let checkpointer = self.st.checkpoint_thread.take();
        let durable = self.st.durable_thread.take();
        drop(self);
        for thread in [durable, checkpointer].into_iter().flatten() {
            let _ = thread.join();
        }
    }

    /// Commits a group of requests in one transaction; the answers go to the durability
    /// stage (or straight back when there is none).
    fn write_batch(&mut self, batch: Vec<(PreparedAppend, AppendReply)>) {
        let started = std::time::Instant::now();
        let stats = Arc::clone(&self.st.stats);
        self.write_group(batch);
        stats.record_write(started.elapsed());
    }

    fn write_group(&mut self, mut batch: Vec<(PreparedAppend, AppendReply)>) {
        let st = &mut self.st;
        if st.durable.has_failed() {
            let answers = batch
                .into_iter()
                .map(|(request, reply)| {
                    let outcome = Err(sync_failed("an earlier flush failed"));
                    (
                        reply,
                        Answer {
                            outcome,
                            spent: request,
                        },
                    )
                })
                .collect();
            st.answer(answers);
            return;
        }
        let now_us = st.clock.now().timestamp_micros().max(st.last_recorded_us);
        st.last_recorded_us = now_us;
        if st.cached_streams > MAX_CACHED_STREAMS {
            st.forget_streams();
        }
        let mark = st.mark();

        let outcomes = match apply_group(&self.conn, st, &mut batch, now_us, false) {
            Ok(outcomes) => Ok(outcomes),
            Err(e) => {
                if is_constraint(&e) {
                    // Expected now and then: a request reused a stored event id (ids are
                    // checked before writing only in the careful pass).
                    tracing::debug!(error = %e, "a group write hit a constraint; redoing it request by request");
                } else {
                    tracing::warn!(error = %e, "a group write failed; redoing it request by request");
                }
                rollback(&self.conn);
                restore_payloads(st, mark, &mut batch);
                st.reset_to(mark);
                apply_group(&self.conn, st, &mut batch, now_us, true)
            }
        };
        let mut indexed = false;
        let outcomes = match outcomes.and_then(|o| {
            run_inline(&self.conn, st, mark.head)?;
            indexed = fill_stream_index(&self.conn, st)?;
            st.unindexed.publish_from(mark.unindexed);
            // Before COMMIT: read models show the group as soon as it commits, and a barrier
            // taken from then on must wait for its flush.
            st.durable.note_committed(st.head);
            self.conn.execute_batch("COMMIT")?;
            Ok(o)
        }) {
            Ok(outcomes) => {
                if indexed {
                    st.unindexed.written();
                }
                for (tenant, subject) in st.created_in_batch.drain(..) {
                    if let Some(key) = st.keys.get(&tenant).and_then(|m| m.get(&subject)) {
                        st.shared_keys.set(&tenant, &subject, KeyState::Live(*key));
                    }
                }
                st.stats.record(batch.len() as u64, st.head - mark.head);
                if st.head != mark.head {
                    if let Some(tx) = &st.head_tx {
                        tx.send_replace(st.head);
                    }
                    st.events_since_checkpoint += st.head - mark.head;
                    st.maybe_checkpoint();
                }
                outcomes
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; nothing of it was stored");
                rollback(&self.conn);
                st.unindexed.unpublish_after(mark.head);
                st.reset_to(mark);
                st.durable.note_committed(mark.head);
                let msg = e.to_string();
                (0..batch.len())
                    .map(|_| Err(StoreError::WriteFailed(msg.clone())))
                    .collect()
            }
        };
        let answers: ReplyBatch = batch
            .into_iter()
            .zip(outcomes)
            .map(|((request, reply), outcome)| {
                (
                    reply,
                    Answer {
                        outcome,
                        spent: request,
                    },
                )
            })
            .collect();
        // Answers (rejections and replays included: they describe what is committed) wait
        // for the flush that makes this commit durable.
        let answers = match &st.durable_tx {
            Some(tx) => match tx.send(Pending {
                head: st.head,
                answers,
            }) {
                Ok(()) => return,
                Err(returned) => {
                    let detail = "the durability stage stopped";
                    st.durable.mark_failed();
                    returned
                        .0
                        .answers
                        .into_iter()
                        .map(|(reply, answer)| {
                            let outcome = Err(sync_failed(detail));
                            let spent = answer.spent;
                            (reply, Answer { outcome, spent })
                        })
                        .collect()
                }
            },
            None => answers,
        };
        st.answer(answers);
    }

    /// Crypto-shredding: deletes the wrapped key (keeping a tombstone with the time), then
    /// flushes the WAL so the old key bytes do not linger in it.
    fn destroy(&mut self, tenant: &str, subject: &str) -> Result<bool, StoreError> {
        let now_us = self.st.clock.now().timestamp_micros();
        if self.st.durable.has_failed() {
            return Err(sync_failed("an earlier flush failed"));
        }
        let conn = &self.conn;
        // This commit is answered here, not by the durability stage: let SQLite sync it.
        let staged = self.st.durable_tx.is_some();
        if staged {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        if let Err(e) = conn.pragma_update(None, "secure_delete", true) {
            if staged {
                let _ = conn.pragma_update(None, "synchronous", "NORMAL");
            }
            return Err(e.into());
        }
        let result = (|| -> Result<bool, StoreError> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let existed = conn.execute(
                "UPDATE data_keys SET wrapped = NULL, destroyed_at = ?3 \
                 WHERE tenant = ?1 AND subject = ?2 AND wrapped IS NOT NULL",
                params![tenant, subject, now_us],
            )? == 1;
            if !existed {
                // Keep a tombstone anyway: personal data must not be recorded for this subject.
                conn.execute(
                    "INSERT OR IGNORE INTO data_keys \
                     (tenant, subject, wrapped, created_at, destroyed_at) \
                     VALUES (?1, ?2, NULL, ?3, ?3)",
                    params![tenant, subject, now_us],
                )?;
            }
            conn.execute_batch("COMMIT")?;
            Ok(existed)
        })();
        if result.is_err() {
            rollback(conn);
        }
        let _ = conn.pragma_update(None, "secure_delete", false);
        if staged {
            let _ = conn.pragma_update(None, "synchronous", "NORMAL");
        }
        let existed = result?;
        self.st.forget_key(tenant, subject);
        self.st
            .shared_keys
            .set(tenant, subject, KeyState::Destroyed);
        // Best effort: copy the WAL into the database and truncate it, so the old key bytes
        // leave the WAL. A long reader (a running verify, say) makes this fail quickly rather
        // than stall every append; the frames are then overwritten as the WAL is reused.
        let _ = conn.busy_timeout(std::time::Duration::from_millis(200));
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "WAL still in use by a reader; it was not truncated after key destruction"
            ),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint after key destruction failed"),
        }
        let _ = conn.busy_timeout(super::schema::BUSY_TIMEOUT);
        Ok(existed)
    }
}

/// Lets the inline projector fold the group's events inside the group transaction; its
/// failure is contained by a savepoint (the events commit, read models catch up later).
fn run_inline(conn: &Connection, st: &mut State, head_before: u64) -> Result<(), StoreError> {
    let events = std::mem::take(&mut st.recorded);
    st.recorded_from.clear();
    let Some(hook) = &st.inline else {
        return Ok(());
    };
    if events.is_empty() {
        return Ok(());
    }
    conn.execute_batch("SAVEPOINT inline_projection")?;
    if let Err(e) = hook.0.apply(conn, head_before, &events) {
        tracing::warn!(error = %e, "inline projection failed; read models will catch up from the log");
        conn.execute_batch("ROLLBACK TO inline_projection")?;
    }
    conn.execute_batch("RELEASE inline_projection")?;
    Ok(())
}

/// Writes the unindexed tail into `stream_index` once it is long enough; a failure (which
/// would be a bug: versions clashing) is contained by a savepoint, so the group still
/// commits and stream reads find the events in the tail.
fn fill_stream_index(conn: &Connection, st: &mut State) -> Result<bool, StoreError> {
    if !st.unindexed.due() {
        return Ok(false);
    }
    conn.execute_batch("SAVEPOINT stream_index")?;
    let written = match st.unindexed.write(conn) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "could not fill the stream index; streams are read from the log's tail until it succeeds");
            conn.execute_batch("ROLLBACK TO stream_index")?;
            false
        }
    };
    conn.execute_batch("RELEASE stream_index")?;
    Ok(written)
}

/// Gives the payloads that a rolled-back pass moved into `st.recorded` (for the inline hook)
/// back to their events, which are about to be applied again.
fn restore_payloads(st: &mut State, mark: Mark, batch: &mut [(PreparedAppend, AppendReply)]) {
    let from = st.recorded_from.drain(mark.recorded..);
    for ((req_no, ev_no), recorded) in from.zip(st.recorded.drain(mark.recorded..)) {
        batch[req_no].0.events[ev_no].payload = Some(recorded.payload);
    }
}

fn is_constraint(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation))
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Opens the group transaction and applies every request; `careful` puts each request in its
/// own savepoint so an unexpected failure undoes only that request, and looks every event id
/// up before writing (the first pass leaves that to the unique index: a clash fails the
/// pass, which is then rolled back and redone carefully).
fn apply_group(
    conn: &Connection,
    st: &mut State,
    batch: &mut [(PreparedAppend, AppendReply)],
    now_us: i64,
    careful: bool,
) -> Result<Vec<Result<AppendResult, StoreError>>, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut stmts = Stmts::new(conn)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (req_no, (request, _)) in batch.iter_mut().enumerate() {
        if !careful {
            outcomes.push(apply(
                conn,
                st,
                &mut stmts,
                (req_no, request),
                now_us,
                false,
            )?);
            continue;
        }
        let mark = st.mark();
        conn.execute_batch("SAVEPOINT request")?;
        match apply(conn, st, &mut stmts, (req_no, request), now_us, true) {
            Ok(outcome) => {
                conn.execute_batch("RELEASE request")?;
                outcomes.push(outcome);
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO request; RELEASE request")?;
                st.reset_to(mark);
                outcomes.push(Err(e));
            }
        }
    }
    Ok(outcomes)
}

/// Validates one request and, if it is acceptable, writes it. With `check_ids` false, an
/// event id that is already stored is left to the unique index: the insert then fails and
/// the caller must roll back (the request may be partly written).
fn apply(
    conn: &Connection,
    st: &mut State,
    stmts: &mut Stmts<'_>,
    (req_no, req): (usize, &mut PreparedAppend),
    now_us: i64,
    check_ids: bool,
) -> Applied {
    let current = st.stream_head(conn, &mut stmts.select_stream, &req.tenant, &req.stream)?;
    let current_version = current.map(|h| h.version);
    if !req.expected.is_satisfied_by(current_version) {
        let reason = StoreError::VersionConflict {
            stream: req.stream.clone(),
            expected: req.expected,
            actual: current_version,
        };
        return rejected(conn, req, reason);
    }
    if check_ids {
        for ev in &req.events {
            if stmts.id_exists.exists([ev.event_id.as_bytes()])? {
                let reason = StoreError::DuplicateEventId {
                    event_id: ev.event_id,
                };
                return rejected(conn, req, reason);
            }
        }
    }
    // Resolve every key before writing, so an erased subject rejects the whole request.
    let mut keys: Vec<Option<DataKey>> = Vec::with_capacity(req.events.len());
    for ev in &req.events {
        keys.push(match (&ev.personal, &ev.data_subject) {
            (Some(_), Some(subject)) => match known_key(conn, st, &req.tenant, subject)? {
                Some(KeyState::Live(key)) => Some(key),
                Some(KeyState::Destroyed) => {
                    let reason = StoreError::DataKeyDestroyed {
                        tenant: req.tenant.clone(),
                        subject: subject.clone(),
                    };
                    return rejected(conn, req, reason);
                }
                None => None, // created below
            },
            _ => None,
        });
    }

    // From here on nothing is expected to fail.
    let (stream_id, mut version, mut prev_hash) = match current {
        Some(h) => (h.id, h.version, h.last_hash),
        None => {
            st.next_stream_id += 1;
            (st.next_stream_id - 1, 0, CHAIN_GENESIS)
        }
    };
    let first_position = st.head + 1;
    let tenant = req.tenant.as_str();
    let stream = req.stream.as_str();
    for (ev_no, (ev, key)) in req.events.iter_mut().zip(keys).enumerate() {
        version += 1;
        st.head += 1;
        let sealed = match (&ev.personal, &ev.data_subject) {
            (Some(values), Some(subject)) => {
                let key = match key {
                    Some(k) => k,
                    None => create_key(conn, st, tenant, subject, now_us)?,
                };
                Some(match ev.pre_sealed.take() {
                    Some((used, sealed)) if used == key => sealed,
                    _ => seal_bytes(&key.0, &event_aad(&ev.event_id, tenant, stream), values),
                })
            }
            _ => None,
        };
        let hash = ChainFields {
            tenant,
            stream,
            stream_version: version,
            event_id: &ev.event_id,
            event_type: &ev.event_type,
            schema_version: ev.schema_version,
            occurred_at_us: ev.occurred_at_us,
            recorded_at_us: now_us,
            actor: ev.actor.as_ref(),
            correlation_id: &ev.correlation_id,
            causation_id: ev.causation_id.as_ref(),
            data_subject: ev.data_subject.as_deref(),
            payload: ev.public_payload.as_bytes(),
            sealed: sealed.as_deref(),
            prev_hash: &prev_hash,
        }
        .hash();
        stmts.insert.execute(params![
            st.head as i64,
            ev.event_id.as_bytes(),
            tenant,
            stream,
            stream_id,
            version as i64,
            ev.event_type,
            ev.schema_version,
            ev.occurred_at_us,
            now_us,
            ev.actor.as_ref().map(|a| a.member.as_bytes()),
            ev.actor.as_ref().map(|a| a.agency.as_bytes()),
            ev.correlation_id.as_bytes(),
            ev.causation_id.as_ref().map(|c| c.as_bytes()),
            ev.data_subject,
            ev.public_payload,
            sealed,
            ev.digest,
            prev_hash,
            hash,
        ])?;
        if st.inline.is_some() {
            st.recorded_from.push((req_no, ev_no));
            st.recorded.push(RecordedEvent {
                event_id: ev.event_id,
                tenant: tenant.to_owned(),
                stream: stream.to_owned(),
                stream_version: version,
                global_position: st.head,
                event_type: ev.event_type.clone(),
                schema_version: ev.schema_version,
                occurred_at: from_micros(ev.occurred_at_us)?,
                recorded_at: from_micros(now_us)?,
                actor: ev.actor,
                correlation_id: ev.correlation_id,
                causation_id: ev.causation_id,
                data_subject: ev.data_subject.clone(),
                // Moved, not cloned (a deep copy per event); a pass that is rolled back gives
                // the payloads back before the careful one (`restore_payloads`).
                payload: {
                    debug_assert!(ev.payload.is_some(), "payloads are kept for inline hooks");
                    ev.payload.take().unwrap_or_default()
                },
                prev_hash,
                hash,
            });
        }
        st.unindexed.push(IndexEntry {
            stream_id,
            version,
            position: st.head,
        });
        prev_hash = hash;
    }
    // A new stream gets its row; an existing one's head is its last event, just inserted.
    if current.is_none() {
        stmts
            .insert_stream
            .execute(params![tenant, stream, stream_id])?;
    }
    st.remember_stream(
        tenant,
        stream,
        StreamHead {
            id: stream_id,
            version,
            last_hash: prev_hash,
        },
    );
    Ok(Ok(AppendResult {
        first_position,
        last_position: st.head,
        stream_version: version,
        recorded_at: from_micros(now_us)?,
        replayed: false,
    }))
}

/// A request that cannot be applied as sent: it may still be a retry of an earlier one,
/// which wins over every other reason (the original result is returned).
fn rejected(conn: &Connection, req: &PreparedAppend, reason: StoreError) -> Applied {
    match find_replay(conn, req) {
        Ok(Some(replayed)) => Ok(Ok(replayed)),
        Ok(None) => Ok(Err(reason)),
        // A partial or different earlier append: a rejection, not a failed write.
        Err(e @ StoreError::DuplicateEventId { .. }) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// If every event of `req` is already stored with the same content (as one contiguous
/// append), the original result; `None` if none of its ids exists; `DuplicateEventId`
/// otherwise.
fn find_replay(
    conn: &Connection,
    req: &PreparedAppend,
) -> Result<Option<AppendResult>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_BY_ID)?;
    let mut found = Vec::with_capacity(req.events.len());
    for ev in &req.events {
        let row: Option<(i64, i64, i64, [u8; 32])> = stmt
            .query_row([ev.event_id.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        found.push(row);
    }
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    let first_pos = found[0].map(|(p, ..)| p);
    for (i, (ev, row)) in req.events.iter().zip(&found).enumerate() {
        let same = match (row, first_pos) {
            (Some((pos, _, _, digest)), Some(first)) => {
                *digest == ev.digest && *pos == first + i as i64
            }
            _ => false,
        };
        if !same {
            // Name an id that exists, so the caller sees which one clashes.
            let clashing = req
                .events
                .iter()
                .zip(&found)
                .skip(i)
                .chain(req.events.iter().zip(&found))
                .find(|(_, r)| r.is_some())
                .map(|(e, _)| e.event_id)
                .unwrap_or(ev.event_id);
            return Err(StoreError::DuplicateEventId { event_id: clashing });
        }
    }
    let (first, ..) = found[0].expect("checked above");
    let (last, version, recorded_at, _) = found[found.len() - 1].expect("checked above");
    Ok(Some(AppendResult {
        first_position: first as u64,
        last_position: last as u64,
        stream_version: version as u64,
        recorded_at: from_micros(recorded_at)?,
        replayed: true,
    }))
}

/// The subject's key state from memory or the table; `None` if it has no key yet.
fn known_key(
    conn: &Connection,
    st: &mut State,
    tenant: &str,
    subject: &str,
) -> Result<Option<KeyState>, StoreError> {
    if let Some(key) = st.keys.get(tenant).and_then(|m| m.get(subject)) {
        return Ok(Some(KeyState::Live(*key)));
    }
    let stored: Option<Option<Vec<u8>>> = conn
        .prepare_cached(SELECT_KEY)?
        .query_row(params![tenant, subject], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        Some(Some(wrapped)) => {
            let key = st.master.unwrap(tenant, subject, &wrapped)?;
            st.keys
                .entry(tenant.to_owned())
                .or_default()
                .insert(subject.to_owned(), key);
            Some(KeyState::Live(key))
        }
        Some(None) => Some(KeyState::Destroyed),
        None => None,
    })
}

/// Creates and stores a data key for a subject that has none (inside the open group).
fn create_key(
    conn: &Connection,
    st: &mut State,
    tenant: &str,
    subject: &str,
    now_us: i64,
) -> Result<DataKey, StoreError> {
    // An earlier event of the same request may have created it already.
    if let Some(key) = st.keys.get(tenant).and_then(|m| m.get(subject)) {
        return Ok(*key);
    }
    let key = DataKey::generate();
    let wrapped = st.master.wrap(tenant, subject, &key);
    conn.prepare_cached(INSERT_KEY)?
        .execute(params![tenant, subject, wrapped, now_us])?;
    st.keys
        .entry(tenant.to_owned())
        .or_default()
        .insert(subject.to_owned(), key);
    st.created_in_batch
        .push((tenant.to_owned(), subject.to_owned()));
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ProposedEvent;
    use crate::expected::ExpectedVersion;
    use crate::prepare::prepare_append;
    use crate::sqlite::schema;
    use serde_json::json;

    fn writer(dir: &tempfile::TempDir) -> (Writer, watch::Receiver<u64>) {
        let master = MasterKey::generate();
        let opened = schema::open_writer(&dir.path().join("w.db"), &master).unwrap();
        let (conn, head, last, next_stream_id, unindexed) = (
            opened.conn,
            opened.head,
            opened.last_recorded_us,
            opened.next_stream_id,
            opened.unindexed,
        );
        let (tx, rx) = watch::channel(head);
        let durable = Arc::new(Durable::new(head, rx.clone()));
        let parts = WriterParts {
            master,
            head,
            next_stream_id,
            unindexed,
            last_recorded_us: last,
            shared_keys: Arc::new(KeyCache::default()),
            head_tx: Some(tx),
            durable,
            durable_tx: None,
            durable_thread: None,
            clock: Arc::new(crate::clock::SystemClock),
            replies: None,
            checkpointer: None,
            checkpoint_thread: None,
            inline: None,
            stats: Arc::default(),
        };
        (Writer::new(conn, parts), rx)
    }

    fn request(
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> ((PreparedAppend, AppendReply), oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let req = prepare_append("t", stream, expected, events, true).unwrap();
        ((req, tx), rx)
    }

    fn personal(subject: &str) -> ProposedEvent {
        let mut e = ProposedEvent::new("E", json!({"v": {"$personal": subject}}));
        e.data_subject = Some(subject.into());
        e
    }

    /// Records the payload of every event the inline hook is given.
    struct Seen(std::sync::Mutex<Vec<(u64, serde_json::Value)>>);

    impl crate::sqlite::InlineProjector for Seen {
        fn apply(&self, _: &Connection, _: u64, events: &[RecordedEvent]) -> Result<(), String> {
            let mut seen = self.0.lock().unwrap();
            seen.extend(
                events
                    .iter()
                    .map(|e| (e.global_position, e.payload.clone())),
            );
            Ok(())
        }
    }

    /// The writer moves payloads into the inline hook's events instead of copying them; a
    /// first pass that is rolled back (a reused id) must give them back, so the careful pass
    /// hands the hook the payloads as proposed.
    #[test]
    fn the_inline_hook_gets_every_payload_even_after_a_redone_group() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _head) = writer(&dir);
        let seen = Arc::new(Seen(Default::default()));
        w.st.inline = Some(InlineHook(seen.clone()));
        let (a, ra) = request("s", ExpectedVersion::NoStream, vec![personal("p1")]);
        let mut clash = personal("p2");
        clash.event_id = a.0.events[0].event_id;
        let (b, rb) = request("t", ExpectedVersion::Any, vec![personal("p3"), clash]);
        let (c, rc) = request("u", ExpectedVersion::Any, vec![personal("p4")]);
        w.write_batch(vec![a, b, c]);

        assert_eq!(
            ra.blocking_recv().unwrap().outcome.unwrap().last_position,
            1
        );
        let err = rb.blocking_recv().unwrap().outcome.unwrap_err();
        assert_eq!(err.code(), "DUPLICATE_EVENT_ID");
        assert_eq!(
            rc.blocking_recv().unwrap().outcome.unwrap().last_position,
            2
        );
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (1, json!({"v": {"$personal": "p1"}})),
                (2, json!({"v": {"$personal": "p4"}}))
            ]
        );
    }

    /// One group, four requests: the second and fourth fail and are rolled back alone.
    #[test]
    fn a_failing_request_in_a_group_does_not_affect_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, head) = writer(&dir);
        let (a, ra) = request("s", ExpectedVersion::NoStream, vec![personal("p1")]);
        // Conflicts with `a`, which is in the same (uncommitted) transaction.
        let (b, rb) = request("s", ExpectedVersion::NoStream, vec![personal("p2")]);
        let (c, rc) = request(
            "other",
            ExpectedVersion::Any,
            vec![personal("p3"), personal("p1")],
        );
        let dup = a.0.events[0].event_id;
        let mut clash = personal("p4");
        clash.event_id = dup;
        // Its second event reuses `a`'s id (inserted earlier in this same group).
        let (d, rd) = request("third", ExpectedVersion::Any, vec![personal("p5"), clash]);
        w.write_batch(vec![a, b, c, d]);

        let ra = ra.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!((ra.first_position, ra.stream_version), (1, 1));
        let err = rb.blocking_recv().unwrap().outcome.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::VersionConflict {
                    actual: Some(1),
                    ..
                }
            ),
            "{err}"
        );
        let rc = rc.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!(
            (rc.first_position, rc.last_position, rc.stream_version),
            (2, 3, 2)
        );
        let err = rd.blocking_recv().unwrap().outcome.unwrap_err();
        assert_eq!(err.code(), "DUPLICATE_EVENT_ID");
        assert_eq!(ra.recorded_at, rc.recorded_at, "one group, one recorded_at");

        assert_eq!(*head.borrow(), 3);
        let count: i64 = w
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 3);
        let third: Option<i64> = w
            .conn
            .query_row(
                "SELECT stream_id FROM streams WHERE stream = 'third'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(third, None);
        // Keys of rolled-back requests are gone from both the table and the writer's memory.
        let subjects: Vec<String> = w
            .conn
            .prepare("SELECT subject FROM data_keys ORDER BY subject")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(subjects, vec!["p1", "p3"]);
        assert!(!w.st.keys["t"].contains_key("p5"));
        assert!(w.st.created_in_batch.is_empty());

        // An event of a rejected request was never written, so its id is still free.
        let (f, rf) = request("fourth", ExpectedVersion::Any, vec![personal("p5")]);
        w.write_batch(vec![f]);
        assert_eq!(
            rf.blocking_recv().unwrap().outcome.unwrap().first_position,
            4
        );

        // The next group continues from the right position.
        let (e, re) = request("s", ExpectedVersion::Exact(1), vec![personal("p1")]);
        w.write_batch(vec![e]);
        let re = re.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!((re.first_position, re.stream_version), (5, 2));
        assert!(re.recorded_at >= ra.recorded_at);
    }

    /// A write that fails unexpectedly (here: a trigger planted by hand rejects the second
    /// event of one request) fails only its own request: the group is redone with a savepoint
    /// per request, and that request leaves nothing behind (no event, no key, no stream).
    #[test]
    fn an_unexpected_write_failure_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, head) = writer(&dir);
        w.conn
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON events \
                 WHEN NEW.stream = 'broken' AND NEW.version = 2 \
                 BEGIN SELECT RAISE(ABORT, 'planted failure'); END;",
            )
            .unwrap();

        let (b, rb) = request("fine-1", ExpectedVersion::NoStream, vec![personal("p1")]);
        let (c, rc) = request(
            "broken",
            ExpectedVersion::Any,
            vec![personal("p2"), personal("p2")],
        );
        let (d, rd) = request("fine-2", ExpectedVersion::NoStream, vec![personal("p3")]);
        w.write_batch(vec![b, c, d]);

        let rb = rb.blocking_recv().unwrap().outcome.unwrap();
        let err = rc.blocking_recv().unwrap().outcome.unwrap_err();
        let rd = rd.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!(err.code(), "STORE_IO", "{err}");
        assert!(err.to_string().contains("planted failure"), "{err}");
        assert_eq!((rb.first_position, rd.first_position), (1, 2));
        assert_eq!(*head.borrow(), 2);
        let count = |sql: &str| -> i64 { w.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM events"), 2);
        assert_eq!(
            count("SELECT count(*) FROM streams WHERE stream = 'broken'"),
            0
        );
        assert_eq!(
            count("SELECT count(*) FROM data_keys WHERE subject = 'p2'"),
            0
        );
        assert!(!w.st.keys["t"].contains_key("p2"));
        // Keys of the first (rolled back) attempt were recreated and stored, not only kept
        // in memory.
        for subject in ["p1", "p3"] {
            let wrapped: Vec<u8> = w
                .conn
                .query_row(
                    "SELECT wrapped FROM data_keys WHERE subject = ?1",
                    [subject],
                    |r| r.get(0),
                )
                .unwrap();
            let stored = w.st.master.unwrap("t", subject, &wrapped).unwrap();
            assert_eq!(stored, w.st.keys["t"][subject]);
        }
        // Stream ids handed out in the failed attempt were taken back.
        assert_eq!(
            count("SELECT max(stream_id) FROM streams"),
            2,
            "stream ids stay dense"
        );

        // The writer's in-memory stream heads were rebuilt from the table after the rollback:
        // the next appends see the right versions and chain on the stored hashes.
        let (e, re) = request("fine-1", ExpectedVersion::Exact(1), vec![personal("p1")]);
        let (f, rf) = request("broken", ExpectedVersion::NoStream, vec![personal("p2")]);
        w.write_batch(vec![e, f]);
        let re = re.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!((re.first_position, re.stream_version), (3, 2));
        let rf = rf.blocking_recv().unwrap().outcome.unwrap();
        assert_eq!((rf.first_position, rf.stream_version), (4, 1));
        let (prev, last): (Vec<u8>, Vec<u8>) = w
            .conn
            .query_row(
                "SELECT (SELECT hash FROM events WHERE position = 1), \
                        (SELECT prev_hash FROM events WHERE position = 3)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(prev, last);
    }
}
