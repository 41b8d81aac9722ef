//! `kasane bench append`: acknowledged appends per second with N concurrent writers, against a
//! baseline measured in the same run (batched plain INSERTs into a bare SQLite table).
//!
//! Each level gets a fresh store in a temporary directory. Every writer is a tokio task that
//! appends single-event requests (expected version `Exact`, as the command path does) to its
//! own `resident-{uuid}` stream, with a realistic ~400-byte payload holding a `$personal`
//! field, so each append seals, chains and commits like a real note. An append counts when
//! it is acknowledged, i.e. durable at the chosen durability.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use kasane_store::{
    Actor, CommitCounts, Durability, EventStore, ExpectedVersion, MasterKey, ProposedEvent,
    SqliteConfig, SqliteStore,
};
use serde_json::json;
use uuid::Uuid;

/// Rows per transaction in the baseline.
const BASELINE_BATCH: usize = 256;

/// What to measure.
#[derive(Clone, Debug)]
pub struct AppendBenchOptions {
    /// Events appended at each concurrency level (and inserted by the baseline).
    pub events_per_level: u64,
    /// Numbers of concurrent writers to measure.
    pub levels: Vec<usize>,
    /// Durability of the store and of the baseline (same `synchronous` setting).
    pub durability: Durability,
    /// Where the temporary databases go (default: the system temp directory).
    pub dir: Option<PathBuf>,
    /// Runs of each level; each run sits between two baseline runs.
    pub runs: usize,
}

impl Default for AppendBenchOptions {
    fn default() -> Self {
        AppendBenchOptions {
            events_per_level: 50_000,
            levels: vec![1, 16, 256],
            durability: Durability::Full,
            dir: None,
            runs: 3,
        }
    }
}

/// The figures of one concurrency level.
#[derive(Clone, Debug)]
pub struct LevelResult {
    /// Concurrent writers.
    pub writers: usize,
    /// Events appended (and acknowledged).
    pub events: u64,
    /// Wall time from the first append to the last acknowledgement.
    pub elapsed: Duration,
    /// Acknowledged events per second.
    pub events_per_sec: f64,
    /// Median append latency.
    pub p50: Duration,
    /// 99th percentile append latency.
    pub p99: Duration,
    /// `events_per_sec` over the mean rate of the baseline runs just before and after this run
    /// (the median run of the level's runs is the one reported).
    pub ratio: f64,
    /// Lowest and highest ratio among the level's runs.
    pub ratio_range: (f64, f64),
    /// Group commits and flushes of the log the store made for this level.
    pub commits: CommitCounts,
    /// CPU time (user and system, every thread of the process) per event while the level
    /// ran: steadier than the rate on a machine whose disk or neighbours vary.
    pub cpu_per_event: Duration,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct AppendBenchReport {
    /// When the run started.
    pub started_at: chrono::DateTime<Utc>,
    /// Durability used for store and baseline.
    pub durability: Durability,
    /// Bytes of one event's payload JSON (as the caller sends it).
    pub payload_bytes: usize,
    /// Bytes of one baseline row body (the whole proposed envelope as JSON).
    pub baseline_row_bytes: usize,
    /// Events the baseline inserted.
    pub baseline_events: u64,
    /// Baseline wall time (median of all its runs).
    pub baseline_elapsed: Duration,
    /// Baseline runs made (one before each level run, and one at the end).
    pub baseline_runs: usize,
    /// Baseline rows per second.
    pub baseline_events_per_sec: f64,
    /// One entry per concurrency level, in the order requested.
    pub levels: Vec<LevelResult>,
}

/// Removes the benchmark directory however the run ends.
struct TempDirGuard(PathBuf);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the baseline and every level; the databases are deleted afterwards.
pub async fn run(opts: &AppendBenchOptions) -> Result<AppendBenchReport> {
    if opts.events_per_level == 0 {
        bail!("the number of events per level must be at least 1");
    }
    if opts.runs == 0 {
        bail!("the number of runs per level must be at least 1");
    }
    if opts.levels.is_empty() || opts.levels.contains(&0) {
        bail!("give at least one writer count, each at least 1 (e.g. 1,16,256)");
    }
    let started_at = Utc::now();
    let base = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("kasane-bench-append-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the benchmark directory {}", dir.display()))?;
    let _guard = TempDirGuard(dir.clone());

