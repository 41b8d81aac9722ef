//! `kasane demo`: generates the demo town into an empty data directory.

use crate::config::StoreOptions;
use crate::demo::{DemoOptions, generate};
use anyhow::Result;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use kasane_app::CommandService;
use kasane_store::clock::ManualClock;
use kasane_store::{Durability, EventStore};
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `kasane demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Seed of the generator: the same seed gives the same town and history.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of residents (scale to millions of events with e.g. 10000).
    #[arg(long, default_value_t = 150)]
    pub residents: usize,
    /// Months of history, ending now.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// The instant the history ends (RFC 3339, e.g. 2026-10-31T15:00:00Z); default now.
    /// Fix it to make two runs with the same seed identical.
    #[arg(long)]
    pub end: Option<chrono::DateTime<Utc>>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            seed: 42,
            residents: 150,
            months: 12,
            end: None,
        }
    }
}

/// Generates the town; refuses a data directory that already holds events.
pub async fn run(opts: &StoreOptions, args: DemoArgs) -> Result<ExitCode> {
    if args.residents == 0 || args.months == 0 {
        anyhow::bail!("--residents and --months must be at least 1");
    }
    let end = args.end.unwrap_or_else(Utc::now);
    let clock = Arc::new(ManualClock::new(end));
    let mut config = opts.sqlite_config()?;
    // Demo data can be regenerated, so it is written without an fsync per commit; the store
    // is closed cleanly (checkpointed) at the end.
    config.durability = Durability::Normal;
    config.clock = clock.clone();
    let path = config.path.clone();
    let (store, _runner) = opts.open_with_projections(config).await?;
    let head = store.head_position().await?;
    if head > 0 {
        store.close().await;
        anyhow::bail!(
            "{} already holds {head} events: choose an empty --data-dir (or delete this one) to generate a new town",
            opts.data_dir.display()
        );
    }
    let service = CommandService::open(Arc::new(store.clone()), opts.tenant()?).await?;
    let options = DemoOptions {
        seed: args.seed,
        residents: args.residents,
        months: args.months,
        members: (args.residents / 4).max(40),
        end,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} commands ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let summary = generate(&service, &clock, &options, &bar).await?;
    bar.finish_and_clear();
    let events = store.head_position().await?;
    store.close().await;
    println!("{summary}");
    println!(
        "wrote {events} events to {} (tenant {})",
        path.display(),
        opts.tenant
    );
    println!(
        "next: `kasane verify` checks every hash chain; `kasane events --last` shows the newest events; \
         `kasane projections status` shows the read models"
    );
    if summary.refused > 0 {
        eprintln!(
            "warning: the generator had {} commands refused by the domain rules (see the log)",
            summary.refused
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
