//! `kasane projections status|rebuild`: where each read model stands, and rebuilding them
//! from the log.

use crate::config::StoreOptions;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use kasane_store::EventStore;
use std::process::ExitCode;
use std::time::Instant;

/// What to do with the projections.
#[derive(clap::Subcommand, Debug)]
pub enum ProjectionsCommand {
    /// Show each projection's version, position and lag behind the log.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Bring every projection up to date, as the server does at start: rebuild those whose
    /// code version changed or whose tables are missing, catch up the rest.
    Update,
    /// Drop and rebuild projections from the log (all of them when no name is given).
    Rebuild {
        /// Names as `status` shows them.
        names: Vec<String>,
    },
}

/// Runs a projections command against the store in the data directory.
pub async fn run(opts: &StoreOptions, cmd: ProjectionsCommand) -> Result<ExitCode> {
    match cmd {
        ProjectionsCommand::Status { json } => {
            let (store, runner) = opts.open_existing_with_projections(false).await?;
            let head = store.head_position().await?;
            let status = runner.status(head)?;
            store.close().await;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"head": head, "projections": status})
                );
            } else {
                println!("log head: {head}");
                println!(
                    "{:<22} {:<16} {:>10} {:>8}  error",
                    "projection", "version", "position", "lag"
                );
                for s in &status {
                    println!(
                        "{:<22} {:<16} {:>10} {:>8}  {}",
                        s.name,
                        s.version,
                        s.position,
                        s.lag,
                        s.error.as_deref().unwrap_or("-")
                    );
                }
            }
            let stuck = status.iter().any(|s| s.error.is_some());
            Ok(if stuck {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ProjectionsCommand::Update => {
            let started = Instant::now();
            let (store, runner) = opts.open_existing_with_projections(true).await?;
            let head = store.head_position().await?;
            let status = runner.status(head)?;
            store.close().await;
            println!(
                "projections are at {head} of {head} events ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            if let Some(bad) = status.iter().find(|s| s.error.is_some() || s.lag > 0) {
                anyhow::bail!(
                    "projection {} is at {} of {head}: {}",
                    bad.name,
                    bad.position,
                    bad.error.as_deref().unwrap_or("still behind")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsCommand::Rebuild { names } => {
            let (store, runner) = opts.open_existing_with_projections(false).await?;
            let reset = runner.reset(&names)?;
            let head = store.head_position().await?;
            let bar = ProgressBar::new(head);
            bar.set_style(
                ProgressStyle::with_template(
                    "rebuilding {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
                )
                .expect("valid template"),
            );
            let started = Instant::now();
            let reached = runner
                .catch_up(&store, &|pos, _| bar.set_position(pos))
                .await?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            let status = runner.status(store.head_position().await?)?;
            store.close().await;
            println!(
                "rebuilt {} from {reached} events in {secs:.1} s ({:.0} events/s)",
                reset.join(", "),
                reached as f64 / secs.max(1e-9)
            );
            if let Some(bad) = status.iter().find(|s| s.error.is_some()) {
                anyhow::bail!(
                    "projection {} failed: {}",
                    bad.name,
                    bad.error.as_deref().unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
