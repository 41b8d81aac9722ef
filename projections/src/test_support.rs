//! Feeding hand-made events to one projection in unit tests.

use crate::{Envelope, Projection};
use chrono::{DateTime, TimeZone, Utc};
use kasane_domain::Event;
use kasane_store::{Actor, RecordedEvent};
use rusqlite::Connection;
use uuid::Uuid;

/// The tenant every harness event belongs to.
pub const TENANT: &str = "test-city";

/// An in-memory database with one or more projections created in it.
pub struct Harness {
    pub conn: Connection,
    projections: Vec<Box<dyn Projection>>,
    position: u64,
    versions: std::collections::HashMap<String, u64>,
    /// The tenant of the events applied from now on ([`TENANT`] at first).
    pub tenant: String,
    /// Every event applied, in order, as the log would hold it.
    pub log: Vec<(RecordedEvent, Event)>,
}

/// Day `d` of November 2026 at 09:00 UTC.
pub fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, 9, 0, 0).unwrap()
}

impl Harness {
    /// A fresh database with `projections` created.
    pub fn new(projections: Vec<Box<dyn Projection>>) -> Self {
        let conn = Connection::open_in_memory().unwrap();
        for p in &projections {
            p.create(&conn).unwrap();
        }
        Harness {
            conn,
            projections,
            position: 0,
            versions: Default::default(),
            tenant: TENANT.into(),
            log: Vec::new(),
        }
    }

    /// Applies `event` (occurred and recorded at `at`, by `actor`) to every projection;
    /// returns its position.
    pub fn apply(
        &mut self,
        event: impl Into<Event>,
        at: DateTime<Utc>,
        actor: Option<Actor>,
    ) -> u64 {
        let event = event.into();
        self.position += 1;
        let stream = event.stream();
        let version = self
            .versions
            .entry(format!("{}/{stream}", self.tenant))
            .or_default();
        *version += 1;
        let recorded = RecordedEvent {
            event_id: Uuid::now_v7(),
            tenant: self.tenant.clone(),
            stream,
            stream_version: *version,
            global_position: self.position,
            event_type: event.event_type().into(),
            schema_version: event.schema_version(),
            occurred_at: at,
            recorded_at: at,
            actor,
            correlation_id: Uuid::nil(),
            causation_id: None,
            data_subject: event.data_subject(),
            payload: event.to_payload(),
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let env = Envelope::new(&recorded, &event);
        for p in &self.projections {
            p.apply(&self.conn, &env).unwrap();
            p.flush(&self.conn).unwrap();
        }
        self.log.push((recorded, event));
        self.position
    }
}

/// Every row of `projection`'s tables as text, and the SQL of its tables and indexes: what a
/// fold in memory must reproduce.
pub fn dump(conn: &Connection, projection: &dyn Projection) -> Vec<String> {
    let mut out = Vec::new();
    for table in projection.tables() {
        let mut schema = conn
            .prepare("SELECT type || ' ' || name || ': ' || sql FROM sqlite_master WHERE tbl_name = ?1 ORDER BY name")
            .unwrap();
        out.extend(
            schema
                .query_map([table], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap),
        );
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|cells| format!("{table}: {}", cells.join("|")))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // Rowid tables come out in insertion order; the rows, not their order, must match.
        rows.sort();
        out.extend(rows);
    }
    out
}

/// `log` folded in memory by `projection` and written into a fresh database, with or without
/// [`crate::MemoryFold::prepare`] in between.
pub fn folded(
    projection: &dyn Projection,
    log: &[(RecordedEvent, Event)],
    prepare: bool,
) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    projection.create(&conn).unwrap();
    let fold = projection
        .memory_fold()
        .expect("the projection folds in memory");
    fold.begin();
    for (recorded, event) in log {
        fold.fold(&Envelope::new(recorded, event)).unwrap();
    }
    if prepare {
        fold.prepare();
    }
    fold.write(&conn, &mut || Ok(())).unwrap();
    projection.create(&conn).unwrap();
    conn
}
