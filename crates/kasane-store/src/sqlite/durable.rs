//! The durability stage: acknowledgements wait for an `fdatasync` of the WAL that runs on a
//! thread of its own, so the writer can commit the next group while the disk flushes the
//! last one.
//!
//! With `synchronous=FULL`, SQLite syncs the WAL inside every COMMIT and the writer thread
//! waits for the disk (a third of its time, measured). Instead, at full durability the
//! writer's connection commits with `synchronous=NORMAL` (SQLite still syncs around
//! checkpoints and when the WAL restarts) and hands each commit's answers here; this thread
//! flushes the WAL file, which makes every frame written before the call durable, and only
//! then publishes the new head and answers.
//!
//! While a flush runs, the writer keeps adding groups to one open transaction; when the
//! stage has nothing left to flush it raises [`FlushReady`] and wakes the writer, which then
//! commits everything it holds and hands it over at once. So the commit that a flush covers
//! is made just before that flush starts, and commits grow with the disk's latency instead
//! of each rewriting the same pages for a few events.
//!
//! A committed group is visible to SQLite readers before it is durable, so every read of the
//! log is bounded by the durable head ([`Durable`]), and read models that commit with the
//! events are covered by [`Durable::wait_for`] (see `EventStore::durable_barrier`). If a
//! flush fails, the outcome of the pending appends is unknown: they are answered with
//! `STORE_SYNC_FAILED`, and so is every later append, until the process restarts.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};

use super::writer::{ReplyBatch, WriterMsg};
use crate::error::StoreError;

/// Makes everything written to the WAL so far durable (an `fdatasync`, or a test's stand-in).
#[derive(Clone)]
pub struct SyncFn(pub Arc<dyn Fn() -> std::io::Result<()> + Send + Sync>);

impl std::fmt::Debug for SyncFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncFn")
    }
}

/// What the store's handles know about durability: the committed and the durable head.
#[derive(Debug)]
pub(crate) struct Durable {
    /// Last position committed by the writer (durable or not).
    committed: AtomicU64,
    /// Last position known durable; readers never go past it.
    durable: watch::Receiver<u64>,
    /// Set when a flush failed: nothing more may be acknowledged.
    failed: AtomicBool,
}

impl Durable {
    pub(crate) fn new(head: u64, durable: watch::Receiver<u64>) -> Self {
        Durable {
            committed: AtomicU64::new(head),
            durable,
            failed: AtomicBool::new(false),
        }
    }

    /// The last durable position: the most any read of the log may return.
    pub(crate) fn head(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Returns once everything committed so far is durable (at once when it already is).
    pub(crate) async fn wait_for_committed(&self) -> Result<(), StoreError> {
        let target = self.committed.load(Ordering::Acquire);
        let mut rx = self.durable.clone();
        // A group that failed to commit lowers `committed` again: re-read it at each wake-up.
        let waited = rx
            .wait_for(|durable| {
                *durable >= target.min(self.committed.load(Ordering::Acquire)) || self.has_failed()
            })
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Closed);
        if self.has_failed() {
            return Err(sync_failed("an earlier flush failed"));
        }
        waited
    }

    /// The last position committed (or about to be: the writer notes it just before COMMIT,
    /// and lowers it again if the COMMIT fails); SQLite's snapshot still decides what a read
    /// sees, so a bound taken from here never shows an uncommitted event.
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    pub(crate) fn note_committed(&self, head: u64) {
        self.committed.store(head, Ordering::Release);
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Refuses every later append and barrier (a flush failed, or the stage is gone).
    pub(crate) fn mark_failed(&self) {
        self.failed.store(true, Ordering::Release);
    }
}

/// The error every append gets once a flush failed.
pub(crate) fn sync_failed(detail: &str) -> StoreError {
    StoreError::SyncFailed(detail.to_owned())
}

/// Set by the stage when it waits with nothing to flush: the writer should commit now.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlushReady(Arc<AtomicBool>);

impl FlushReady {
    pub(crate) fn new(ready: bool) -> Self {
        FlushReady(Arc::new(AtomicBool::new(ready)))
    }

