//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use kasane_store::{Actor, Durability, MasterKey, ProposedEvent, SqliteConfig, SqliteStore};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TENANT: &str = "tenant-kasane-town";

/// A Japanese string that must never appear in plaintext in the database files.
pub const SECRET_NAME: &str = "山田花子さんの秘密の病歴";

/// A temp dir with a store path and a master key; keep it alive for the test.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    pub key: MasterKey,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::tempdir().unwrap(),
            key: MasterKey::generate(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("kasane.db")
    }

    pub fn config(&self) -> SqliteConfig {
        let mut config = SqliteConfig::new(self.path(), self.key.clone());
        config.durability = Durability::Full;
        config.readers = 2;
        config
    }

    pub async fn open(&self) -> SqliteStore {
        SqliteStore::open(self.config()).await.unwrap()
    }
}

/// A plain event with a fixed, microsecond-precise business time.
pub fn event(event_type: &str, payload: Value) -> ProposedEvent {
    let mut e = ProposedEvent::new(event_type, payload);
    e.occurred_at = Utc.with_ymd_and_hms(2026, 4, 1, 9, 30, 0).unwrap()
        + chrono::Duration::microseconds(123_456);
    e
}

/// A note-like event about `subject` with a personal body and an actor.
pub fn personal_event(subject: &str, body: &str) -> ProposedEvent {
    let mut e = event(
        "NotePosted",
        json!({"category": "訪問", "body": {"$personal": body}, "categories": ["health"]}),
    );
    e.data_subject = Some(subject.to_owned());
    e.actor = Some(Actor {
        member: Uuid::now_v7(),
        agency: Uuid::now_v7(),
    });
    e.causation_id = Some(Uuid::now_v7());
    e
}

/// Every byte of the database, its WAL and shared-memory files.
pub fn all_file_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(PathBuf::from(p)) {
            bytes.extend(b);
        }
    }
    bytes
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A whole stream read forward in pages of `page` (stops at the first short page).
pub async fn read_forward_in_pages(
    store: &SqliteStore,
    stream: &str,
    page: usize,
) -> Vec<kasane_store::RecordedEvent> {
    use kasane_store::{EventStore, ReadDirection};
    let mut events = Vec::new();
    loop {
        let got = store
            .read_stream(
                TENANT,
                stream,
                events.len() as u64 + 1,
                ReadDirection::Forward,
                page,
            )
            .await
            .unwrap();
        let n = got.len();
        events.extend(got);
        if n < page {
            return events;
        }
    }
}
