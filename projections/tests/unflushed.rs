//! A projection that fell behind catches up to the committed head, not only to the durable
//! one: its tables commit into the same log, so a crash that loses the events loses its rows
//! too, and following the durable head would leave it a flush behind the writer for good.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kasane_app::{CommandMeta, CommandService};
use kasane_domain::directory::AgencyCommand;
use kasane_domain::vocab::AgencyKind;
use kasane_domain::*;
use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::{ProjectionRunner, open_read};
use kasane_store::clock::ManualClock;
use kasane_store::sqlite::SyncFn;
use kasane_store::{Clock, EventStore, MasterKey, SqliteConfig, SqliteStore};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_reaches_events_committed_but_not_yet_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kasane.db");
    let runner = ProjectionRunner::new(&path, registry::all(&ProjectionSettings::default()));
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ));
    // Each flush waits for a token; the one made when the store opens gets it at once.
    let (go, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let mut config = SqliteConfig::new(&path, MasterKey::generate());
    config.clock = clock.clone();
    config.sync = Some(SyncFn(Arc::new(move || {
        let _ = gate.lock().unwrap().recv();
        Ok(())
    })));
    go.send(()).unwrap();
    // No inline hook: the projections are left behind, as after a failure.
    let store = SqliteStore::open(config).await.unwrap();
    runner.prepare().unwrap();
    let service = CommandService::open(
        Arc::new(store.clone()),
        TenantId::parse("flush-city").unwrap(),
    )
    .await
    .unwrap();

    let agency = AgencyId(Uuid::now_v7());
    let registering = tokio::spawn(async move {
        let cmd = AgencyCommand::Register {
            agency_id: agency,
            name: "訪問看護ステーション".into(),
            kind: AgencyKind::VisitingNurseStation,
        };
        service
            .agency(None, agency, cmd, CommandMeta::at(clock.now()))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.committed_head().await.unwrap() < 1 {
        assert!(Instant::now() < deadline, "the writer never committed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Committed, not flushed: the log's readers do not see it, the projections do.
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    assert_eq!(store.read_all_committed(0, 10).await.unwrap().len(), 1);
    assert_eq!(runner.catch_up(&store, &|_, _| {}).await.unwrap(), 1);
    let status = runner.status(1).unwrap();
    assert!(
        status.iter().all(|s| s.position == 1 && s.error.is_none()),
        "{status:?}"
    );
    let read = open_read(&path).unwrap();
    let name: String = read
        .query_row(
            "SELECT name FROM directory_agencies WHERE agency = ?1",
            [agency.0.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "訪問看護ステーション");
    assert!(!registering.is_finished(), "answered before its flush");

    go.send(()).unwrap();
    registering.await.unwrap().unwrap();
    assert_eq!(store.head_position().await.unwrap(), 1);
    drop(go);
    store.close().await;
}
