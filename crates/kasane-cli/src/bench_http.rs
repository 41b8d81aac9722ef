//! `kasane bench http`: timeline-page queries through the real HTTP server, each read recorded
//! as an `AccessRecorded` event (durable, `synchronous=FULL`) before its response, from many
//! keep-alive connections at once; and in the same run a baseline: the same connections and
//! tokens asking `{ __typename }` (HTTP, auth and GraphQL, but no read model and no record).
//!
//! By default the server and the load generator share the process (and the machine's cores),
//! so the figures are a lower bound for a server with the machine to itself; `--load wrk`
//! sends the same requests from `wrk` in a second process (still on the same cores).

use crate::cmd_demo::DemoArgs;
use crate::config::{DB_FILE, StoreOptions};
use anyhow::{Context, Result, bail};
use kasane_api::{ApiSettings, ApiState, Authenticator, Limits, TokenSigner};
use kasane_app::CommandService;
use kasane_domain::vocab::Role;
use kasane_store::{Durability, EventStore};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The throughput target at 64 connections on the reference 2-core machine.
pub const TARGET_RPS: f64 = 3_000.0;
/// The p99 latency target.
pub const TARGET_P99: Duration = Duration::from_millis(50);

/// Where the load comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Load {
    /// Tasks of this process with reqwest clients (no tool to install; shares the process).
    #[default]
    InProcess,
    /// `wrk` in a second process (must be installed).
    Wrk,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct HttpBenchOptions {
    /// Where the temporary data directory goes (default: the system temp directory).
    pub dir: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Measured seconds per phase (after a warm-up of a fifth of it).
    pub seconds: u64,
    /// Entries per timeline page.
    pub page: usize,
    /// Residents of the generated town.
    pub residents: usize,
    /// Months of generated history.
    pub months: u32,
    /// The load generator.
    pub load: Load,
}

impl Default for HttpBenchOptions {
    fn default() -> Self {
        Self {
            dir: None,
            connections: 64,
            seconds: 10,
            page: 20,
            residents: 150,
            months: 12,
            load: Load::InProcess,
        }
    }
}

/// Results of one phase.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Requests answered without errors.
    pub ok: u64,
    /// Requests answered with errors (their first codes are in `codes`).
    pub failed: u64,
    /// First error codes seen.
    pub codes: Vec<String>,
    /// Requests per second (ok only).
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Largest latency.
    pub max: Duration,
}

/// The report.
#[derive(Clone, Debug)]
pub struct HttpBenchReport {
    /// The command that produced it.
    pub command: String,
    /// Options used.
    pub options: HttpBenchOptions,
    /// Events in the generated log.
    pub events: u64,
    /// Members whose tokens were used.
    pub members: usize,
    /// The measured workload.
    pub timeline: Phase,
    /// The baseline.
    pub baseline: Phase,
    /// `AccessRecorded` events written during the timeline phase (warm-up included).
    pub access_records: u64,
    /// Timeline requests answered during the phase (warm-up included).
    pub timeline_requests: u64,
}

const PAGE_QUERY: &str = "query Page($r: ID!, $n: Int!) { resident(id: $r) { timeline(first: $n) \
     { upToVersion edges { cursor node { kind occurredAt basis { kind } note { id body } } } } } }";
const BASELINE_QUERY: &str = "query Ping { __typename }";

