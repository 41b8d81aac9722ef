//! The HTTP surface: `/graphql` (GraphiQL on GET, queries on POST), `/graphql/ws`
//! (subscriptions over `graphql-transport-ws` and the legacy `graphql-ws`), `/healthz`,
//! `/readyz` and `/metrics`.
//!
//! One read, end to end: bearer token → caller → schema (every resolver asks the sharing rule)
//! → the request's access log is flushed (durable) → only then the response leaves.

use crate::auth::Authenticator;
use crate::context::{AccessLog, ApiState, Caller};
use crate::error::{ApiError, codes};
use crate::schema::KasaneSchema;
use async_graphql::http::{GraphiQLSource, WebSocketProtocols};
use async_graphql::{Data, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// The header carrying a request's correlation id (accepted if a UUID, always returned).
pub const CORRELATION_HEADER: &str = "x-correlation-id";

#[derive(Clone)]
struct App {
    state: Arc<ApiState>,
    schema: KasaneSchema,
}

/// The router serving `state`.
pub fn router(state: Arc<ApiState>) -> Router {
    let schema = crate::schema::build(state.clone());
    let body_limit = state.settings.limits.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(subscriptions))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(App { state, schema })
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Kasane GraphQL")
            .finish(),
    )
}

/// An error response shaped like GraphQL's, with its code.
fn error_response(status: StatusCode, error: ApiError, correlation: Uuid) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": error.message(),
            "extensions": { "code": error.code },
        }]
    });
    let mut response = (status, axum::Json(body)).into_response();
    set_correlation(&mut response, correlation);
    response
}

fn set_correlation(response: &mut Response, correlation: Uuid) {
    if let Ok(v) = HeaderValue::from_str(&correlation.to_string()) {
        response.headers_mut().insert(CORRELATION_HEADER, v);
    }
}

fn correlation_of(headers: &HeaderMap) -> Uuid {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
        .unwrap_or_else(Uuid::now_v7)
}

/// The caller of a request, `None` without a token; the error says why a token is refused.
fn authenticate(
    state: &ApiState,
    authorization: Option<&str>,
    correlation: Uuid,
) -> Result<Option<(Caller, String)>, ApiError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let token = Authenticator::bearer(value)?;
    let member = state.auth.verify(token)?;
    let caller = state.caller(member, correlation)?;
    Ok(Some((caller, token.to_owned())))
}

fn status_of(code: &str) -> StatusCode {
    match code {
        codes::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        codes::BODY_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        codes::BAD_REQUEST => StatusCode::BAD_REQUEST,
        codes::MEMBER_SUSPENDED | codes::FOREIGN_TENANT => StatusCode::FORBIDDEN,
        codes::ACCESS_NOT_RECORDED | "STORE_SYNC_FAILED" | "STORE_IO" | "STORE_CLOSED" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn graphql(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let correlation = correlation_of(&headers);
    let refuse = |error: ApiError, operation: &str| {
        app.state
            .metrics
            .observe_request(operation, error.code, started.elapsed().as_secs_f64());
        error_response(status_of(error.code), error, correlation)
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let max = app.state.settings.limits.max_body_bytes;
            return refuse(
                ApiError::new(
                    codes::BODY_TOO_LARGE,
                    format!("the request body is larger than {max} bytes: send less at once"),
                ),
                "unparsed",
            );
        }
        Err(rejection) => {
            return refuse(
                ApiError::new(codes::BAD_REQUEST, rejection.body_text()),
                "unparsed",
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                ApiError::new(
                    codes::BAD_REQUEST,
                    format!(
                        "the body is not a GraphQL request ({e}): send {{\"query\": …, \"variables\": …}}"
                    ),
                ),
                "unparsed",
            );
        }
    };
    let operation = operation_label(request.operation_name.as_deref());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (caller, token) = match authenticate(&app.state, authorization, correlation) {
        Ok(Some((caller, token))) => (Some(caller), Some(token)),
        Ok(None) => (None, None),
        Err(e) => return refuse(e, &operation),
    };
    if let Some(token) = &token
        && let Err(e) = app.state.limiter.check(token)
    {
        return refuse(e, &operation);
    }
    let span = tracing::info_span!("graphql", %correlation, operation = %operation);
    let log = Arc::new(AccessLog::default());
    let mut request = request.data(log.clone());
    if let Some(caller) = caller.clone() {
        request = request.data(caller);
    }
    let mut response = tracing::Instrument::instrument(app.schema.execute(request), span).await;
    if let Some(caller) = &caller
        && !log.is_empty()
    {
        match log.flush(&app.state.service, caller).await {
            Ok(written) => {
                app.state.metrics.access_records.inc_by(written as u64);
            }
            Err(e) => return refuse(e, &operation),
        }
    } else if let Err(e) = app.state.service.store().durable_barrier().await {
        // Without an access record to wait for, nothing else holds the answer back until
        // what it was read from is durable (see `EventStore::durable_barrier`).
        return refuse(e.into(), &operation);
    }
    for error in &mut response.errors {
        ensure_code(error);
    }
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref()?.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "ok".to_owned());
    app.state
        .metrics
        .observe_request(&operation, &outcome, started.elapsed().as_secs_f64());
    let mut http = axum::Json(response).into_response();
    set_correlation(&mut http, correlation);
    http
}

