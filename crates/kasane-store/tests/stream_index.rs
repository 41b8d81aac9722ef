//! The stream index is filled in batches behind the head: stream reads must find every event
//! on both sides of its boundary, across restarts, and `verify` must notice when the index
//! and the log disagree.

mod common;

use common::*;
use kasane_store::{EventStore, ExpectedVersion, ReadDirection, SqliteStore};
use serde_json::json;

const STREAMS: [&str; 3] = ["resident-a", "resident-b", "resident-c"];

/// Appends `n` single-event requests round-robin over [`STREAMS`].
async fn append_round_robin(store: &SqliteStore, n: usize, offset: usize) {
    for i in offset..offset + n {
        let stream = STREAMS[i % STREAMS.len()];
        store
            .append(
                TENANT,
                stream,
                ExpectedVersion::Any,
                vec![event("E", json!({ "i": i }))],
            )
            .await
            .unwrap();
    }
}

/// The `i` values of a stream, read forward in pages of 4 and backward in one read.
async fn read_both_ways(store: &SqliteStore, stream: &str) -> (Vec<i64>, Vec<i64>) {
    let forward = read_forward_in_pages(store, stream, 4)
        .await
        .iter()
        .map(|e| e.payload["i"].as_i64().unwrap())
        .collect();
    let mut backward: Vec<i64> = store
        .read_stream(TENANT, stream, u64::MAX, ReadDirection::Backward, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.payload["i"].as_i64().unwrap())
        .collect();
    backward.reverse();
    (forward, backward)
}

fn expected_of(stream_no: usize, total: usize) -> Vec<i64> {
    (0..total)
        .filter(|i| i % STREAMS.len() == stream_no)
        .map(|i| i as i64)
        .collect()
}

fn indexed_rows(t: &TestDir) -> (i64, i64) {
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) FROM stream_index), \
                (SELECT value FROM meta WHERE key = 'stream_indexed_to')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test]