/// Runs the benchmark.
pub async fn run(opts: &HttpBenchOptions, command: String) -> Result<HttpBenchReport> {
    if opts.connections == 0 || opts.seconds == 0 {
        bail!("--connections and --seconds must be at least 1");
    }
    if opts.load == Load::Wrk {
        crate::bench_http_wrk::ensure_installed()?;
    }
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("kasane-bench-http-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    let store_opts = StoreOptions {
        data_dir: tmp.path().to_path_buf(),
        tenant: "kasane-city".into(),
        master_key_file: None,
        time_zone: chrono_tz::Asia::Tokyo,
        durability: Durability::Full,
    };
    eprintln!(
        "generating the demo town ({} residents, {} months)…",
        opts.residents, opts.months
    );
    let demo = DemoArgs {
        residents: opts.residents,
        months: opts.months,
        ..DemoArgs::default()
    };
    crate::cmd_demo::run(&store_opts, demo).await?;

    let tenant = store_opts.tenant()?;
    let db = tmp.path().join(DB_FILE);
    let (store, runner) = store_opts
        .open_with_projections(store_opts.sqlite_config()?)
        .await?;
    let events = store.head_position().await?;
    let store_dyn: Arc<dyn EventStore> = Arc::new(store.clone());
    let service = Arc::new(CommandService::open(store_dyn, tenant.clone()).await?);
    let secret: [u8; 32] = rand::random();
    let signer = TokenSigner::new(&secret);
    let settings = ApiSettings {
        tenant: tenant.clone(),
        time_zone: store_opts.time_zone,
        // The per-token limit stays on (its bookkeeping is part of each request) but far
        // above what one connection can send.
        limits: Limits {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
            ..Limits::default()
        },
    };
    let auth = Authenticator::new(tenant.clone(), signer.clone(), None);
    let state = ApiState::start(service, db.clone(), auth, settings, Some(runner)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/graphql", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        kasane_api::serve(server_state, listener, async {
            let _ = stop_rx.await;
        })
        .await
    });

    // Supporters and the residents on their teams: each connection reads as one of them.
    let conn = kasane_projections::runner::open_read(&db)?;
    let mut readers = Vec::new();
    for m in kasane_projections::directory::members(&conn, tenant.as_str(), None)? {
        if !m.active || !m.roles.contains(&Role::Supporter) {
            continue;
        }
        let residents: Vec<String> =
            kasane_projections::care_team::residents_of(&conn, tenant.as_str(), m.member_id)?
                .into_iter()
                .map(|r| r.to_string())
                .collect();
        if !residents.is_empty() {
            let token = signer.issue(
                &tenant,
                m.member_id,
                chrono::Duration::hours(1),
                chrono::Utc::now(),
            );
            readers.push((token, residents));
        }
    }
    drop(conn);
    if readers.is_empty() {
        bail!("the generated town has no supporter on any team");
    }
    let readers = Arc::new(readers);

    let before = state.metrics.access_records.get();
    let (timeline, timeline_requests, baseline) = match opts.load {
        Load::InProcess => {
            let (timeline, sent) = phase(opts, &url, &readers, true).await;
            let access_records = state.metrics.access_records.get() - before;
            let (baseline, _) = phase(opts, &url, &readers, false).await;
            (timeline, (sent, access_records), baseline)
        }
        Load::Wrk => {
            let pages: Vec<(String, String)> = readers
                .iter()
                .flat_map(|(token, residents)| {
                    residents.iter().map(move |r| {
                        let body =
                            json!({"query": PAGE_QUERY, "variables": {"r": r, "n": opts.page}});
                        (token.clone(), body.to_string())
                    })
                })
                .collect();
            let pings: Vec<(String, String)> = readers
                .iter()
                .map(|(token, _)| (token.clone(), json!({"query": BASELINE_QUERY}).to_string()))
                .collect();
            let (url, dir) = (url.clone(), tmp.path().to_path_buf());
            let (opts_w, state_w) = (opts.clone(), state.clone());
            tokio::task::spawn_blocking(move || -> Result<_> {
                let (timeline, sent) =
                    crate::bench_http_wrk::phase(&opts_w, &url, &pages, &dir, "timeline")?;
                let access_records = state_w.metrics.access_records.get() - before;
                let (baseline, _) =
                    crate::bench_http_wrk::phase(&opts_w, &url, &pings, &dir, "baseline")?;
                Ok((timeline, (sent, access_records), baseline))
            })
            .await??
        }
    };
    let (timeline_requests, access_records) = timeline_requests;

    let _ = stop_tx.send(());
    let _ = server.await;
    store.close().await;
    Ok(HttpBenchReport {
        command,
        options: opts.clone(),
        events,
        members: readers.len(),
        timeline,
        baseline,
        access_records,
        timeline_requests,
    })
}

