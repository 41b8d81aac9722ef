//! The stream index: where each stream's events are in the log.
//!
//! An index on `events (stream_id, version)` would cost every append a write on its own
//! stream's leaf, so a group of appends to many streams would dirty a page per stream (the
//! largest single cost of a group commit, measured). Instead the writer keeps the newest
//! events, the *unindexed tail*, in memory and writes them into `stream_index` in one sorted
//! batch every [`INDEX_EVERY_EVENTS`] events, inside a group's transaction; the `meta` row
//! [`STREAM_INDEXED_TO`] says how far the index reaches. A stream read takes its events up to
//! there from the index and the rest from the tail, in one snapshot: the writer shares where
//! each stream's tail events are ([`TailView`]), so a read fetches them by position instead
//! of scanning the tail (a fallback for the rare reader whose snapshot predates a batch).
//!
//! Stream versions stay unique because one writer assigns them (from the stream heads it
//! keeps); the primary key of `stream_index` checks that again when a batch is written, and
//! `kasane verify` checks the index against the log.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use super::reader::{EVENT_COLUMNS, ReadSide};
use super::schema::STREAM_INDEXED_TO;
use crate::envelope::RecordedEvent;
use crate::error::StoreError;
use crate::store::ReadDirection;

/// Unindexed events that make the writer fill the index (in the transaction of the group
/// that reaches it), by default. A stream read scans at most about this many rows of the
/// tail.
pub(crate) const INDEX_EVERY_EVENTS: usize = 16384;

/// One event's place: what `stream_index` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub stream_id: i64,
    pub version: u64,
    pub position: u64,
}

/// The events after the last indexed position, in log order, as the writer sees them (its
/// open transaction included).
pub(crate) struct UnindexedTail {
    entries: Vec<IndexEntry>,
    /// What readers see of the entries.
    view: Arc<TailView>,
    /// Length at which the next batch is written (moved on when a batch fails to write).
    write_at: usize,
    /// Entries per batch.
    every: usize,
}

