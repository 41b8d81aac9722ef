//! A rebuild from position 0 drops each projection's bulk indexes while it loads the rows;
//! afterwards every index is back and the rows equal those written inline.

use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::open_read;
use kasane_store::EventStore;
use rusqlite::Connection;

mod common;

/// Every index of the file, by name.
fn indexes(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every row of the agency directory (enough to see that the rows came back).
fn agencies(conn: &Connection) -> Vec<(Vec<u8>, String)> {
    let mut stmt = conn
        .prepare("SELECT agency, name FROM directory_agencies ORDER BY agency")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_from_zero_restores_every_bulk_index() {
    let settings = ProjectionSettings::default();
    let common::Town {
        store,
        path,
        runner,
        dir: _dir,
    } = common::town(registry::all(&settings), "bulk-city", 3).await;
    let read = open_read(&path).unwrap();
    let (indexes_before, rows_before) = (indexes(&read), agencies(&read));
    assert_eq!(rows_before.len(), 3);
    for p in runner.projections() {
        for index in p.bulk_indexes() {
            assert!(indexes_before.contains(&index.to_string()), "{index}");
        }
    }

    let head = store.head_position().await.unwrap();
    // The plain rebuild, then the same with the WAL checkpointed on a thread of its own (a
    // long catch-up's path): each gives the same rows and indexes.
    for runner in [runner.clone(), runner.background_checkpoints_from(1)] {
        runner.reset(&[]).unwrap();
        assert_eq!(runner.catch_up(&store, &|_, _| {}).await.unwrap(), head);
        assert_eq!(indexes(&read), indexes_before);
        assert_eq!(agencies(&read), rows_before);
        let status = runner.status(head).unwrap();
        assert!(
            status.iter().all(|s| s.lag == 0 && s.error.is_none()),
            "{status:?}"
        );
    }
    store.close().await;
}
