//! The read side: a small pool of read-only connections used from blocking tasks, row
//! decoding, payload opening, and verification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use super::durable::Durable;
use super::stream_index::TailView;
use crate::envelope::{Actor, OpenedEvent, OpenedValues, RecordedEvent, StoredEvent, from_micros};
use crate::error::StoreError;
use crate::keys::{KeyCache, KeyState, MasterKey};
use crate::seal::{Opening, event_aad, open_bytes, open_payload};
use crate::subscription::SubscriptionSource;
use crate::verify::{ChainVerifier, VerifyProblem, VerifyReport};

/// Columns of `events` in the order [`stored_from_row`] decodes them.
pub(crate) const EVENT_COLUMNS: &str = "position, event_id, tenant, stream, version, event_type, \
     schema_version, occurred_at, recorded_at, actor_member, actor_agency, correlation_id, \
     causation_id, data_subject, payload, sealed, content_digest, prev_hash, hash";

/// Events after a position, up to the durable head, in log order.
pub(crate) static READ_ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 AND position <= ?2 \
         ORDER BY position LIMIT ?3"
    )
});

/// How often verify reports progress (events).
const PROGRESS_EVERY: u64 = 10_000;

/// Read connections plus what opening payloads needs.
pub(crate) struct ReadSide {
    pool: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    keys: Arc<KeyCache>,
    master: MasterKey,
    /// Reads of the log stop at the durable head (commits become visible before their flush).
    durable: Arc<Durable>,
    /// Where each stream's unindexed events are, as the writer publishes them.
    pub(crate) tail: Arc<TailView>,
}

/// A pooled connection that goes back to the pool when dropped (even on panic).
struct Pooled<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