impl UnindexedTail {
    /// Reads the tail of the log that `stream_index` does not cover yet.
    pub(crate) fn load(conn: &Connection) -> Result<Self, StoreError> {
        let indexed_to = indexed_to(conn)?;
        let mut stmt = conn.prepare(
            "SELECT stream_id, version, position FROM events WHERE position > ?1 \
             ORDER BY position",
        )?;
        let entries = stmt
            .query_map([indexed_to as i64], |r| {
                Ok(IndexEntry {
                    stream_id: r.get(0)?,
                    version: r.get::<_, i64>(1)? as u64,
                    position: r.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let view = TailView::default();
        view.reset(indexed_to);
        view.publish(&entries);
        Ok(UnindexedTail {
            entries,
            view: Arc::new(view),
            write_at: INDEX_EVERY_EVENTS,
            every: INDEX_EVERY_EVENTS,
        })
    }

    /// Writes a batch every `every` events instead (at least 1).
    pub(crate) fn every(mut self, every: usize) -> Self {
        self.every = every.max(1);
        self.write_at = self.every;
        self
    }

    /// Notes an event the open group just inserted.
    pub(crate) fn push(&mut self, entry: IndexEntry) {
        self.entries.push(entry);
    }

    /// The stream's newest unindexed event, if it has one (a scan from the newest entry back:
    /// only stream-head cache misses ask).
    pub(crate) fn last_of(&self, stream_id: i64) -> Option<IndexEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.stream_id == stream_id)
            .copied()
    }

    /// How many events are unindexed.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets the entries after the first `len` (their inserts were rolled back).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }

    /// Whether the tail is long enough to be written into the index now.
    pub(crate) fn due(&self) -> bool {
        self.entries.len() >= self.write_at
    }

    /// Writes every entry into `stream_index` in key order and moves the mark to the last
    /// one, inside the caller's transaction. The entries stay until [`Self::written`] (the
    /// transaction may still roll back); a failure postpones the next attempt.
    pub(crate) fn write(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let Some(last) = self.entries.last().map(|e| e.position) else {
            return Ok(());
        };
        let result = write_sorted(conn, &self.entries, last);
        if result.is_err() {
            self.write_at = self.entries.len() + self.every;
        }
        result
    }

    /// Forgets every entry: the transaction that wrote them committed.
    pub(crate) fn written(&mut self) {
        if let Some(last) = self.entries.last() {
            self.view.reset(last.position);
        }
        self.entries.clear();
        self.write_at = self.every;
    }

    /// What readers see of the tail.
    pub(crate) fn view(&self) -> Arc<TailView> {
        Arc::clone(&self.view)
    }

    /// Shows readers the entries from the `from`-th on (the group about to commit). They
    /// stay beyond the durable head, which readers stop at, until the group is flushed.
    pub(crate) fn publish_from(&self, from: usize) {
        self.view
            .publish(&self.entries[from.min(self.entries.len())..]);
    }

    /// Takes back what was shown of positions after `head` (the group failed to commit, and
    /// the next one will reuse its positions).
    pub(crate) fn unpublish_after(&self, head: u64) {
        self.view.forget_after(head);
    }
}

/// The unindexed tail as readers see it: each stream's (version, position) pairs after the
/// index's mark (`base`). The writer publishes a group's entries before its COMMIT (readers
/// ignore positions past the durable head, which the group passes only after its flush),
/// takes them back if the COMMIT fails, and starts afresh from the new mark once a batch of
/// the index has committed.
#[derive(Debug, Default)]
pub(crate) struct TailView(RwLock<TailState>);

#[derive(Debug, Default)]
struct TailState {
    base: u64,
    by_stream: HashMap<i64, Vec<(u64, u64)>>,
}

impl TailView {
    fn state(&self) -> std::sync::RwLockWriteGuard<'_, TailState> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, entries: &[IndexEntry]) {
        if entries.is_empty() {
            return;
        }
        let mut state = self.state();
        for e in entries {
            state
                .by_stream
                .entry(e.stream_id)
                .or_default()
                .push((e.version, e.position));
        }
    }

    fn forget_after(&self, head: u64) {
        let mut state = self.state();
        state.by_stream.retain(|_, places| {
            places.retain(|&(_, position)| position <= head);
            !places.is_empty()
        });
    }

    fn reset(&self, base: u64) {
        let mut state = self.state();
        state.base = base;
        state.by_stream.clear();
    }

    /// The (version, position) pairs of `stream_id` with positions in `(mark, head]`, in
    /// version order; `None` when the view starts after `mark` (the caller's snapshot is
    /// older than the index batch that reset it: the caller scans the log instead).
    pub(crate) fn places(&self, mark: u64, stream_id: i64, head: u64) -> Option<Vec<(u64, u64)>> {
        let state = self.0.read().unwrap_or_else(|p| p.into_inner());
        if state.base > mark {
            return None;
        }
        Some(
            state
                .by_stream
                .get(&stream_id)
                .map(|places| {
                    places
                        .iter()
                        .copied()
                        .filter(|&(_, position)| position > mark && position <= head)
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

fn write_sorted(conn: &Connection, entries: &[IndexEntry], last: u64) -> rusqlite::Result<()> {
    // Sorted, every leaf of the index is written once per batch.
    let mut sorted = entries.to_vec();
    sorted.sort_unstable_by_key(|e| (e.stream_id, e.version));
    let mut insert = conn.prepare_cached(
        "INSERT INTO stream_index (stream_id, version, position) VALUES (?1, ?2, ?3)",
    )?;
    for e in &sorted {
        insert.execute(params![e.stream_id, e.version as i64, e.position as i64])?;
    }
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE key = ?1")?
        .execute(params![STREAM_INDEXED_TO, last as i64])?;
    Ok(())
}

/// The last position covered by `stream_index`.
pub(crate) fn indexed_to(conn: &Connection) -> Result<u64, StoreError> {
    let to: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([STREAM_INDEXED_TO], |r| r.get(0))?;
    Ok(to as u64)
}

/// Events of one stream found through the index (positions up to the mark), in version order.
static INDEXED_FORWARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position IN \
         (SELECT position FROM stream_index WHERE stream_id = ?1 AND version >= ?2 \
          AND position <= ?4 ORDER BY version LIMIT ?3) ORDER BY position"
    )
});
static INDEXED_BACKWARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position IN \
         (SELECT position FROM stream_index WHERE stream_id = ?1 AND version <= ?2 \
          AND position <= ?4 ORDER BY version DESC LIMIT ?3) ORDER BY position DESC"
    )
});
/// One event by its position (a tail event that [`TailView`] located).
static BY_POSITION: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS} FROM events WHERE position = ?1"));
/// Events of one stream in the unindexed tail (positions after the mark), when the reader's
/// snapshot is older than what [`TailView`] covers.
static TAIL_FORWARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 AND position <= ?5 \
         AND stream_id = ?2 AND version >= ?3 ORDER BY position LIMIT ?4"
    )
});
static TAIL_BACKWARD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 AND position <= ?5 \
         AND stream_id = ?2 AND version <= ?3 ORDER BY position DESC LIMIT ?4"
    )
});

