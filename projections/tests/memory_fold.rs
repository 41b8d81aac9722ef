//! A rebuild folds a projection that has a [`MemoryFold`] in memory: its checkpoint stays at 0
//! until its rows are written, the rows equal those written by `apply`, and a fold that fails
//! records its error and leaves nothing behind, while the other projections go on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::open_read;
use kasane_projections::{Envelope, MemoryFold, Projection, ProjectionError};
use kasane_store::EventStore;
use rusqlite::{Connection, params};

mod common;

/// Keeps every position it is given, in `seen`; its fold refuses the event at `fail_at`, and
/// its write fails after writing every row when `fail_write` is set.
#[derive(Default)]
struct Positions {
    folded: Mutex<Option<Vec<u64>>>,
    fail_at: AtomicU64,
    fail_write: AtomicBool,
    panic_at: AtomicU64,
    begun: AtomicU64,
}

impl Projection for Positions {
    fn name(&self) -> &'static str {
        "positions"
    }
    fn version(&self) -> String {
        "1".into()
    }
    fn tables(&self) -> &'static [&'static str] {
        &["seen"]
    }
    fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS seen (position INTEGER PRIMARY KEY, kind TEXT NOT NULL)",
        )?;
        Ok(())
    }
    fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        conn.execute(
            "INSERT INTO seen (position, kind) VALUES (?1, ?2)",
            params![env.position as i64, env.event.event_type()],
        )?;
        Ok(())
    }
    fn memory_fold(&self) -> Option<&dyn MemoryFold> {
        Some(self)
    }
}

impl MemoryFold for Positions {
    fn begin(&self) {
        self.begun.fetch_add(1, Ordering::Relaxed);
        *self.folded.lock().unwrap() = Some(Vec::new());
    }
    fn fold(&self, env: &Envelope<'_>) -> Result<(), ProjectionError> {
        if env.position == self.panic_at.load(Ordering::Relaxed) {
            // Half of the event folded, then a bug.
            self.folded
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .push(env.position);
            panic!("a fold bug at {}", env.position);
        }
        if env.position == self.fail_at.load(Ordering::Relaxed) {
            return Err(ProjectionError::Corrupt(format!(
                "refused {}",
                env.position
            )));
        }
        self.folded
            .lock()
            .unwrap()
            .as_mut()
            .expect("begun")
            .push(env.position);
        Ok(())
    }
    fn write(
        &self,
        conn: &Connection,
        commit: &mut dyn FnMut() -> Result<(), ProjectionError>,
    ) -> Result<(), ProjectionError> {
        // Written as `apply` writes, so the two can be compared row for row.
        let folded = self.folded.lock().unwrap().take().expect("begun");
        let head: i64 = conn.query_row("SELECT max(position) FROM events", [], |r| r.get(0))?;
        assert!(folded.last().copied().unwrap_or(0) as i64 <= head);
        for position in folded {
            conn.execute(
                "INSERT INTO seen (position, kind) \
                 SELECT position, event_type FROM events WHERE position = ?1",
                [position as i64],
            )?;
            // Each row in a transaction of its own: a failure must still leave nothing.
            commit()?;
        }
        if self.fail_write.load(Ordering::Relaxed) {
            conn.execute("INSERT INTO seen (position, kind) VALUES (1, 'again')", [])?;
        }
        Ok(())
    }
    fn abandon(&self) {
        self.folded.lock().unwrap().take();
    }
}

