//! `kasane bench replay`: a full rebuild of every projection from a generated log of at least a
//! million events, against a baseline measured in the same run that only reads and decodes
//! the same events.
//!
//! The dataset is the demo town (generated through the real write path, without the inline
//! hook so generation is not slowed by the read models), or an existing store in `--dir`.
//! Baseline: `read_all_opened` in batches of 4,096 and `decode_opened` of each event (the
//! reading and decoding that catch-up does), one batch after the other. Rebuild: `ProjectionRunner::reset(&[])` then `catch_up`, exactly what
//! `kasane projections rebuild` does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use kasane_app::CommandService;
use kasane_domain::TenantId;
use kasane_projections::projection::decode_opened;
use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::{ProjectionRunner, ProjectionStatus};
use kasane_store::clock::ManualClock;
use kasane_store::{Durability, EventStore, MasterKey, SqliteConfig, SqliteStore};
use uuid::Uuid;

use crate::config::{DB_FILE, KEY_FILE};
use crate::demo::{DemoOptions, generate};

/// Events read per batch, by the baseline and by catch-up.
const READ_BATCH: usize = 4096;

/// The rebuild target in events per second.
pub const TARGET_EVENTS_PER_SEC: f64 = 200_000.0;

/// The rebuild target as a fraction of the baseline.
pub const TARGET_RATIO: f64 = 0.3;

/// The dataset size the benchmark is specified for.
pub const TARGET_EVENTS: u64 = 1_000_000;

/// The tenant the generated town belongs to.
const TENANT: &str = "kasane-city";

/// What to measure.
#[derive(Clone, Debug)]
pub struct ReplayBenchOptions {
    /// Dataset directory: reused when it holds a store, else generated there and kept.
    /// `None`: a temporary directory, deleted afterwards unless `keep`.
    pub dir: Option<PathBuf>,
    /// Residents of the generated town.
    pub residents: usize,
    /// Months of generated history.
    pub months: u32,
    /// Seed of the generator.
    pub seed: u64,
    /// Keep a temporary dataset instead of deleting it.
    pub keep: bool,
    /// Also rebuild each projection alone (where the time goes).
    pub each: bool,
}

impl Default for ReplayBenchOptions {
    fn default() -> Self {
        ReplayBenchOptions {
            dir: None,
            residents: 3_200,
            months: 24,
            seed: 42,
            keep: false,
            each: false,
        }
    }
}

/// How the dataset came about.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The database file.
    pub path: PathBuf,
    /// Events in the log.
    pub events: u64,
    /// Size of the database file (and its WAL) before the rebuild.
    pub bytes: u64,
    /// Generation time and the generator's summary line, when generated in this run.
    pub generated: Option<(Duration, String)>,
    /// True when the directory is deleted at the end.
    pub temporary: bool,
}

/// One projection rebuilt alone.
#[derive(Clone, Debug)]
pub struct SoloRebuild {
    /// The projection.
    pub name: String,
    /// Wall time of its reset and catch-up.
    pub elapsed: Duration,
    /// Log events per second.
    pub events_per_sec: f64,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct ReplayBenchReport {
    /// The command line as typed.
    pub command: String,
    /// When the measurements started.
    pub started_at: DateTime<Utc>,
    /// The log that was replayed.
    pub dataset: Dataset,
    /// Baseline: events read and decoded.
    pub baseline_events: u64,
    /// Baseline wall time.
    pub baseline_elapsed: Duration,
    /// Baseline events per second.
    pub baseline_events_per_sec: f64,
    /// Names of the projections rebuilt.
    pub projections: Vec<String>,
    /// Time to drop and recreate every projection's tables.
    pub reset_elapsed: Duration,
    /// Time of the catch-up from position 0 to the head.
    pub catch_up_elapsed: Duration,
    /// The part of the catch-up after its last transaction of events: building the bulk
    /// indexes and sorted tables.
    pub finish_elapsed: Duration,
    /// Events replayed by the rebuild.
    pub rebuild_events: u64,
    /// Rebuild events per second (reset and catch-up together).
    pub rebuild_events_per_sec: f64,
    /// `rebuild_events_per_sec / baseline_events_per_sec`.
    pub ratio: f64,
    /// Each projection's status after the rebuild.
    pub status: Vec<ProjectionStatus>,
    /// Each projection rebuilt alone (with `--each`).
    pub solo: Vec<SoloRebuild>,
}

/// Removes a temporary dataset however the run ends.
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn per_sec(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} events ({{per_sec}}, eta {{eta}})"
        ))
        .expect("valid template"),
    );
    bar
}