impl ReadSide {
    pub(crate) fn new(
        conns: Vec<Connection>,
        keys: Arc<KeyCache>,
        master: MasterKey,
        durable: Arc<Durable>,
        tail: Arc<TailView>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(conns.len()));
        ReadSide {
            pool: Mutex::new(conns),
            permits,
            keys,
            master,
            durable,
            tail,
        }
    }

    /// The last durable position: no read of the log returns an event after it.
    pub(crate) fn visible_head(&self) -> i64 {
        clamp_i64(self.durable.head())
    }

    /// The last committed position (see `EventStore::read_all_committed`).
    pub(crate) fn committed_head(&self) -> u64 {
        self.durable.committed()
    }

    /// Refuses further reads and closes idle connections.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Runs `f` with a pooled connection on tokio's blocking thread pool.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadSide, &Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let me = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = me
                .pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .ok_or(StoreError::Closed)?;
            let pooled = Pooled {
                conn: Some(conn),
                pool: &me.pool,
            };
            f(&me, pooled.conn.as_ref().expect("present until drop"))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Opens a stored event: restores personal values, or marks them erased.
    pub(crate) fn open(
        &self,
        conn: &Connection,
        ev: StoredEvent,
    ) -> Result<RecordedEvent, StoreError> {
        let opening = self.opening(conn, &ev)?;
        let payload = open_payload(&ev.payload, opening)?;
        Ok(RecordedEvent {
            event_id: ev.event_id,
            tenant: ev.tenant,
            stream: ev.stream,
            stream_version: ev.stream_version,
            global_position: ev.global_position,
            event_type: ev.event_type,
            schema_version: ev.schema_version,
            occurred_at: ev.occurred_at,
            recorded_at: ev.recorded_at,
            actor: ev.actor,
            correlation_id: ev.correlation_id,
            causation_id: ev.causation_id,
            data_subject: ev.data_subject,
            payload,
            prev_hash: ev.prev_hash,
            hash: ev.hash,
        })
    }

    /// Opens a stored event's personal values but leaves its payload as stored text.
    pub(crate) fn open_beside(
        &self,
        conn: &Connection,
        ev: StoredEvent,
    ) -> Result<OpenedEvent, StoreError> {
        let personal = match self.opening(conn, &ev)? {
            None => OpenedValues::None,
            Some(Opening::Values(values)) => OpenedValues::Opened(values),
            Some(Opening::Erased) => OpenedValues::Erased,
        };
        Ok(OpenedEvent {
            event_id: ev.event_id,
            tenant: ev.tenant,
            stream: ev.stream,
            stream_version: ev.stream_version,
            global_position: ev.global_position,
            event_type: ev.event_type,
            schema_version: ev.schema_version,
            occurred_at: ev.occurred_at,
            recorded_at: ev.recorded_at,
            actor: ev.actor,
            correlation_id: ev.correlation_id,
            payload: ev.payload,
            personal,
        })
    }

    /// Decrypts a stored event's sealed values (`None` when it has none).
    fn opening(&self, conn: &Connection, ev: &StoredEvent) -> Result<Option<Opening>, StoreError> {
        let (Some(sealed), Some(subject)) = (&ev.sealed, &ev.data_subject) else {
            return match ev.sealed {
                None => Ok(None),
                Some(_) => Err(StoreError::Corrupt(format!(
                    "event {} has sealed values but no data subject",
                    ev.event_id
                ))),
            };
        };
        Ok(Some(
            match self.key_state(conn, &ev.tenant, subject, &ev.event_id)? {
                KeyState::Destroyed => Opening::Erased,
                KeyState::Live(key) => {
                    let aad = event_aad(&ev.event_id, &ev.tenant, &ev.stream);
                    let plain = open_bytes(&key.0, &aad, sealed).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "the sealed values of event {} (position {}) do not decrypt",
                            ev.event_id, ev.global_position
                        ))
                    })?;
                    let values = serde_json::from_slice(&plain).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "the sealed values of event {} are not a JSON array ({e})",
                            ev.event_id
                        ))
                    })?;
                    Opening::Values(values)
                }
            },
        ))
    }

    fn key_state(
        &self,
        conn: &Connection,
        tenant: &str,
        subject: &str,
        event_id: &Uuid,
    ) -> Result<KeyState, StoreError> {
        if let Some(state) = self.keys.get(tenant, subject) {
            return Ok(state);
        }
        let row: Option<Option<Vec<u8>>> = conn
            .prepare_cached("SELECT wrapped FROM data_keys WHERE tenant = ?1 AND subject = ?2")?
            .query_row(params![tenant, subject], |r| r.get(0))
            .optional()?;
        let state = match row {
            Some(Some(wrapped)) => KeyState::Live(self.master.unwrap(tenant, subject, &wrapped)?),
            Some(None) => KeyState::Destroyed,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "event {event_id} is sealed for subject {subject} whose data key is missing"
                )));
            }
        };
        Ok(self.keys.insert_if_absent(tenant, subject, state))
    }

    /// Runs a query returning (about `expected`) event rows and opens each one.
    pub(crate) fn query_recorded(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        expected: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stored = query_stored(conn, sql, params, expected)?;
        stored.into_iter().map(|ev| self.open(conn, ev)).collect()
    }

    /// Walks the whole log in one read transaction (a consistent snapshot).
    pub(crate) fn verify(
        &self,
        conn: &Connection,
        progress: mpsc::UnboundedSender<u64>,
    ) -> Result<VerifyReport, StoreError> {
        conn.execute_batch("BEGIN")?;
        let result = verify_snapshot(conn, progress);
        let _ = conn.execute_batch("COMMIT");
        result
    }
}

