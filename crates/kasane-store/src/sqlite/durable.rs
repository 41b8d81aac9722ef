//! The durability stage: acknowledgements wait for an `fdatasync` of the WAL that runs on a
//! thread of its own, so the writer can commit the next group while the disk flushes the
//! last one.
//!
//! With `synchronous=FULL`, SQLite syncs the WAL inside every COMMIT and the writer thread
//! waits for the disk (a third of its time, measured). Instead, at full durability the
//! writer's connection commits with `synchronous=NORMAL` (SQLite still syncs around
//! checkpoints and when the WAL restarts) and hands each group's answers here; this thread
//! flushes the WAL file, which makes every frame written before the call durable, and only
//! then publishes the new head and answers. Commits queued meanwhile share one flush.
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

use super::writer::ReplyBatch;
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

/// One committed group waiting for its flush.
pub(crate) struct Pending {
    /// Head after the group's commit.
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
        let mut durable = *self.head_tx.borrow();
        while let Ok(first) = rx.recv() {
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