fn file_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Opens (or creates) the store of a dataset directory, with its own master key file.
async fn open_store(dir: &Path, clock: Option<Arc<ManualClock>>) -> Result<SqliteStore> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the dataset directory {}", dir.display()))?;
    let (key, _) = MasterKey::load_or_generate(&dir.join(KEY_FILE))?;
    let mut config = SqliteConfig::new(dir.join(DB_FILE), key);
    // The dataset is regenerable: no fsync per commit.
    config.durability = Durability::Normal;
    if let Some(clock) = clock {
        config.clock = clock;
    }
    SqliteStore::open(config)
        .await
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Generates the demo town into the empty store in `dir` (no inline hook).
async fn generate_into(dir: &Path, opts: &ReplayBenchOptions) -> Result<(Duration, String)> {
    // A fixed end makes the same options give the same dataset.
    let end = Utc
        .with_ymd_and_hms(2026, 10, 31, 15, 0, 0)
        .single()
        .expect("a valid instant");
    let clock = Arc::new(ManualClock::new(end));
    let store = open_store(dir, Some(clock.clone())).await?;
    let tenant = TenantId::parse(TENANT).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let started = Instant::now();
    let result = async {
        let service = CommandService::open(Arc::new(store.clone()), tenant).await?;
        let options = DemoOptions {
            seed: opts.seed,
            residents: opts.residents,
            months: opts.months,
            members: 0,
            end,
        };
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "generating: {msg} {bar:40} {pos}/{len} commands ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        let summary = generate(&service, &clock, &options, &bar).await?;
        bar.finish_and_clear();
        anyhow::Ok(summary)
    }
    .await;
    store.close().await;
    let summary = result?;
    if summary.refused > 0 {
        bail!(
            "the generator had {} commands refused: the dataset is not a valid history",
            summary.refused
        );
    }
    let line = format!(
        "demo town, seed {}, {} residents, {} months, {} agencies, {} members: {} commands, {} \
         events, {} notes",
        opts.seed,
        summary.residents,
        opts.months,
        summary.agencies,
        summary.members,
        summary.commands,
        summary.events,
        summary.notes
    );
    Ok((started.elapsed(), line))
}

/// Prepares the dataset, then runs the baseline and the rebuild.
pub async fn run(opts: &ReplayBenchOptions, command: String) -> Result<ReplayBenchReport> {
    if opts.residents == 0 || opts.months == 0 {
        bail!("--residents and --months must be at least 1");
    }
    let (dir, temporary) = match &opts.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("kasane-bench-replay-{}", Uuid::now_v7())),
            !opts.keep,
        ),
    };
    let _guard = TempDirGuard(temporary.then(|| dir.clone()));
    let path = dir.join(DB_FILE);

    let existing = if path.exists() {
        let store = open_store(&dir, None).await?;
        let head = store.head_position().await?;
        store.close().await;
        head
    } else {
        0
    };
    let generated = if existing == 0 {
        eprintln!(
            "generating the dataset into {} ({} residents, {} months, seed {})",
            dir.display(),
            opts.residents,
            opts.months,
            opts.seed
        );
        Some(generate_into(&dir, opts).await?)
    } else {
        eprintln!(
            "reusing the dataset in {} ({existing} events)",
            dir.display()
        );
        None
    };

    let store = open_store(&dir, None).await?;
    let result = measure(&store, opts, &path).await;
    store.close().await;
    let mut report = result?;
    report.command = command;
    report.dataset.generated = generated;
    report.dataset.temporary = temporary;
    if !temporary && opts.dir.is_none() {
        eprintln!("the dataset is kept in {}", dir.display());
    }
    Ok(report)
}

