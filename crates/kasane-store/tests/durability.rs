//! At full durability an append is answered only after the flush that makes it durable, and
//! no read of the log shows an event before then; a failed flush fails the waiting appends and
//! every later one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;
use kasane_store::sqlite::SyncFn;
use kasane_store::{EventStore, ExpectedVersion, ReadDirection, SqliteStore};
use serde_json::json;

/// The test's side of a gated flush.
struct Gate {
    /// One token lets one flush finish.
    go: mpsc::Sender<()>,
    /// Receives one signal each time a flush starts (and then waits for its token).
    entered: mpsc::Receiver<()>,
}

impl Gate {
    /// Blocks until a flush has started.
    fn wait_for_flush(&self) {
        self.entered
            .recv_timeout(Duration::from_secs(10))
            .expect("no flush started within 10 s");
    }
}

/// A flush that signals when it starts and waits for a token from the test for each call.
fn gated() -> (SyncFn, Gate) {
    let (go, gate) = mpsc::channel::<()>();
    let (entering, entered) = mpsc::channel::<()>();
    let (gate, entering) = (Mutex::new(gate), Mutex::new(entering));
    let sync = SyncFn(Arc::new(move || {
        let _ = entering.lock().unwrap().send(());
        let _ = gate.lock().unwrap().recv();
        Ok(())
    }));
    (sync, Gate { go, entered })
}

/// A store whose flushes each wait for a token from the test (the one made on opening is
/// given and its start signal taken).
async fn gated_store(t: &TestDir) -> (SqliteStore, Gate) {
    let (sync, gate) = gated();
    let mut config = t.config();
    config.sync = Some(sync);
    // Opening flushes once (a crash may have left unflushed commits).
    gate.go.send(()).unwrap();
    let store = SqliteStore::open(config).await.unwrap();
    gate.wait_for_flush();
    (store, gate)
}

/// [`append_new`] in a task of its own.
fn spawn_append(
    store: &SqliteStore,
    stream: &str,
    n: u64,
) -> tokio::task::JoinHandle<Result<kasane_store::AppendResult, kasane_store::StoreError>> {
    let (store, stream) = (store.clone(), stream.to_owned());
    tokio::spawn(async move { append_new(&store, &stream, n).await })
}

/// A flush that succeeds when the store opens and does `later` every time after.
fn flushes_then(later: impl Fn() -> std::io::Result<()> + Send + Sync + 'static) -> SyncFn {
    let calls = AtomicUsize::new(0);
    SyncFn(Arc::new(move || {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            later()
        }
    }))
}

/// Appends `{"n": n}` as the first event of a new stream.
async fn append_new(
    store: &SqliteStore,
    stream: &str,
    n: u64,
) -> Result<kasane_store::AppendResult, kasane_store::StoreError> {
    store
        .append(
            TENANT,
            stream,
            ExpectedVersion::NoStream,
            vec![event("E", json!({ "n": n }))],
        )
        .await
}

/// Awaits `work`, failing the test if it takes more than 10 seconds (instead of hanging).
async fn within<F: std::future::Future>(work: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("still waiting after 10 s")
}