fn verify_snapshot(
    conn: &Connection,
    progress: mpsc::UnboundedSender<u64>,
) -> Result<VerifyReport, StoreError> {
    let mut verifier = ChainVerifier::new();
    let report = |v: &ChainVerifier, problem| VerifyReport {
        events_checked: v.events_checked(),
        streams_checked: v.streams_checked(),
        first_problem: problem,
    };
    // SQLite-specific: each (tenant, stream) has exactly one stream id, used by every event.
    let mut id_of: HashMap<String, HashMap<String, i64>> = HashMap::new();
    let mut name_of: HashMap<i64, (String, String)> = HashMap::new();
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS}, stream_id FROM events ORDER BY position"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let ev = match stored_from_row(row) {
                Ok(ev) => ev,
                Err(e) => {
                    // A row that does not even decode: report it as the problem.
                    let event_id: Option<Vec<u8>> = row.get(1).ok();
                    let problem = VerifyProblem {
                        global_position: row.get::<_, i64>(0)? as u64,
                        event_id: event_id
                            .and_then(|b| Uuid::from_slice(&b).ok())
                            .unwrap_or_default(),
                        tenant: row.get(2).unwrap_or_default(),
                        stream: row.get(3).unwrap_or_default(),
                        stream_version: row.get::<_, i64>(4).unwrap_or_default() as u64,
                        reason: format!("the row does not decode ({e})"),
                    };
                    return Ok(report(&verifier, Some(problem)));
                }
            };
            if let Err(problem) = verifier.check_event(&ev) {
                return Ok(report(&verifier, Some(problem)));
            }
            // SQLite-specific: the single writer hands out positions without gaps, so a gap
            // is a lost event (the only way to notice a stream's last events going missing
            // in the unindexed part of the log, where no index row names them).
            let expected_position = verifier.events_checked();
            if ev.global_position != expected_position {
                let reason = format!(
                    "global position {} follows {} (an event is missing before it)",
                    ev.global_position,
                    expected_position - 1
                );
                return Ok(report(&verifier, Some(problem_at(ev, reason))));
            }
            let stream_id: i64 = row.get(19)?;
            let known_id = id_of
                .get(&ev.tenant)
                .and_then(|m| m.get(&ev.stream))
                .copied();
            let known_name = name_of.get(&stream_id);
            let consistent = match (known_id, known_name) {
                (None, None) => {
                    id_of
                        .entry(ev.tenant.clone())
                        .or_default()
                        .insert(ev.stream.clone(), stream_id);
                    name_of.insert(stream_id, (ev.tenant.clone(), ev.stream.clone()));
                    true
                }
                (Some(id), Some(_)) => id == stream_id,
                _ => false,
            };
            if !consistent {
                let reason = format!(
                    "the event's stream id {stream_id} does not match its stream's other events"
                );
                return Ok(report(&verifier, Some(problem_at(ev, reason))));
            }
            if verifier.events_checked().is_multiple_of(PROGRESS_EVERY) {
                let _ = progress.send(verifier.events_checked());
            }
        }
    }
    let mut stmt = conn.prepare("SELECT tenant, stream, stream_id FROM streams")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let tenant: String = row.get(0)?;
        let stream: String = row.get(1)?;
        let stream_id: i64 = row.get(2)?;
        if let Err(problem) = verifier.check_listed(&tenant, &stream) {
            return Ok(report(&verifier, Some(problem)));
        }
        let logged_id = id_of.get(&tenant).and_then(|m| m.get(&stream)).copied();
        if logged_id != Some(stream_id) {
            let problem = VerifyProblem {
                global_position: 0,
                event_id: Uuid::nil(),
                tenant,
                stream,
                stream_version: 0,
                reason: format!(
                    "the stream index gives stream id {stream_id} but the events use {logged_id:?}"
                ),
            };
            return Ok(report(&verifier, Some(problem)));
        }
    }
    if let Err(problem) = verifier.check_index_complete() {
        return Ok(report(&verifier, Some(problem)));
    }
    if let Some((position, stream_id, version, reason)) =
        super::stream_index::first_disagreement(conn)?
    {
        let (tenant, stream) = name_of.remove(&stream_id).unwrap_or_default();
        let event_id: Option<Vec<u8>> = conn
            .query_row(
                "SELECT event_id FROM events WHERE position = ?1",
                [position as i64],
                |r| r.get(0),
            )
            .optional()?;
        let problem = VerifyProblem {
            global_position: position,
            event_id: event_id
                .and_then(|b| Uuid::from_slice(&b).ok())
                .unwrap_or_default(),
            tenant,
            stream,
            stream_version: version,
            reason: reason.to_owned(),
        };
        return Ok(report(&verifier, Some(problem)));
    }
    let _ = progress.send(verifier.events_checked());
    Ok(report(&verifier, None))
}

/// Runs a query returning event rows, exactly as stored.
pub(crate) fn query_stored(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    expected: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    // Growing a vector of large rows one doubling at a time showed up in catch-up profiles.
    let mut out = Vec::with_capacity(expected.min(PREALLOCATED_ROWS));
    while let Some(row) = rows.next()? {
        out.push(stored_from_row(row)?);
    }
    Ok(out)
}