fn seen(conn: &Connection) -> Vec<(i64, String)> {
    conn.prepare("SELECT position, kind FROM seen ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The runner's projections plus `positions`, sharing it with the test.
fn projections(positions: &Arc<Positions>) -> Vec<Box<dyn Projection>> {
    struct Shared(Arc<Positions>);
    impl Projection for Shared {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn version(&self) -> String {
            self.0.version()
        }
        fn tables(&self) -> &'static [&'static str] {
            self.0.tables()
        }
        fn create(&self, conn: &Connection) -> Result<(), ProjectionError> {
            self.0.create(conn)
        }
        fn apply(&self, conn: &Connection, env: &Envelope<'_>) -> Result<(), ProjectionError> {
            self.0.apply(conn, env)
        }
        fn memory_fold(&self) -> Option<&dyn MemoryFold> {
            Some(self.0.as_ref())
        }
    }
    let mut all = registry::all(&ProjectionSettings::default());
    all.push(Box::new(Shared(Arc::clone(positions))));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_fold_is_written_once_with_its_checkpoint_and_a_failed_one_leaves_nothing() {
    let positions = Arc::new(Positions::default());
    let common::Town {
        store,
        path,
        runner,
        dir: _dir,
    } = common::town(projections(&positions), "fold-city", 5).await;
    let head = store.head_position().await.unwrap();
    let read = open_read(&path).unwrap();
    let inline = seen(&read);
    assert_eq!(inline.len() as u64, head, "written inline by `apply`");

    // A rebuild: the fold's checkpoint stays at 0 while the others move.
    runner.reset(&[]).unwrap();
    let during = Mutex::new(Vec::new());
    let progress = |_: u64, _: u64| {
        let status = runner.status(head).unwrap();
        let at = |name: &str| status.iter().find(|s| s.name == name).unwrap().position;
        during
            .lock()
            .unwrap()
            .push((at("positions"), at("directory")));
    };
    assert_eq!(runner.catch_up(&store, &progress).await.unwrap(), head);
    assert_eq!(*during.lock().unwrap(), vec![(0, head)]);
    assert_eq!(seen(&read), inline, "the fold writes what `apply` wrote");
    let status = runner.status(head).unwrap();
    assert!(
        status.iter().all(|s| s.lag == 0 && s.error.is_none()),
        "{status:?}"
    );

    // A fold that fails: its error is recorded, it stays at 0 with no rows, the rest go on.
    positions.fail_at.store(3, Ordering::Relaxed);
    runner.reset(&[]).unwrap();
    runner.catch_up(&store, &|_, _| {}).await.unwrap();
    let status = runner.status(head).unwrap();
    for s in &status {
        if s.name == "positions" {
            assert_eq!(s.position, 0);
            let error = s.error.as_deref().unwrap();
            assert!(
                error.starts_with("[PROJECTION_CORRUPT]") && error.contains("refused 3"),
                "{error}"
            );
        } else {
            assert!(s.lag == 0 && s.error.is_none(), "{s:?}");
        }
    }
    assert!(seen(&read).is_empty());
    assert!(
        positions.folded.lock().unwrap().is_none(),
        "the fold was given up"
    );

    // The next catch-up applies it event by event instead (which would stop at a failing
    // event and retry from there, instead of folding the whole log again each time).
    let begun = positions.begun.load(Ordering::Relaxed);
    runner.catch_up(&store, &|_, _| {}).await.unwrap();
    assert_eq!(positions.begun.load(Ordering::Relaxed), begun);
    assert_eq!(seen(&read), inline);
    let status = runner.status(head).unwrap();
    assert!(
        status.iter().all(|s| s.lag == 0 && s.error.is_none()),
        "{status:?}"
    );

    // Rows that cannot be written: the same, and nothing half-written.
    positions.fail_at.store(0, Ordering::Relaxed);
    positions.fail_write.store(true, Ordering::Relaxed);
    runner.reset(&["positions".to_owned()]).unwrap();
    runner.catch_up(&store, &|_, _| {}).await.unwrap();
    assert_eq!(positions.begun.load(Ordering::Relaxed), begun + 1);
    let status = runner.status(head).unwrap();
    let failed = status.iter().find(|s| s.name == "positions").unwrap();
    assert_eq!(failed.position, 0);
    let error = failed.error.as_deref().unwrap();
    assert!(error.starts_with("[PROJECTION_FAILED]"), "{error}");
    assert!(seen(&read).is_empty());
    assert!(
        positions.folded.lock().unwrap().is_none(),
        "the fold was given up"
    );

    // A fold that panics half way through an event: given up like a failure, nothing written.
    positions.panic_at.store(4, Ordering::Relaxed);
    runner.reset(&["positions".to_owned()]).unwrap();
    runner.catch_up(&store, &|_, _| {}).await.unwrap();
    let status = runner.status(head).unwrap();
    let failed = status.iter().find(|s| s.name == "positions").unwrap();
    assert_eq!(failed.position, 0);
    assert!(
        failed.error.as_deref().unwrap().contains("panicked"),
        "{failed:?}"
    );
    assert!(seen(&read).is_empty());
    positions.panic_at.store(0, Ordering::Relaxed);

    // A log longer than the runner may fold in memory is rebuilt through `apply`.
    let begun = positions.begun.load(Ordering::Relaxed);
    let bounded = runner.clone().memory_folds_up_to(head - 1);
    bounded.reset(&["positions".to_owned()]).unwrap();
    bounded.catch_up(&store, &|_, _| {}).await.unwrap();
    assert_eq!(positions.begun.load(Ordering::Relaxed), begun);
    assert_eq!(seen(&read), inline);

    // Once the cause is gone, a rebuild folds it again from 0.
    positions.fail_write.store(false, Ordering::Relaxed);
    runner.reset(&["positions".to_owned()]).unwrap();
    runner.catch_up(&store, &|_, _| {}).await.unwrap();
    assert_eq!(seen(&read), inline);
    let status = runner.status(head).unwrap();
    assert!(
        status.iter().all(|s| s.lag == 0 && s.error.is_none()),
        "{status:?}"
    );
    store.close().await;
}
