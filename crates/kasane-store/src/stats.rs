//! Counters of the store's group commits, for metrics: how many appends share a commit.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals since the store was opened; a backend updates them after each commit.
#[derive(Debug, Default)]
pub struct CommitStats {
    commits: AtomicU64,
    appends: AtomicU64,
    events: AtomicU64,
    flushes: AtomicU64,
    flush_micros: AtomicU64,
    write_micros: AtomicU64,
}

/// A snapshot of [`CommitStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitCounts {
    /// Transactions committed.
    pub commits: u64,
    /// Append requests answered by those commits.
    pub appends: u64,
    /// Events written by them.
    pub events: u64,
    /// Flushes of the log to disk made outside the commits (each may cover several).
    pub flushes: u64,
    /// Time spent in those flushes, in microseconds.
    pub flush_micros: u64,
    /// Time the writer spent writing groups (from taking a group to handing it on), in
    /// microseconds: its cost per event, apart from how long the disk takes to flush.
    pub write_micros: u64,
}

impl CommitStats {
    /// Counts one commit of `appends` requests holding `events` events.
    pub fn record(&self, appends: u64, events: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(appends, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
    }

    /// Adds the time the writer spent on one group.
    pub fn record_write(&self, took: std::time::Duration) {
        self.write_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts one flush of the log that took `took`.
    pub fn record_flush(&self, took: std::time::Duration) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flush_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> CommitCounts {
        CommitCounts {
            commits: self.commits.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            flush_micros: self.flush_micros.load(Ordering::Relaxed),
            write_micros: self.write_micros.load(Ordering::Relaxed),
        }
    }
}