async fn stream_reads_cross_the_index_boundary_and_survive_a_reopen() {
    let t = TestDir::new();
    let mut config = t.config();
    config.stream_index_every = 5;
    let store = SqliteStore::open(config).await.unwrap();
    append_round_robin(&store, 23, 0).await;
    // One append per group: the index is filled at 5, 10, 15 and 20 events.
    assert_eq!(indexed_rows(&t), (20, 20));
    for (no, stream) in STREAMS.iter().enumerate() {
        let (forward, backward) = read_both_ways(&store, stream).await;
        assert_eq!(forward, expected_of(no, 23), "{stream}");
        assert_eq!(backward, expected_of(no, 23), "{stream}");
    }
    let middle = store
        .read_stream(TENANT, "resident-b", 6, ReadDirection::Backward, 3)
        .await
        .unwrap();
    let versions: Vec<u64> = middle.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [6, 5, 4]);
    store.close().await;

    // Reopened with the default batch size: the three tail events are reloaded by the writer,
    // versions continue, and everything stays readable.
    let store = t.open().await;
    append_round_robin(&store, 7, 23).await;
    assert_eq!(indexed_rows(&t), (20, 20));
    for (no, stream) in STREAMS.iter().enumerate() {
        let (forward, backward) = read_both_ways(&store, stream).await;
        assert_eq!(forward, expected_of(no, 30), "{stream}");
        assert_eq!(backward, expected_of(no, 30), "{stream}");
        assert_eq!(
            store.stream_version(TENANT, stream).await.unwrap(),
            Some(10)
        );
    }
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
    assert!(
        store
            .read_stream(TENANT, "resident-z", 1, ReadDirection::Forward, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A store whose 9 events are all in the index.
async fn fully_indexed(t: &TestDir) -> SqliteStore {
    let mut config = t.config();
    config.stream_index_every = 3;
    let store = SqliteStore::open(config).await.unwrap();
    append_round_robin(&store, 9, 0).await;
    assert_eq!(indexed_rows(t), (9, 9));
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
    store
}

#[tokio::test]
async fn verify_reports_a_stream_index_that_disagrees_with_the_log() {
    let tamperings = [
        (
            "DELETE FROM stream_index WHERE position = 5",
            5,
            "missing from the stream index",
        ),
        (
            "UPDATE stream_index SET position = 7 WHERE position = 4",
            4,
            "missing from the stream index",
        ),
        (
            "INSERT INTO stream_index VALUES (1, 99, 8)",
            8,
            "matches no event",
        ),
        (
            "UPDATE meta SET value = 50 WHERE key = 'stream_indexed_to'",
            50,
            "past the last event",
        ),
    ];
    for (sql, position, reason) in tamperings {
        let t = TestDir::new();
        let store = fully_indexed(&t).await;
        rusqlite::Connection::open(t.path())
            .unwrap()
            .execute(sql, [])
            .unwrap();
        let problem = store.verify(&|_| {}).await.unwrap().first_problem;
        let problem = problem.unwrap_or_else(|| panic!("{sql}: not reported"));
        assert_eq!(problem.global_position, position, "{sql}: {problem:?}");
        assert!(problem.reason.contains(reason), "{sql}: {}", problem.reason);
    }
}

/// What schemas 1 and 2 kept in `streams`: each stream's head, rewritten by every append.
const HEAD_COLUMNS: &str = "ALTER TABLE streams ADD COLUMN version INTEGER NOT NULL DEFAULT 0; \
     ALTER TABLE streams ADD COLUMN last_hash BLOB NOT NULL DEFAULT x'00';";

/// The columns of `streams` in the store at `path`.
fn stream_columns(path: &std::path::Path) -> Vec<String> {
    rusqlite::Connection::open(path)
        .unwrap()
        .prepare("SELECT name FROM pragma_table_info('streams')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_schema_2_store_is_upgraded_when_opened_and_its_heads_come_from_the_log() {
    let t = TestDir::new();
    let open = || {
        let mut config = t.config();
        config.stream_index_every = 4;
        SqliteStore::open(config)
    };
    let store = open().await.unwrap();
    append_round_robin(&store, 10, 0).await;
    store.close().await;
    rusqlite::Connection::open(t.path())
        .unwrap()
        .execute_batch(&format!("{HEAD_COLUMNS} PRAGMA user_version = 2;"))
        .unwrap();
    assert!(stream_columns(&t.path()).contains(&"version".to_owned()));

    // Opened with another master key: refused, and the file is left at schema 2.
    let stranger = SqliteStore::open(kasane_store::SqliteConfig::new(
        t.path(),
        kasane_store::MasterKey::generate(),
    ))
    .await;
    assert_eq!(stranger.err().unwrap().code(), "MASTER_KEY_MISMATCH");
    let version: u32 = rusqlite::Connection::open(t.path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    assert!(stream_columns(&t.path()).contains(&"version".to_owned()));

    // The stale heads in the old columns are never read: appends chain on each stream's
    // last event (resident-b's is indexed, the others' are in the tail), and the columns
    // are gone.
    let store = open().await.unwrap();
    assert_eq!(indexed_rows(&t), (8, 8));
    assert_eq!(stream_columns(&t.path()), ["tenant", "stream", "stream_id"]);
    append_round_robin(&store, 2, 10).await;
    for (no, stream) in STREAMS.iter().enumerate() {
        let (forward, _) = read_both_ways(&store, stream).await;
        assert_eq!(forward, expected_of(no, 12), "{stream}");
        assert_eq!(store.stream_version(TENANT, stream).await.unwrap(), Some(4));
    }
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_schema_1_store_is_upgraded_when_opened() {
    let t = TestDir::new();
    let store = t.open().await;
    append_round_robin(&store, 10, 0).await;
    store.close().await;
    {
        // What a store written by schema 1 looks like: no stream index and no mark, and
        // stream heads kept in `streams`.
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute_batch(&format!(
            "DROP TABLE stream_index; \
             DELETE FROM meta WHERE key = 'stream_indexed_to'; \
             {HEAD_COLUMNS} \
             PRAGMA user_version = 1;"
        ))
        .unwrap();
    }
    let store = t.open().await;
    assert_eq!(indexed_rows(&t), (10, 10));
    assert_eq!(stream_columns(&t.path()), ["tenant", "stream", "stream_id"]);
    let version: u32 = rusqlite::Connection::open(t.path())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, kasane_store::sqlite::SCHEMA_VERSION);
    append_round_robin(&store, 2, 10).await;
    for (no, stream) in STREAMS.iter().enumerate() {
        let (forward, backward) = read_both_ways(&store, stream).await;
        assert_eq!(forward, expected_of(no, 12), "{stream}");
        assert_eq!(backward, expected_of(no, 12), "{stream}");
    }
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}