    let sample = proposed_event("resident-sample", 0, some_actor());
    let payload_bytes = serde_json::to_vec(&sample.payload)?.len();
    let baseline_row_bytes = serde_json::to_vec(&sample)?.len();

    // This machine's disk and neighbours change its speed from one second to the next, so
    // every run of a level sits between two baseline runs and is compared with their mean;
    // the level's median run is reported.
    let mut baselines: Vec<(u64, Duration)> = Vec::new();
    let run_baseline = |n: usize| {
        let path = dir.join(format!("baseline-{n}.db"));
        let durability = opts.durability;
        let events = opts.events_per_level;
        async move {
            let measured = tokio::task::spawn_blocking({
                let path = path.clone();
                move || baseline(&path, durability, events)
            })
            .await
            .context("the baseline task failed")?;
            remove_database(&path);
            measured
        }
    };
    baselines.push(run_baseline(0).await?);
    let mut levels = Vec::with_capacity(opts.levels.len());
    for &writers in &opts.levels {
        let mut runs = Vec::with_capacity(opts.runs);
        for run in 0..opts.runs {
            let path = dir.join(format!("store-{writers}-{run}.db"));
            let mut level =
                run_level(&path, opts.durability, writers, opts.events_per_level).await?;
            remove_database(&path);
            let before = baselines[baselines.len() - 1];
            baselines.push(run_baseline(baselines.len()).await?);
            let after = baselines[baselines.len() - 1];
            let around = (per_sec(before.0, before.1) + per_sec(after.0, after.1)) / 2.0;
            level.ratio = level.events_per_sec / around;
            runs.push(level);
        }
        runs.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
        let range = (runs[0].ratio, runs[runs.len() - 1].ratio);
        // The lower middle run when there is an even number of them.
        let mut median = runs.swap_remove((runs.len() - 1) / 2);
        median.ratio_range = range;
        levels.push(median);
    }
    let baseline_runs = baselines.len();
    baselines.sort_by_key(|(_, elapsed)| *elapsed);
    let (baseline_events, baseline_elapsed) = baselines[baseline_runs / 2];
    let baseline_events_per_sec = per_sec(baseline_events, baseline_elapsed);
    Ok(AppendBenchReport {
        started_at,
        durability: opts.durability,
        payload_bytes,
        baseline_row_bytes,
        baseline_events,
        baseline_elapsed,
        baseline_runs,
        baseline_events_per_sec,
        levels,
    })
}

/// Deletes a finished run's database files, so that the next run neither shares the disk
/// with their write-back nor the run leaves gigabytes behind until it ends.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn per_sec(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// A realistic note: ~400 bytes of JSON with one personal field, sealed for its resident.
fn proposed_event(stream: &str, seq: u64, actor: Actor) -> ProposedEvent {
    let mut event = ProposedEvent::new(
        "NotePosted",
        json!({
            "note_id": Uuid::now_v7(),
            "category": "visit",
            "info_categories": ["health", "care"],
            "described_at": "2026-04-01T10:30:00+09:00",
            "duration_minutes": 45,
            "seq": seq,
            "body": {"$personal": "本日訪問。血圧132/84、食欲あり。服薬は朝夕とも確認済み。長女より夜間の徘徊について相談あり、ケアマネに共有予定。"},
            "attachments": []
        }),
    );
    event.data_subject = Some(stream.to_owned());
    event.actor = Some(actor);
    event
}