/// One phase: warm-up, then `seconds` of measured requests on every connection. Returns the
/// phase and the number of requests sent in all (warm-up included).
async fn phase(
    opts: &HttpBenchOptions,
    url: &str,
    readers: &Arc<Vec<(String, Vec<String>)>>,
    timeline: bool,
) -> (Phase, u64) {
    let warm = Duration::from_millis(opts.seconds * 200);
    let measure = Duration::from_secs(opts.seconds);
    let start = Instant::now() + warm;
    let end = start + measure;
    let mut tasks = Vec::new();
    for c in 0..opts.connections {
        let readers = readers.clone();
        let url = url.to_owned();
        let page = opts.page;
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("an HTTP client");
            let (token, residents) = &readers[c % readers.len()];
            let mut rng = ChaCha8Rng::seed_from_u64(c as u64);
            let mut latencies = Vec::new();
            let (mut ok, mut failed, mut sent) = (0u64, 0u64, 0u64);
            let mut codes = Vec::new();
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let body = if timeline {
                    let r = residents.choose(&mut rng).expect("residents");
                    json!({"query": PAGE_QUERY, "variables": {"r": r, "n": page}})
                } else {
                    json!({"query": BASELINE_QUERY})
                };
                let t0 = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await;
                let text = match answer {
                    Ok(resp) => resp.text().await.unwrap_or_default(),
                    Err(e) => format!("{{\"errors\":[{{\"extensions\":{{\"code\":\"{e}\"}}}}]}}"),
                };
                let elapsed = t0.elapsed();
                sent += 1;
                if t0 < start {
                    continue;
                }
                let good = !text.contains("\"errors\"") && text.contains("\"data\"");
                if good {
                    ok += 1;
                    latencies.push(elapsed);
                } else {
                    failed += 1;
                    if codes.len() < 3 {
                        codes.push(text.chars().take(200).collect::<String>());
                    }
                }
            }
            (latencies, ok, failed, codes, sent)
        }));
    }
    let mut all = Vec::new();
    let mut phase = Phase::default();
    let mut sent = 0;
    for t in tasks {
        let (lat, ok, failed, codes, s) = t.await.expect("a load task");
        all.extend(lat);
        phase.ok += ok;
        phase.failed += failed;
        sent += s;
        if phase.codes.len() < 3 {
            phase.codes.extend(codes);
        }
    }
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    phase.p50 = pick(0.50);
    phase.p99 = pick(0.99);
    phase.max = all.last().copied().unwrap_or_default();
    phase.rps = phase.ok as f64 / measure.as_secs_f64();
    (phase, sent)
}

impl fmt::Display for HttpBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "kasane bench http: {}", self.command)?;
        writeln!(
            f,
            "dataset: demo town, {} residents x {} months, {} events; {} supporters' tokens",
            o.residents, o.months, self.events, self.members
        )?;
        writeln!(
            f,
            "load: {} keep-alive connections, {} s measured per phase (after {} ms warm-up), {}",
            o.connections,
            o.seconds,
            o.seconds * 200,
            match o.load {
                Load::InProcess => "in-process",
                Load::Wrk => "wrk in a second process",
            }
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, p: &Phase| {
            writeln!(
                f,
                "{name:<34} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} ok, {} failed)",
                p.rps,
                p.p50.as_secs_f64() * 1e3,
                p.p99.as_secs_f64() * 1e3,
                p.max.as_secs_f64() * 1e3,
                p.ok,
                p.failed
            )
        };
        row(
            f,
            &format!("timeline page ({}) + access record", o.page),
            &self.timeline,
        )?;
        row(f, "baseline { __typename }", &self.baseline)?;
        for c in self.timeline.codes.iter().chain(&self.baseline.codes) {
            writeln!(f, "  first failures: {c}")?;
        }
        writeln!(
            f,
            "ratio to baseline: {:.2}x; access records written {} for {} timeline requests{}",
            self.timeline.rps / self.baseline.rps.max(1.0),
            self.access_records,
            self.timeline_requests,
            match o.load {
                Load::InProcess => "",
                // wrk drops the requests in flight when a run ends, answered or not.
                Load::Wrk =>
                    " answered to wrk (it does not count up to 2 x connections in flight at its stops)",
            }
        )?;
        write!(
            f,
            "targets: >= {:.0} req/s {}; p99 < {} ms {}",
            TARGET_RPS,
            if self.timeline.rps >= TARGET_RPS {
                "MET"
            } else {
                "NOT MET"
            },
            TARGET_P99.as_millis(),
            if self.timeline.p99 < TARGET_P99 {
                "MET"
            } else {
                "NOT MET"
            }
        )
    }
}
