//! What every resolver can reach: the shared server state, the signed-in caller, and the
//! request's access log (reads of personal data to record before the response leaves).

use crate::auth::Authenticator;
use crate::error::{ApiError, ApiResult, codes};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::rate::RateLimiter;
use crate::reads::ReadPool;
use crate::settings::ApiSettings;
use kasane_app::{CommandMeta, CommandService};
use kasane_domain::events::AccessedItem;
use kasane_domain::vocab::AccessKind;
use kasane_domain::{Actor, MemberId, ResidentId, Viewer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The server's shared state (one per process, one tenant).
pub struct ApiState {
    /// The write path.
    pub service: Arc<CommandService>,
    /// Read connections to the read models.
    pub reads: ReadPool,
    /// Token verification.
    pub auth: Authenticator,
    /// Limits, tenant zone and other settings.
    pub settings: ApiSettings,
    /// Committed events, fanned out to subscriptions.
    pub live: Live,
    /// Prometheus counters and histograms.
    pub metrics: Metrics,
    /// The read models' runner, for readiness and lag (absent in tests without one).
    pub runner: Option<kasane_projections::runner::ProjectionRunner>,
    /// Per-token request budget.
    pub limiter: RateLimiter,
}

impl ApiState {
    /// The caller a verified token speaks for, refused when unknown or suspended.
    pub fn caller(&self, member: MemberId, correlation_id: Uuid) -> ApiResult<Caller> {
        let actor = self.service.actor(member).map_err(|_| {
            ApiError::new(
                codes::UNKNOWN_MEMBER,
                "the token names a member who is not enrolled here: ask your agency administrator",
            )
        })?;
        if !actor.member.active {
            return Err(ApiError::new(
                codes::MEMBER_SUSPENDED,
                "your membership is suspended: ask your agency administrator to reinstate you",
            ));
        }
        Ok(Caller {
            viewer: Viewer::from(&actor),
            actor,
            correlation_id,
        })
    }
}

/// The signed-in member making a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The member with their agency, as the directory knows them now.
    pub actor: Actor,
    /// The same member as the sharing rule sees them.
    pub viewer: Viewer,
    /// Ties the request's events and log lines together.
    pub correlation_id: Uuid,
}

impl Caller {
    /// The member's id.
    pub fn member_id(&self) -> MemberId {
        self.actor.member_id()
    }

    /// Command metadata for a mutation decided now.
    pub fn meta(&self, expected_version: Option<u64>, key: Option<Uuid>) -> CommandMeta {
        CommandMeta {
            now: chrono::Utc::now(),
            command_id: key,
            correlation_id: self.correlation_id,
            expected_version,
        }
    }
}

/// The shared state from a resolver's context.
pub fn state<'a>(ctx: &async_graphql::Context<'a>) -> &'a Arc<ApiState> {
    ctx.data_unchecked::<Arc<ApiState>>()
}

/// The signed-in caller, or UNAUTHENTICATED.
pub fn caller<'a>(ctx: &async_graphql::Context<'a>) -> ApiResult<&'a Caller> {
    ctx.data_opt::<Caller>().ok_or_else(|| {
        ApiError::new(
            codes::UNAUTHENTICATED,
            "sign in first: send `Authorization: Bearer <token>` (e.g. from `kasane token issue`)",
        )
    })
}

/// The request's access log; only HTTP requests have one, since only they can hold the
/// response back until the reads are recorded.
pub fn access_log<'a>(ctx: &async_graphql::Context<'a>) -> ApiResult<&'a AccessLog> {
    ctx.data_opt::<Arc<AccessLog>>()
        .map(|log| &**log)
        .ok_or_else(|| {
            ApiError::new(
                codes::BAD_REQUEST,
                "personal data is only served over POST /graphql (the WebSocket carries subscriptions)",
            )
        })
}

/// Reads of personal data made while answering one request, recorded before it is answered.
#[derive(Debug, Default)]
pub struct AccessLog {
    reads: Mutex<BTreeMap<(ResidentId, AccessKind), Read>>,
}

#[derive(Debug, Default)]
struct Read {
    up_to_version: u64,
    items: Vec<AccessedItem>,
}

impl AccessLog {
    /// Notes that the response returns `items` of `resident` as of stream version `up_to_version`.
    pub fn note(
        &self,
        resident: ResidentId,
        kind: AccessKind,
        up_to_version: u64,
        items: impl IntoIterator<Item = AccessedItem>,
    ) {
        let mut reads = self.reads.lock().expect("access log");
        let read = reads.entry((resident, kind)).or_default();
        read.up_to_version = read.up_to_version.max(up_to_version);
        for item in items {
            if !read.items.contains(&item) {
                read.items.push(item);
            }
        }
    }

    /// True when nothing personal was read.
    pub fn is_empty(&self) -> bool {
        self.reads.lock().expect("access log").is_empty()
    }

    /// Appends one `AccessRecorded` per resident and kind; returns once all are durable.
    /// Concurrent requests share the store's group commit.
    pub async fn flush(&self, service: &CommandService, caller: &Caller) -> ApiResult<usize> {
        let reads = std::mem::take(&mut *self.reads.lock().expect("access log"));
        let count = reads.len();
        let writes = reads.into_iter().map(|((resident, kind), read)| {
            let meta = CommandMeta {
                now: chrono::Utc::now(),
                command_id: None,
                correlation_id: caller.correlation_id,
                expected_version: None,
            };
            service.record_read(
                caller.member_id(),
                resident,
                kind,
                read.up_to_version,
                read.items,
                meta,
            )
        });
        for result in futures_util::future::join_all(writes).await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a read could not be recorded");
                return Err(ApiError::new(
                    codes::ACCESS_NOT_RECORDED,
                    "the read could not be recorded, so nothing was returned: retry",
                ));
            }
        }
        Ok(count)
    }
}