    /// Whether the stage is idle (the writer's next commit would be flushed at once).
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
}

/// One commit waiting for its flush.
pub(crate) struct Pending {
    /// Head after the commit.
    pub head: u64,
    pub answers: ReplyBatch,
}

/// The flushing thread's side.
pub(crate) struct SyncStage {
    pub sync: SyncFn,
    pub head_tx: watch::Sender<u64>,
    pub state: Arc<Durable>,
    pub replies: Option<mpsc::UnboundedSender<ReplyBatch>>,
    pub stats: Arc<crate::stats::CommitStats>,
    /// Raised when the stage waits with nothing to flush.
    pub ready: FlushReady,
    /// Wakes the writer when `ready` is raised (weak: the writer stops once its callers are
    /// gone, whatever the stage holds).
    pub wake: Option<mpsc::WeakSender<WriterMsg>>,
}

/// Whatever ends the stage (the writer gone, or a panic in a flush), the writer must not keep
/// waiting for it with a transaction open: raise the flag and wake it. Its next hand-over then
/// fails, which refuses that append and every later one.
struct ExitGuard<'s>(&'s SyncStage);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.state.mark_failed();
        }
        self.0.ready.set(true);
        self.0.wake_writer();
    }
}

/// `fdatasync` of the store's WAL file (`<db>-wal`, which exists once the store is open).
pub(crate) fn wal_sync(db: &Path) -> std::io::Result<SyncFn> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let file = File::options().write(true).open(&wal)?;
    Ok(SyncFn(Arc::new(move || file.sync_data())))
}

impl SyncStage {
    /// Runs until the writer drops its sender (after its last commit), then returns.
    pub(crate) fn run(self, rx: std::sync::mpsc::Receiver<Pending>) {
        let _exit = ExitGuard(&self);
        let mut durable = *self.head_tx.borrow();
        loop {
            let first = match rx.try_recv() {
                Ok(first) => first,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    // Raised before the wake-up is sent: a writer that checks the flag after
                    // this sees it, and one that checked before gets the message.
                    self.ready.set(true);
                    let first = match self.wait_for_commit(&rx) {
                        Some(first) => first,
                        None => break,
                    };
                    // The writer lowers it when it hands a commit over; this covers a commit
                    // handed over just before the flag was raised.
                    self.ready.set(false);
                    first
                }
            };
            let mut groups = vec![first];
            groups.extend(rx.try_iter());
            let head = groups.iter().map(|g| g.head).max().unwrap_or(durable);
            let flushed = if self.state.has_failed() {
                Err("an earlier flush failed".to_owned())
            } else if head > durable {
                let started = std::time::Instant::now();
                let flushed = (self.sync.0)().map_err(|e| e.to_string());
                self.stats.record_flush(started.elapsed());
                flushed
            } else {
                Ok(())
            };
            let mut answers: ReplyBatch = groups.into_iter().flat_map(|g| g.answers).collect();
            match flushed {
                Ok(()) => {
                    durable = durable.max(head);
                    self.head_tx.send_replace(durable);
                }
                Err(detail) => {
                    if !self.state.failed.swap(true, Ordering::AcqRel) {
                        tracing::error!(
                            error = %detail,
                            "flushing the WAL failed: the last appends may not be durable; \
                             refusing further appends until restart"
                        );
                    }
                    // Wake the barrier's waiters (same head) so they see the failure.
                    self.head_tx.send_replace(durable);
                    for (_, answer) in &mut answers {
                        if answer.outcome.is_ok() {
                            answer.outcome = Err(sync_failed(&detail));
                        }
                    }
                }
            }
            self.answer(answers);
        }
    }

    /// Wakes the writer, then waits for its next commit; `None` once the writer is gone.
    fn wait_for_commit(&self, rx: &std::sync::mpsc::Receiver<Pending>) -> Option<Pending> {
        let mut woken = self.wake_writer();
        loop {
            if woken {
                return rx.recv().ok();
            }
            // The queue was full. Its requests would show the writer the flag, but slots
            // promised to senders that then gave up hold nothing: try again shortly.
            match rx.recv_timeout(std::time::Duration::from_millis(5)) {
                Ok(first) => return Some(first),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    woken = !self.ready.is_set() || self.wake_writer();
                }
            }
        }
    }

    /// Tells the writer that the stage is idle; false if its queue was full.
    fn wake_writer(&self) -> bool {
        match self.wake.as_ref().and_then(mpsc::WeakSender::upgrade) {
            Some(writer) => !matches!(
                writer.try_send(WriterMsg::FlushReady),
                Err(mpsc::error::TrySendError::Full(_))
            ),
            None => true,
        }
    }

    fn answer(&self, answers: ReplyBatch) {
        let answers = match &self.replies {
            Some(tx) => match tx.send(answers) {
                Ok(()) => return,
                // The runtime's task is gone (its runtime shut down): answer from here.
                Err(returned) => returned.0,
            },
            None => answers,
        };
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}