/// The most rows a query reserves room for up front (a larger page grows as usual).
const PREALLOCATED_ROWS: usize = 4096;

fn uuid_col(row: &Row<'_>, i: usize) -> Result<Uuid, StoreError> {
    let bytes: [u8; 16] = row.get(i)?;
    Ok(Uuid::from_bytes(bytes))
}

fn opt_uuid_col(row: &Row<'_>, i: usize) -> Result<Option<Uuid>, StoreError> {
    let bytes: Option<[u8; 16]> = row.get(i)?;
    Ok(bytes.map(Uuid::from_bytes))
}

/// Decodes one `events` row selected with [`EVENT_COLUMNS`].
pub(crate) fn stored_from_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let position: i64 = row.get(0)?;
    let version: i64 = row.get(4)?;
    let schema_version: i64 = row.get(6)?;
    let member = opt_uuid_col(row, 9)?;
    let agency = opt_uuid_col(row, 10)?;
    let actor = match (member, agency) {
        (Some(member), Some(agency)) => Some(Actor { member, agency }),
        (None, None) => None,
        _ => return Err(StoreError::Corrupt("an event has half an actor".into())),
    };
    Ok(StoredEvent {
        global_position: position as u64,
        event_id: uuid_col(row, 1)?,
        tenant: row.get(2)?,
        stream: row.get(3)?,
        stream_version: version as u64,
        event_type: row.get(5)?,
        schema_version: u16::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {schema_version}")))?,
        occurred_at: from_micros(row.get(7)?)?,
        recorded_at: from_micros(row.get(8)?)?,
        actor,
        correlation_id: uuid_col(row, 11)?,
        causation_id: opt_uuid_col(row, 12)?,
        data_subject: row.get(13)?,
        payload: row.get(14)?,
        sealed: row.get(15)?,
        content_digest: row.get(16)?,
        prev_hash: row.get(17)?,
        hash: row.get(18)?,
    })
}

/// Subscriptions read through the pool (they do not keep the writer alive).
#[async_trait::async_trait]
impl SubscriptionSource for ReadSideSource {
    async fn read_after(
        &self,
        after_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_all(&self.0, after_position, max, false).await
    }
}

/// Adapter giving a subscription access to the read side.
pub(crate) struct ReadSideSource(pub(crate) Arc<ReadSide>);

/// Events after `after_position` in log order, up to the durable head, or with `committed` up
/// to the committed one; shared by `read_all`, `read_all_committed` and subscriptions.
pub(crate) async fn read_all(
    read: &Arc<ReadSide>,
    after_position: u64,
    max: usize,
    committed: bool,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let after = clamp_i64(after_position);
    let limit = clamp_i64(max as u64);
    read.run(move |rs, conn| {
        let head = match committed {
            true => clamp_i64(rs.committed_head()),
            false => rs.visible_head(),
        };
        rs.query_recorded(conn, &READ_ALL, params![after, head, limit], max)
    })
    .await
}

/// Like [`read_all`] up to the committed head, each event's personal values opened beside
/// its stored payload text.
pub(crate) async fn read_all_opened(
    read: &Arc<ReadSide>,
    after_position: u64,
    max: usize,
) -> Result<Vec<OpenedEvent>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let after = clamp_i64(after_position);
    let limit = clamp_i64(max as u64);
    read.run(move |rs, conn| {
        let head = clamp_i64(rs.committed_head());
        let stored = query_stored(conn, &READ_ALL, params![after, head, limit], max)?;
        stored
            .into_iter()
            .map(|ev| rs.open_beside(conn, ev))
            .collect()
    })
    .await
}

/// A problem found at a stored event.
fn problem_at(ev: StoredEvent, reason: String) -> VerifyProblem {
    VerifyProblem {
        global_position: ev.global_position,
        event_id: ev.event_id,
        tenant: ev.tenant,
        stream: ev.stream,
        stream_version: ev.stream_version,
        reason,
    }
}

/// SQLite integers are signed; positions and versions never reach 2^63.
pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