/// Up to `max` events of a stream from `from_version` on (forward) or down (backward).
pub(crate) fn read_stream(
    rs: &ReadSide,
    conn: &Connection,
    tenant: &str,
    stream: &str,
    from_version: i64,
    direction: ReadDirection,
    max: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    // Commits are visible before they are durable: stop at the durable head. Taken before
    // the snapshot starts (at its first SELECT), so the snapshot holds every event up to it,
    // as the tail's places from the writer's view may name any of them.
    let visible = rs.visible_head();
    // One read transaction: the mark, the index and the tail must come from one snapshot.
    conn.execute_batch("BEGIN")?;
    let wanted = Wanted {
        tenant,
        stream,
        from: from_version,
        direction,
        max,
        visible,
    };
    let result = read_in_snapshot(rs, conn, &wanted);
    let _ = conn.execute_batch("COMMIT");
    result
}

/// What a stream read asks for, and the durable head it stops at.
struct Wanted<'a> {
    tenant: &'a str,
    stream: &'a str,
    from: i64,
    direction: ReadDirection,
    max: i64,
    visible: i64,
}

fn read_in_snapshot(
    rs: &ReadSide,
    conn: &Connection,
    wanted: &Wanted<'_>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let &Wanted {
        tenant,
        stream,
        from,
        direction,
        max,
        visible,
    } = wanted;
    let (stream_id, mark): (Option<i64>, i64) = conn
        .prepare_cached(
            "SELECT (SELECT stream_id FROM streams WHERE tenant = ?1 AND stream = ?2), \
                    (SELECT value FROM meta WHERE key = ?3)",
        )?
        .query_row(params![tenant, stream, STREAM_INDEXED_TO], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let Some(stream_id) = stream_id else {
        return Ok(Vec::new());
    };
    let expected = usize::try_from(max).unwrap_or(usize::MAX);
    let forward = matches!(direction, ReadDirection::Forward);
    let indexed = |limit: i64| {
        let sql = if forward {
            &*INDEXED_FORWARD
        } else {
            &*INDEXED_BACKWARD
        };
        rs.query_recorded(
            conn,
            sql,
            params![stream_id, from, limit, visible],
            expected,
        )
    };
    let tail = |limit: i64| {
        let Some(mut places) = rs.tail.places(mark as u64, stream_id, visible as u64) else {
            let sql = if forward {
                &*TAIL_FORWARD
            } else {
                &*TAIL_BACKWARD
            };
            return rs.query_recorded(
                conn,
                sql,
                params![mark, stream_id, from, limit, visible],
                expected,
            );
        };
        let from = from as u64;
        places.retain(|&(version, _)| {
            if forward {
                version >= from
            } else {
                version <= from
            }
        });
        if !forward {
            places.reverse();
        }
        places.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut events = Vec::with_capacity(places.len());
        for (version, position) in places {
            let found = rs
                .query_recorded(conn, &BY_POSITION, params![position as i64], 1)?
                .pop()
                .filter(|e| {
                    e.stream_version == version && e.stream == stream && e.tenant == tenant
                });
            let Some(event) = found else {
                return Err(StoreError::Corrupt(format!(
                    "the stream index's tail places version {version} of {tenant}/{stream} at \
                     position {position}, where the log has no such event"
                )));
            };
            events.push(event);
        }
        Ok(events)
    };
    // Versions grow with positions: forward the index comes first, backward the tail.
    let mut events = if forward { indexed(max)? } else { tail(max)? };
    let got = events.len() as i64;
    if got < max {
        events.extend(if forward {
            tail(max - got)?
        } else {
            indexed(max - got)?
        });
    }
    Ok(events)
}