/// Gives errors raised by the GraphQL engine itself (parsing, validation, limits) a code.
fn ensure_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let (code, hint) = match error.message.as_str() {
        "Query is nested too deep." => (
            codes::QUERY_TOO_DEEP,
            " Split the query into shallower ones.",
        ),
        "Query is too complex." => (
            codes::QUERY_TOO_COMPLEX,
            " Ask for fewer fields or smaller pages.",
        ),
        _ if error.path.is_empty() => (codes::BAD_REQUEST, ""),
        _ => (codes::INTERNAL, ""),
    };
    error.message.push_str(hint);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// The operation name as a metrics label: bounded and plain.
fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect(),
        _ => "anonymous".to_owned(),
    }
}

async fn subscriptions(
    State(app): State<App>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let correlation = correlation_of(&headers);
    let header_auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let state = app.state.clone();
    let schema = app.schema.clone();
    upgrade
        .protocols(
            [
                WebSocketProtocols::GraphQLWS,
                WebSocketProtocols::SubscriptionsTransportWS,
            ]
            .iter()
            .map(|p| p.sec_websocket_protocol()),
        )
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let from_payload = payload
                        .get("authorization")
                        .or_else(|| payload.get("Authorization"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    let authorization = from_payload.or(header_auth);
                    let mut data = Data::default();
                    match authenticate(&state, authorization.as_deref(), correlation) {
                        Ok(Some((caller, _))) => data.insert(caller),
                        Ok(None) => {
                            return Err(ApiError::new(
                                codes::UNAUTHENTICATED,
                                "send {\"authorization\": \"Bearer <token>\"} in connection_init",
                            )
                            .into());
                        }
                        Err(e) => return Err(e.into()),
                    }
                    Ok(data)
                })
                .serve()
                .await
        })
}

async fn readyz(State(app): State<App>) -> Response {
    match readiness(&app.state).await {
        Ok(lag) => (StatusCode::OK, format!("ready (projection lag {lag})")).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

/// Ready when the store answers and the read models are not stuck behind it.
async fn readiness(state: &ApiState) -> Result<u64, String> {
    let head = state
        .service
        .store()
        .head_position()
        .await
        .map_err(|e| format!("store unavailable: {e}"))?;
    let lag = projection_lag(state, head)?;
    state.metrics.projection_lag.set(lag as i64);
    Ok(lag)
}

fn projection_lag(state: &ApiState, head: u64) -> Result<u64, String> {
    let Some(runner) = &state.runner else {
        return Ok(0);
    };
    let statuses = runner
        .status(head)
        .map_err(|e| format!("read models unavailable: {e}"))?;
    if let Some(stuck) = statuses.iter().find(|s| s.error.is_some()) {
        return Err(format!(
            "projection {} is stuck: {}",
            stuck.name,
            stuck.error.clone().unwrap_or_default()
        ));
    }
    Ok(statuses.iter().map(|s| s.lag).max().unwrap_or(0))
}

async fn metrics(State(app): State<App>) -> Response {
    if let Ok(head) = app.state.service.store().head_position().await
        && let Ok(lag) = projection_lag(&app.state, head)
    {
        app.state.metrics.projection_lag.set(lag as i64);
    }
    if let Some(c) = app.state.service.store().commit_counts() {
        let m = &app.state.metrics;
        m.store_commits.set(c.commits as i64);
        m.store_appends.set(c.appends as i64);
        m.store_events.set(c.events as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refusals that hold data back because the store cannot vouch for it are 503 (retry
    /// later), not 401: the caller did nothing wrong.
    #[test]
    fn store_refusals_are_service_unavailable() {
        for code in [
            codes::ACCESS_NOT_RECORDED,
            "STORE_SYNC_FAILED",
            "STORE_IO",
            "STORE_CLOSED",
        ] {
            assert_eq!(status_of(code), StatusCode::SERVICE_UNAVAILABLE, "{code}");
        }
        assert_eq!(
            status_of(codes::RATE_LIMITED),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
