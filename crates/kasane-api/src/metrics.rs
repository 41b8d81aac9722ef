//! Prometheus metrics served at `/metrics`: requests and latency by operation, subscribers,
//! access records written, and projection lag.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// Labels of one GraphQL request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The operation's name (or `anonymous`).
    pub operation: String,
    /// `ok` or the first error code.
    pub outcome: String,
}

type LatencyFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<OperationLabels, Counter>,
    latency: LatencyFamily,
    /// Open subscriptions.
    pub subscribers: Gauge,
    /// `AccessRecorded` events written.
    pub access_records: Counter,
    /// Events by which the slowest projection trails the log (refreshed on each scrape).
    pub projection_lag: Gauge,
    /// Events written per append call made by the API (mutations and access records).
    pub append_events: Histogram,
    /// The store's group commits since it was opened (set on each scrape).
    pub store_commits: Gauge,
    /// Append requests those commits answered (appends per commit = the group size).
    pub store_appends: Gauge,
    /// Events those commits wrote.
    pub store_events: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kasane");
        let requests = Family::<OperationLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let subscribers = Gauge::default();
        let access_records = Counter::default();
        let projection_lag = Gauge::default();
        let append_events = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let store_commits = Gauge::default();
        let store_appends = Gauge::default();
        let store_events = Gauge::default();
        registry.register(
            "graphql_requests",
            "GraphQL requests by operation and outcome",
            requests.clone(),
        );
        registry.register(
            "graphql_request_seconds",
            "GraphQL request latency by operation and outcome",
            latency.clone(),
        );
        registry.register(
            "subscriptions",
            "Open GraphQL subscriptions",
            subscribers.clone(),
        );
        registry.register(
            "access_records",
            "AccessRecorded events written before responses",
            access_records.clone(),
        );
        registry.register(
            "projection_lag_events",
            "Events by which the slowest projection trails the log",
            projection_lag.clone(),
        );
        registry.register(
            "append_events",
            "Events per append made by the API",
            append_events.clone(),
        );
        registry.register(
            "store_commits",
            "Group commits of the store since it was opened",
            store_commits.clone(),
        );
        registry.register(
            "store_appends",
            "Append requests answered by those commits (divide by commits for the group size)",
            store_appends.clone(),
        );
        registry.register(
            "store_events",
            "Events written by those commits",
            store_events.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            subscribers,
            access_records,
            projection_lag,
            append_events,
            store_commits,
            store_appends,
            store_events,
        }
    }
}

impl Metrics {
    /// Counts one request and its latency.
    pub fn observe_request(&self, operation: &str, outcome: &str, seconds: f64) {
        let labels = OperationLabels {
            operation: operation.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(
            &mut out,
            &self.registry.lock().expect("registry"),
        )
        .expect("writing to a String cannot fail");
        out
    }
}