/// `kasane verify`'s check of the index against the log (inside its snapshot): every event up
/// to the mark has its entry, and every entry names an event up to the mark. Returns the first
/// disagreement as (position, stream id, version, what is wrong).
pub(crate) fn first_disagreement(
    conn: &Connection,
) -> Result<Option<(u64, i64, u64, &'static str)>, StoreError> {
    let mark = indexed_to(conn)? as i64;
    let head: i64 = conn.query_row("SELECT coalesce(max(position), 0) FROM events", [], |r| {
        r.get(0)
    })?;
    if mark > head {
        return Ok(Some((
            mark as u64,
            0,
            0,
            "the stream index claims to reach past the last event",
        )));
    }
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(u64, i64, u64)> {
        Ok((
            r.get::<_, i64>(0)? as u64,
            r.get(1)?,
            r.get::<_, i64>(2)? as u64,
        ))
    };
    let missing = conn
        .query_row(
            "SELECT position, stream_id, version FROM events e WHERE position <= ?1 \
             AND NOT EXISTS (SELECT 1 FROM stream_index i WHERE i.stream_id = e.stream_id \
                             AND i.version = e.version AND i.position = e.position) \
             ORDER BY position LIMIT 1",
            [mark],
            row,
        )
        .optional()?;
    if let Some((position, stream_id, version)) = missing {
        return Ok(Some((
            position,
            stream_id,
            version,
            "the event is missing from the stream index",
        )));
    }
    let stray = conn
        .query_row(
            "SELECT position, stream_id, version FROM stream_index i WHERE NOT EXISTS \
             (SELECT 1 FROM events e WHERE e.position = i.position AND e.position <= ?1 \
              AND e.stream_id = i.stream_id AND e.version = i.version) LIMIT 1",
            [mark],
            row,
        )
        .optional()?;
    Ok(stray.map(|(position, stream_id, version)| {
        (
            position,
            stream_id,
            version,
            "the stream index has an entry that matches no event",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream_id: i64, version: u64, position: u64) -> IndexEntry {
        IndexEntry {
            stream_id,
            version,
            position,
        }
    }

    #[test]
    fn the_view_shows_a_streams_places_up_to_the_head_after_the_readers_mark() {
        let view = TailView::default();
        view.reset(10);
        view.publish(&[entry(1, 4, 11), entry(2, 1, 12), entry(1, 5, 13)]);
        view.publish(&[entry(1, 6, 14)]);
        assert_eq!(view.places(10, 1, 13), Some(vec![(4, 11), (5, 13)]));
        assert_eq!(
            view.places(10, 1, 20),
            Some(vec![(4, 11), (5, 13), (6, 14)])
        );
        assert_eq!(view.places(10, 2, 20), Some(vec![(1, 12)]));
        assert_eq!(view.places(10, 3, 20), Some(vec![]));
        // A reader whose snapshot has a newer mark (a batch committed, the view not yet reset).
        assert_eq!(view.places(13, 1, 20), Some(vec![(6, 14)]));
    }

    #[test]
    fn a_failed_commit_is_taken_back_and_a_new_mark_sends_older_snapshots_to_the_log() {
        let view = TailView::default();
        view.reset(10);
        view.publish(&[entry(1, 4, 11)]);
        // The group of positions 12–13 failed to commit; the next reuses position 12.
        view.publish(&[entry(1, 5, 12), entry(2, 1, 13)]);
        view.forget_after(11);
        view.publish(&[entry(3, 1, 12)]);
        assert_eq!(view.places(10, 1, 20), Some(vec![(4, 11)]));
        assert_eq!(view.places(10, 2, 20), Some(vec![]));
        assert_eq!(view.places(10, 3, 20), Some(vec![(1, 12)]));
        // An index batch up to 12 committed: the view starts again from there.
        view.reset(12);
        view.publish(&[entry(1, 5, 13)]);
        assert_eq!(view.places(12, 1, 20), Some(vec![(5, 13)]));
        assert_eq!(
            view.places(10, 1, 20),
            None,
            "an older snapshot must scan the log"
        );
    }
}
