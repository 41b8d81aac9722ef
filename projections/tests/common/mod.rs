//! A store whose projections are written inline, with a few agencies registered: what the
//! runner tests rebuild from.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kasane_app::{CommandMeta, CommandService};
use kasane_domain::directory::AgencyCommand;
use kasane_domain::vocab::AgencyKind;
use kasane_domain::{AgencyId, TenantId};
use kasane_projections::Projection;
use kasane_projections::runner::ProjectionRunner;
use kasane_store::clock::ManualClock;
use kasane_store::{Clock, MasterKey, SqliteConfig, SqliteStore};
use tempfile::TempDir;
use uuid::Uuid;

/// The store, its file and the runner feeding `projections` inline.
pub struct Town {
    pub store: SqliteStore,
    pub path: PathBuf,
    pub runner: ProjectionRunner,
    /// Removed when dropped: bind it for as long as the store is used.
    pub dir: TempDir,
}

/// A fresh store with `projections` applied inline, and `agencies` agencies registered in
/// `tenant` through the command service.
pub async fn town(projections: Vec<Box<dyn Projection>>, tenant: &str, agencies: usize) -> Town {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kasane.db");
    let runner = ProjectionRunner::new(&path, projections);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
    ));
    let mut config = SqliteConfig::new(&path, MasterKey::generate());
    config.clock = clock.clone();
    config.inline = Some(runner.inline_hook());
    let store = SqliteStore::open(config).await.unwrap();
    runner.prepare().unwrap();
    let service = CommandService::open(Arc::new(store.clone()), TenantId::parse(tenant).unwrap())
        .await
        .unwrap();
    for i in 0..agencies {
        let id = AgencyId(Uuid::now_v7());
        let cmd = AgencyCommand::Register {
            agency_id: id,
            name: format!("事業所 {i}"),
            kind: AgencyKind::Clinic,
        };
        service
            .agency(None, id, cmd, CommandMeta::at(clock.now()))
            .await
            .unwrap();
    }
    Town {
        store,
        path,
        runner,
        dir,
    }
}
