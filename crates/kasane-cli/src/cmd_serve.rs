//! `kasane serve`: the GraphQL API on the embedded store, with read models kept inline.

use crate::cmd_demo::{self, DemoArgs};
use crate::config::{DB_FILE, StoreOptions};
use crate::server_config::ServeArgs;
use anyhow::{Context, Result};
use kasane_api::{ApiSettings, ApiState, Authenticator, TokenSigner};
use kasane_app::{CommandService, DirectoryCache};
use kasane_domain::TenantId;
use kasane_domain::vocab::Role;
use kasane_projections::directory::MemberRecord;
use kasane_store::EventStore;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// How often the follower catches up anything inline application left behind.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests and closes the store.
pub async fn run(opts: &StoreOptions, args: ServeArgs) -> Result<ExitCode> {
    let settings = args.resolve()?;
    let tenant = opts.tenant()?;
    let db = opts.data_dir.join(DB_FILE);
    if args.demo && !db.exists() {
        eprintln!(
            "creating the demo town in {} (first start)…",
            opts.data_dir.display()
        );
        let code = cmd_demo::run(opts, DemoArgs::default()).await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let signer = settings.secret.signer(&opts.data_dir)?;
    let (store, runner) = opts.open_with_projections(opts.sqlite_config()?).await?;
    let store_dyn: Arc<dyn EventStore> = Arc::new(store.clone());
    let follower = runner.spawn_follower(store_dyn.clone(), FOLLOW_EVERY);
    let directory = directory_from_read_model(&db, &tenant)?;
    let service = Arc::new(CommandService::with_directory(
        store_dyn,
        tenant.clone(),
        directory,
    ));
    let auth = Authenticator::new(tenant.clone(), signer.clone(), settings.oidc);
    let api_settings = ApiSettings {
        tenant: tenant.clone(),
        time_zone: opts.time_zone,
        limits: settings.limits,
    };
    let state = ApiState::start(service, db.clone(), auth, api_settings, Some(runner)).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "Kasane is serving tenant {} at http://{addr}/graphql",
        tenant.as_str()
    );
    println!(
        "GraphiQL: open http://{addr}/graphql and set the header Authorization: Bearer <token>"
    );
    if args.demo {
        print_demo_tokens(&db, &tenant, &signer)?;
    } else {
        println!("tokens: `kasane token issue --member <id>`");
    }
    let served = kasane_api::serve(state, listener, shutdown_signal()).await;
    follower.abort();
    store.close().await;
    served.context("the server stopped with an error")?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The write path's directory from the directory read model (current: the projections were
/// just caught up), instead of scanning the whole log at start-up.
fn directory_from_read_model(db: &Path, tenant: &TenantId) -> Result<DirectoryCache> {
    let conn = kasane_projections::runner::open_read(db)?;
    let snapshot = kasane_projections::directory::load_directory(&conn, tenant.as_str())?;
    let mut cache = DirectoryCache::default();
    for &id in snapshot.agencies.keys() {
        let (state, version) = snapshot.agency_state(id);
        cache.put_agency(id, state, version);
    }
    for &id in snapshot.members.keys() {
        let (state, version) = snapshot.member_state(id);
        cache.put_member(id, state, version);
    }
    Ok(cache)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    eprintln!("shutting down: finishing requests in flight…");
}

/// Prints 8-hour tokens for one member of each kind, chosen from the demo directory.
fn print_demo_tokens(db: &Path, tenant: &TenantId, signer: &TokenSigner) -> Result<()> {
    let conn = kasane_projections::runner::open_read(db)?;
    let members = kasane_projections::directory::members(&conn, tenant.as_str(), None)?;
    let active = |role: Role| {
        members
            .iter()
            .filter(move |m| m.active && m.roles.contains(&role))
    };
    // The supporter with the most residents, so the token opens a full timeline at once.
    let mut supporter: Option<(&MemberRecord, usize)> = None;
    for m in active(Role::Supporter) {
        let n =
            kasane_projections::care_team::residents_of(&conn, tenant.as_str(), m.member_id)?.len();
        if supporter.is_none_or(|(_, best)| n > best) {
            supporter = Some((m, n));
        }
    }
    let picks = [
        ("supporter", supporter.map(|(m, _)| m)),
        ("agency admin", active(Role::AgencyAdmin).next()),
        ("auditor", active(Role::Auditor).next()),
        ("center admin", active(Role::CenterAdmin).next()),
    ];
    println!("demo tokens (valid 8 hours), as GraphiQL headers:");
    for (label, member) in picks {
        let Some(m) = member else { continue };
        let token = signer.issue(
            tenant,
            m.member_id,
            chrono::Duration::hours(8),
            chrono::Utc::now(),
        );
        println!(
            "  {label:<13} {} ({})\n    {{\"Authorization\": \"Bearer {token}\"}}",
            m.name.as_deref().unwrap_or("?"),
            m.member_id
        );
    }
    if let Some((m, _)) = supporter
        && let Some(r) =
            kasane_projections::care_team::residents_of(&conn, tenant.as_str(), m.member_id)?
                .first()
    {
        println!(
            "try, as the supporter: {{ resident(id: \"{r}\") {{ name kana timeline(first: 5) {{ edges {{ node {{ kind occurredAt note {{ body }} }} }} }} }} }}"
        );
    }
    Ok(())
}