/// The member who writes a writer's notes.
fn some_actor() -> Actor {
    Actor {
        member: Uuid::now_v7(),
        agency: Uuid::now_v7(),
    }
}

async fn run_level(
    path: &Path,
    durability: Durability,
    writers: usize,
    events: u64,
) -> Result<LevelResult> {
    let mut config = SqliteConfig::new(path, MasterKey::generate());
    config.durability = durability;
    config.readers = 1;
    let store = SqliteStore::open(config)
        .await
        .with_context(|| format!("cannot open the benchmark store {}", path.display()))?;

    // Like the baseline's rows, the events are built before the clock starts: what is timed
    // is the store's work (validating, canonicalising, sealing, chaining, committing). They
    // are built round by round across the writers, so their UUIDv7 ids ascend in about the
    // order they will be appended, as ids made at command time do.
    let mut prepared: Vec<(String, Actor, Vec<ProposedEvent>)> = (0..writers)
        .map(|_| {
            (
                format!("resident-{}", Uuid::now_v7()),
                some_actor(),
                Vec::new(),
            )
        })
        .collect();
    for seq in 0..events {
        // Spread the events evenly; the first `events % writers` writers take one more.
        let (stream, actor, mine) = &mut prepared[(seq % writers as u64) as usize];
        mine.push(proposed_event(stream, mine.len() as u64, *actor));
    }

    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for (stream, _, events) in prepared {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(events.len());
            for (version, event) in (0u64..).zip(events) {
                let t0 = Instant::now();
                store
                    .append(
                        "bench",
                        &stream,
                        ExpectedVersion::Exact(version),
                        vec![event],
                    )
                    .await?;
                latencies.push(t0.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(events as usize);
    for task in tasks {
        latencies.extend(task.await.context("a writer task panicked")??);
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu_before);
    let cpu_per_event = Duration::from_nanos((cpu.as_nanos() / u128::from(events.max(1))) as u64);

    let head = store.head_position().await?;
    let commits = store.commit_counts().unwrap_or_default();
    store.close().await;
    if head != events {
        bail!("the store holds {head} events after {events} acknowledged appends");
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(LevelResult {
        writers,
        events,
        elapsed,
        events_per_sec: per_sec(events, elapsed),
        p50: pct(0.50),
        p99: pct(0.99),
        ratio: 0.0,
        ratio_range: (0.0, 0.0),
        commits,
        cpu_per_event,
    })
}

/// User plus system CPU time of the whole process so far (zero where it cannot be read).
#[cfg(not(unix))]
fn process_cpu_time() -> Duration {
    Duration::ZERO
}

/// User plus system CPU time of the whole process so far.
#[cfg(unix)]
fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return Duration::ZERO;
        }
        usage.assume_init()
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Batched plain INSERTs of the same bytes (one proposed envelope as JSON per row) into a bare
/// WAL table with the same `synchronous` setting: what SQLite alone can do on this machine.
fn baseline(path: &Path, durability: Durability, events: u64) -> Result<(u64, Duration)> {
    let conn = rusqlite::Connection::open(path)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    conn.execute_batch(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, body BLOB NOT NULL)",
    )?;
    // The rows are prepared up front so only the database work is timed.
    let streams: Vec<String> = (0..256)
        .map(|_| format!("resident-{}", Uuid::now_v7()))
        .collect();
    let actor = some_actor();
    let rows: Vec<(usize, Vec<u8>)> = (0..events)
        .map(|i| {
            let s = (i % 256) as usize;
            let body = serde_json::to_vec(&proposed_event(&streams[s], i, actor)).expect("JSON");
            (s, body)
        })
        .collect();

    let started = Instant::now();
    for chunk in rows.chunks(BASELINE_BATCH) {
        conn.execute_batch("BEGIN")?;
        {
            let mut insert =
                conn.prepare_cached("INSERT INTO events (stream, body) VALUES (?1, ?2)")?;
            for (s, body) in chunk {
                insert.execute(rusqlite::params![streams[*s], body])?;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok((events, started.elapsed()))
}

impl fmt::Display for AppendBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "append benchmark ({} durability; {}-byte payload with a sealed $personal field; \
             one event per append; started {})",
            self.durability,
            self.payload_bytes,
            self.started_at.format("%Y-%m-%d %H:%M UTC"),
        )?;
        writeln!(
            f,
            "{:>8} {:>9} {:>9} {:>12} {:>10} {:>10} {:>12} {:>13} {:>14} {:>9} {:>9} {:>12} {:>10}",
            "writers",
            "events",
            "seconds",
            "events/s",
            "p50 ms",
            "p99 ms",
            "vs baseline",
            "runs' range",
            "events/commit",
            "flushes",
            "ms/flush",
            "writer µs/ev",
            "cpu µs/ev"
        )?;
        for l in &self.levels {
            let c = &l.commits;
            writeln!(
                f,
                "{:>8} {:>9} {:>9.2} {:>12.0} {:>10.2} {:>10.2} {:>11.2}x {:>13} {:>14.1} {:>9} {:>9.2} {:>12.1} {:>10.1}",
                l.writers,
                l.events,
                l.elapsed.as_secs_f64(),
                l.events_per_sec,
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.ratio,
                format!("{:.2}-{:.2}x", l.ratio_range.0, l.ratio_range.1),
                c.events as f64 / c.commits.max(1) as f64,
                c.flushes,
                c.flush_micros as f64 / c.flushes.max(1) as f64 / 1e3,
                c.write_micros as f64 / c.events.max(1) as f64,
                l.cpu_per_event.as_secs_f64() * 1e6,
            )?;
        }
        write!(
            f,
            "baseline: {} plain INSERTs of {}-byte rows, {BASELINE_BATCH} per transaction, bare WAL \
             table (median of {} runs, one before each level run and one at the end): {:.2} s, \
             {:.0} events/s; each ratio compares a level run with the two baseline runs around it",
            self.baseline_events,
            self.baseline_row_bytes,
            self.baseline_runs,
            self.baseline_elapsed.as_secs_f64(),
            self.baseline_events_per_sec,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_with_tiny_counts() {
        let dir = tempfile::tempdir().unwrap();
        let opts = AppendBenchOptions {
            events_per_level: 40,
            levels: vec![1, 3, 64],
            durability: Durability::Normal,
            dir: Some(dir.path().to_owned()),
            runs: 2,
        };
        let report = run(&opts).await.unwrap();
        assert_eq!(report.levels.len(), 3);
        // One baseline run before each level run, and one at the end.
        assert_eq!(report.baseline_runs, 3 * 2 + 1);
        assert_eq!(report.baseline_events, 40);
        assert!(report.baseline_events_per_sec > 0.0);
        for level in &report.levels {
            assert_eq!(level.events, 40);
            assert!(level.events_per_sec > 0.0 && level.ratio > 0.0);
            let (low, high) = level.ratio_range;
            assert!(low <= level.ratio && level.ratio <= high, "{low} {high}");
            assert!(level.p50 <= level.p99);
        }
        assert!(
            (300..=600).contains(&report.payload_bytes),
            "payload is {} bytes",
            report.payload_bytes
        );
        let text = report.to_string();
        assert!(
            text.contains("baseline") && text.contains("vs baseline"),
            "{text}"
        );
        // The temporary databases are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn refuses_nonsense_options() {
        let mut opts = AppendBenchOptions {
            events_per_level: 0,
            ..AppendBenchOptions::default()
        };
        assert!(run(&opts).await.is_err());
        opts.events_per_level = 10;
        opts.levels = vec![0];
        assert!(run(&opts).await.is_err());
        opts.levels = vec![1];
        opts.runs = 0;
        assert!(run(&opts).await.is_err());
    }
}
