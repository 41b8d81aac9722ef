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
        let version = self.versions.entry(stream.clone()).or_default();
        *version += 1;
        let recorded = RecordedEvent {
            event_id: Uuid::now_v7(),
            tenant: TENANT.into(),
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
        self.position
    }
}
