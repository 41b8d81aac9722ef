//! Kasane's GraphQL API: the product's main door.
//!
//! Thin by design: authenticate the bearer token, translate GraphQL into domain commands or
//! read-model queries (every read asks the one sharing rule), record reads of personal data
//! durably before answering, and fan committed events out to subscriptions.

pub mod auth;
pub mod context;
pub mod error;
pub mod http;
pub mod live;
pub mod metrics;
pub mod rate;
pub mod reads;
pub mod schema;
pub mod settings;

pub use auth::{Authenticator, OidcIssuer, TokenSigner};
pub use context::ApiState;
pub use error::{ApiError, codes};
pub use settings::{ApiSettings, Limits};

use kasane_app::CommandService;
use kasane_projections::runner::ProjectionRunner;
use std::path::PathBuf;
use std::sync::Arc;

impl ApiState {
    /// The state of a server for `service`'s tenant, reading the read models in the SQLite
    /// file at `read_models`; starts the task that feeds subscriptions from the log's head.
    pub async fn start(
        service: Arc<CommandService>,
        read_models: PathBuf,
        auth: Authenticator,
        settings: ApiSettings,
        runner: Option<ProjectionRunner>,
    ) -> Result<Arc<ApiState>, kasane_store::StoreError> {
        let head = service.store().head_position().await?;
        let limiter =
            rate::RateLimiter::new(settings.limits.requests_per_second, settings.limits.burst);
        let state = Arc::new(ApiState {
            reads: reads::ReadPool::new(read_models),
            auth,
            settings,
            live: live::Live::default(),
            metrics: metrics::Metrics::default(),
            limiter,
            runner,
            service,
        });
        state
            .live
            .spawn_follower(state.service.store().clone(), head);
        Ok(state)
    }
}

/// Serves `state` on `listener` until `shutdown` resolves; requests in flight (and the
/// appends they wait for) finish first.
pub async fn serve(
    state: Arc<ApiState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
