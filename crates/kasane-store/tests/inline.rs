//! The inline hook: read models written in the append's own transaction.

mod common;

use std::sync::{Arc, Mutex};

use common::{TENANT, TestDir, event, personal_event};
use kasane_store::{
    EventStore, ExpectedVersion, InlineHook, InlineProjector, RecordedEvent, SqliteStore,
};
use serde_json::json;

/// Copies every event's position into a side table; fails on demand.
struct SideTable {
    calls: Mutex<Vec<(u64, Vec<u64>)>>,
    fail_on_type: &'static str,
}

impl InlineProjector for SideTable {
    fn apply(
        &self,
        conn: &rusqlite::Connection,
        head_before: u64,
        events: &[RecordedEvent],
    ) -> Result<(), String> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS side (position INTEGER PRIMARY KEY, body TEXT)",
        )
        .map_err(|e| e.to_string())?;
        for e in events {
            conn.execute(
                "INSERT INTO side (position, body) VALUES (?1, ?2)",
                rusqlite::params![e.global_position as i64, e.payload.to_string()],
            )
            .map_err(|e| e.to_string())?;
        }
        self.calls.lock().unwrap().push((
            head_before,
            events.iter().map(|e| e.global_position).collect(),
        ));
        if events.iter().any(|e| e.event_type == self.fail_on_type) {
            return Err("asked to fail".into());
        }
        Ok(())
    }
}

fn side_rows(dir: &TestDir) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(dir.path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT position, body FROM side ORDER BY position")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn the_hook_sees_opened_payloads_in_order_and_commits_with_the_events() {
    let dir = TestDir::new();
    let hook = Arc::new(SideTable {
        calls: Mutex::new(Vec::new()),
        fail_on_type: "Never",
    });
    let mut config = dir.config();
    config.inline = Some(InlineHook(hook.clone()));
    let store = SqliteStore::open(config).await.unwrap();
    store
        .append(
            TENANT,
            "s-1",
            ExpectedVersion::NoStream,
            vec![personal_event("r1", "秘密"), event("E", json!({"n": 2}))],
        )
        .await
        .unwrap();
    store
        .append(
            TENANT,
            "s-2",
            ExpectedVersion::NoStream,
            vec![event("E", json!({"n": 3}))],
        )
        .await
        .unwrap();
    // A rejected append reaches no hook.
    let conflict = store
        .append(
            TENANT,
            "s-2",
            ExpectedVersion::NoStream,
            vec![event("E", json!({"n": 4}))],
        )
        .await;
    assert!(conflict.is_err());
    store.close().await;

    let calls = hook.calls.lock().unwrap().clone();
    let positions: Vec<u64> = calls.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(positions, vec![1, 2, 3]);
    assert_eq!(calls[0].0, 0, "the first group starts after position 0");
    let rows = side_rows(&dir);
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].1.contains("秘密"),
        "the hook gets the opened payload: {}",
        rows[0].1
    );
}

#[tokio::test]
async fn a_failing_hook_loses_no_event_and_leaves_none_of_its_writes() {
    let dir = TestDir::new();
    let hook = Arc::new(SideTable {
        calls: Mutex::new(Vec::new()),
        fail_on_type: "Poison",
    });
    let mut config = dir.config();
    config.inline = Some(InlineHook(hook.clone()));
    let store = SqliteStore::open(config).await.unwrap();
    store
        .append(
            TENANT,
            "s-1",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await
        .unwrap();
    store
        .append(
            TENANT,
            "s-1",
            ExpectedVersion::Any,
            vec![event("Poison", json!({}))],
        )
        .await
        .expect("the append commits even though the hook failed");
    assert_eq!(store.head_position().await.unwrap(), 2);
    let all = store.read_all(0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    store.close().await;
    let rows = side_rows(&dir);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1],
        "the failed call's rows were rolled back"
    );
}