/// Events in the file, as another connection sees them (committed, durable or not).
fn committed_rows(t: &TestDir) -> i64 {
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

fn wait_until_committed(t: &TestDir, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while committed_rows(t) < rows {
        assert!(Instant::now() < deadline, "the writer never committed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_answered_and_readable_only_after_its_flush() {
    let t = TestDir::new();
    let (store, gate) = gated_store(&t).await;

    let appending = spawn_append(&store, "resident-a", 1);
    tokio::task::block_in_place(|| wait_until_committed(&t, 1));

    // Committed in SQLite, not yet flushed: not answered, and invisible to every read.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!appending.is_finished(), "answered before its flush");
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    assert!(store.read_all_stored(0, 10).await.unwrap().is_empty());
    // Only read models kept in the same log may go that far.
    assert_eq!(store.committed_head().await.unwrap(), 1);
    assert_eq!(store.read_all_committed(0, 10).await.unwrap().len(), 1);
    assert!(
        store
            .read_stream(TENANT, "resident-a", 1, ReadDirection::Forward, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let barrier = {
        let store = store.clone();
        tokio::spawn(async move { store.durable_barrier().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !barrier.is_finished(),
        "the barrier passed before the flush"
    );

    gate.go.send(()).unwrap();
    let result = appending.await.unwrap().unwrap();
    assert_eq!(result.last_position, 1);
    barrier.await.unwrap().unwrap();
    assert_eq!(store.head_position().await.unwrap(), 1);
    let read = store.read_all(0, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(
        store
            .read_event(read[0].event_id)
            .await
            .unwrap()
            .unwrap()
            .payload,
        json!({"n": 1})
    );
    // Nothing pending: the barrier passes at once, with no flush.
    store.durable_barrier().await.unwrap();
    drop(gate);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_fails_its_appends_and_every_later_one() {
    let t = TestDir::new();
    let mut config = t.config();
    config.sync = Some(flushes_then(|| {
        Err(std::io::Error::other("simulated disk error"))
    }));
    let store = SqliteStore::open(config).await.unwrap();

    let err = append_new(&store, "resident-a", 1).await.unwrap_err();
    assert_eq!(err.code(), "STORE_SYNC_FAILED", "{err}");
    assert!(err.to_string().contains("simulated disk error"), "{err}");
    assert!(err.to_string().contains("restart kasane"), "{err}");

    let err = append_new(&store, "resident-b", 2).await.unwrap_err();
    assert_eq!(err.code(), "STORE_SYNC_FAILED", "{err}");
    let err = store.durable_barrier().await.unwrap_err();
    assert_eq!(err.code(), "STORE_SYNC_FAILED", "{err}");
    // What was committed but never confirmed stays invisible in this process.
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    assert_eq!(store.head_position().await.unwrap(), 0);
    store.close().await;

    // Its outcome was unknown: here the disk kept it, and a restart finds it, intact.
    let store = t.open().await;
    let kept = store.read_all(0, 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].stream, "resident-a");
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}

/// The WAL that gets flushed is the one SQLite writes, also when the store is opened through a
/// symbolic link (SQLite puts the WAL next to the file the link points to).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_through_a_symlink_flushes_its_real_wal() {
    let t = TestDir::new();
    let real = t.dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = t.dir.path().join("link.db");
    std::os::unix::fs::symlink(real.join("kasane.db"), &link).unwrap();
    let mut beside_link = link.as_os_str().to_owned();
    beside_link.push("-wal");

    let config = kasane_store::SqliteConfig::new(&link, t.key.clone());
    let store = SqliteStore::open(config.clone()).await.unwrap();
    append_new(&store, "resident-a", 1).await.unwrap();
    assert!(real.join("kasane.db-wal").exists());
    assert!(!std::path::Path::new(&beside_link).exists());
    store.close().await;
    let store = SqliteStore::open(config).await.unwrap();
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

/// Appends that arrive while a flush runs are committed at once (the writer does not wait for
/// the flush) but stay unanswered until one more flush covers them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_arriving_during_a_flush_share_the_next_flush() {
    let t = TestDir::new();
    let (store, gate) = gated_store(&t).await;

    let first = spawn_append(&store, "resident-a", 1);
    // The first commit is made at once, and its flush starts and waits.
    tokio::task::block_in_place(|| gate.wait_for_flush());
    let later: Vec<_> = (2..=4)
        .map(|n| spawn_append(&store, &format!("resident-{n}"), n))
        .collect();
    tokio::task::block_in_place(|| wait_until_committed(&t, 4));
    // Time for the writer to hand the last commit over (it does so right after COMMIT).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        later.iter().all(|a| !a.is_finished()),
        "answered before a flush"
    );

    gate.go.send(()).unwrap();
    assert_eq!(within(first).await.unwrap().unwrap().last_position, 1);
    // One more flush is due; spare tokens keep a wrong split from hanging the test.
    for _ in 0..4 {
        gate.go.send(()).unwrap();
    }
    let mut positions = Vec::new();
    for append in later {
        positions.push(within(append).await.unwrap().unwrap().last_position);
    }
    positions.sort_unstable();
    assert_eq!(positions, [2, 3, 4]);
    let counts = store.commit_counts().unwrap();
    assert_eq!((counts.appends, counts.events, counts.flushes), (4, 4, 2));
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 4);
    drop(gate);
    store.close().await;
}

/// If the flushing thread dies (here: a panic in the flush), appends fail instead of waiting
/// forever for a flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_rather_than_hang_when_the_flushing_thread_dies() {
    let t = TestDir::new();
    let mut config = t.config();
    config.sync = Some(flushes_then(|| {
        panic!("simulated crash of the flushing thread")
    }));
    let store = SqliteStore::open(config).await.unwrap();

    // An append handed to the thread while it dies loses its answer (`STORE_CLOSED`); once the
    // writer finds the thread gone, every append is refused with `STORE_SYNC_FAILED`.
    let mut codes = Vec::new();
    for n in 1..=50 {
        let stream = format!("resident-{n}");
        let err = within(append_new(&store, &stream, n)).await.unwrap_err();
        codes.push(err.code());
        if err.code() == "STORE_SYNC_FAILED" {
            break;
        }
        assert_eq!(err.code(), "STORE_CLOSED", "{err}");
    }
    assert_eq!(codes.last(), Some(&"STORE_SYNC_FAILED"), "{codes:?}");
    let err = within(append_new(&store, "resident-after", 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORE_SYNC_FAILED", "{err}");
    store.close().await;
}