async fn measure(
    store: &SqliteStore,
    opts: &ReplayBenchOptions,
    path: &Path,
) -> Result<ReplayBenchReport> {
    let head = store.head_position().await?;
    let bytes = file_bytes(path);
    let started_at = Utc::now();

    // (a) Baseline: read and decode every event, nothing else.
    let progress = bar(head, "baseline: read + decode");
    let started = Instant::now();
    let mut after = 0;
    let mut decoded = 0u64;
    loop {
        let mut batch = store.read_all_opened(after, READ_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.global_position;
        for e in &mut batch {
            let event = decode_opened(e)
                .with_context(|| format!("cannot decode the event at {}", e.global_position))?;
            std::hint::black_box(&event);
            decoded += 1;
        }
        progress.set_position(after);
    }
    let baseline_elapsed = started.elapsed();
    progress.finish_and_clear();
    if decoded != head {
        bail!("the baseline read {decoded} events but the log head is {head}");
    }

    // (b) Full rebuild of every projection.
    let settings = ProjectionSettings::default();
    let runner = ProjectionRunner::new(path, registry::all(&settings));
    let projections: Vec<String> = runner
        .projections()
        .iter()
        .map(|p| p.name().to_owned())
        .collect();
    let progress = bar(head, "rebuild: all projections");
    let started = Instant::now();
    runner.reset(&[])?;
    let reset_elapsed = started.elapsed();
    // The last transaction of events ends at the last progress call; what follows is the
    // bulk load's finish (sorted indexes and tables).
    let last_progress = std::sync::Mutex::new(started);
    let reached = runner
        .catch_up(store, &|pos, _| {
            progress.set_position(pos);
            *last_progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        })
        .await?;
    let rebuild_elapsed = started.elapsed();
    let catch_up_elapsed = rebuild_elapsed - reset_elapsed;
    let finish_elapsed = last_progress
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .elapsed();
    progress.finish_and_clear();
    let status = runner.status(head)?;
    drop(runner);

    // (c) Optionally each projection alone: its own share of the time.
    let mut solo = Vec::new();
    if opts.each {
        for name in &projections {
            let one: Vec<_> = registry::all(&settings)
                .into_iter()
                .filter(|p| p.name() == name)
                .collect();
            let runner = ProjectionRunner::new(path, one);
            let progress = bar(head, &format!("rebuild: {name} alone"));
            let started = Instant::now();
            runner.reset(&[])?;
            runner
                .catch_up(store, &|pos, _| progress.set_position(pos))
                .await?;
            let elapsed = started.elapsed();
            progress.finish_and_clear();
            solo.push(SoloRebuild {
                name: name.clone(),
                elapsed,
                events_per_sec: per_sec(head, elapsed),
            });
        }
    }

    let baseline_events_per_sec = per_sec(decoded, baseline_elapsed);
    let rebuild_events_per_sec = per_sec(reached, rebuild_elapsed);
    let report = ReplayBenchReport {
        command: String::new(),
        started_at,
        dataset: Dataset {
            path: path.to_owned(),
            events: head,
            bytes,
            generated: None,
            temporary: false,
        },
        baseline_events: decoded,
        baseline_elapsed,
        baseline_events_per_sec,
        projections,
        reset_elapsed,
        catch_up_elapsed,
        finish_elapsed,
        rebuild_events: reached,
        rebuild_events_per_sec,
        ratio: rebuild_events_per_sec / baseline_events_per_sec,
        status,
        solo,
    };
    if let Some(bad) = report
        .status
        .iter()
        .find(|s| s.error.is_some() || s.lag > 0)
    {
        eprintln!("{report}");
        bail!(
            "projection {} is at {} of {head} after the rebuild: {}",
            bad.name,
            bad.position,
            bad.error.as_deref().unwrap_or("still behind")
        );
    }
    Ok(report)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

impl ReplayBenchReport {
    /// True when the rebuild reaches the absolute target.
    pub fn meets_speed(&self) -> bool {
        self.rebuild_events_per_sec >= TARGET_EVENTS_PER_SEC
    }

    /// True when the rebuild reaches the target fraction of the baseline.
    pub fn meets_ratio(&self) -> bool {
        self.ratio >= TARGET_RATIO
    }
}

impl fmt::Display for ReplayBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.dataset;
        writeln!(f, "$ {}", self.command)?;
        writeln!(
            f,
            "replay benchmark, started {} ({} cores)",
            self.started_at.format("%Y-%m-%d %H:%M UTC"),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )?;
        writeln!(
            f,
            "dataset: {} events, {:.0} MiB, {}{}",
            d.events,
            d.bytes as f64 / (1024.0 * 1024.0),
            d.path.display(),
            if d.temporary { " (temporary)" } else { "" }
        )?;
        if let Some((elapsed, summary)) = &d.generated {
            writeln!(
                f,
                "  generated in {:.0} s: {summary}",
                elapsed.as_secs_f64()
            )?;
        } else {
            writeln!(f, "  reused (generated by an earlier run)")?;
        }
        if d.events < TARGET_EVENTS {
            writeln!(
                f,
                "  WARNING: fewer than {TARGET_EVENTS} events; raise --residents or --months"
            )?;
        }
        writeln!(
            f,
            "baseline: read_all_opened({READ_BATCH}) + decode_opened of every event: {} events in \
             {:.2} s = {:.0} events/s",
            self.baseline_events,
            self.baseline_elapsed.as_secs_f64(),
            self.baseline_events_per_sec
        )?;
        writeln!(
            f,
            "rebuild:  reset + catch_up of {} projections ({}): {} events in {:.2} s \
             (reset {:.2} s, catch-up {:.2} s of which {:.2} s sorting at the end) = {:.0} \
             events/s",
            self.projections.len(),
            self.projections.join(", "),
            self.rebuild_events,
            (self.reset_elapsed + self.catch_up_elapsed).as_secs_f64(),
            self.reset_elapsed.as_secs_f64(),
            self.catch_up_elapsed.as_secs_f64(),
            self.finish_elapsed.as_secs_f64(),
            self.rebuild_events_per_sec
        )?;
        writeln!(f, "ratio:    {:.2}x the baseline", self.ratio)?;
        writeln!(
            f,
            "targets:  >= {TARGET_EVENTS_PER_SEC:.0} events/s: {}; >= {TARGET_RATIO:.1}x the \
             baseline: {}",
            met(self.meets_speed()),
            met(self.meets_ratio())
        )?;
        writeln!(
            f,
            "{:<22} {:<16} {:>10} {:>6}  error",
            "projection", "version", "position", "lag"
        )?;
        for s in &self.status {
            writeln!(
                f,
                "{:<22} {:<16} {:>10} {:>6}  {}",
                s.name,
                s.version,
                s.position,
                s.lag,
                s.error.as_deref().unwrap_or("-")
            )?;
        }
        if !self.solo.is_empty() {
            writeln!(
                f,
                "each projection rebuilt alone (reads and decodes included):"
            )?;
            for s in &self.solo {
                writeln!(
                    f,
                    "  {:<22} {:>7.2} s {:>10.0} events/s",
                    s.name,
                    s.elapsed.as_secs_f64(),
                    s.events_per_sec
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_on_a_tiny_town_then_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReplayBenchOptions {
            dir: Some(dir.path().join("data")),
            residents: 3,
            months: 2,
            ..ReplayBenchOptions::default()
        };
        let report = run(&opts, "kasane bench replay".into()).await.unwrap();
        assert!(report.dataset.generated.is_some());
        assert!(report.dataset.events > 0);
        assert_eq!(report.baseline_events, report.dataset.events);
        assert_eq!(report.rebuild_events, report.dataset.events);
        assert!(
            report
                .status
                .iter()
                .all(|s| s.lag == 0 && s.error.is_none())
        );
        let text = report.to_string();
        assert!(
            text.contains("baseline") && text.contains("ratio"),
            "{text}"
        );
        // A second run reuses the store.
        let again = run(&opts, "again".into()).await.unwrap();
        assert!(again.dataset.generated.is_none());
        assert_eq!(again.dataset.events, report.dataset.events);
    }
}
