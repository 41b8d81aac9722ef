//! `kasane bench …`: benchmarks that print ratios against a baseline measured in the same run.

use crate::bench_append::{AppendBenchOptions, run as run_append};
use anyhow::Result;
use kasane_store::Durability;
use std::path::PathBuf;
use std::process::ExitCode;

/// The benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Durable appends with 1, 16 and 256 concurrent writers vs. batched plain SQLite INSERTs.
    Append {
        /// Events appended per concurrency level.
        #[arg(long, default_value_t = 50_000)]
        events: u64,
        /// Comma-separated writer counts.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 16, 256])]
        writers: Vec<usize>,
        /// Durability of both the store and the baseline (`full` or `normal`).
        #[arg(long, default_value = "full")]
        durability: Durability,
        /// Directory for the temporary databases (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Runs one benchmark and prints its report.
pub async fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Append {
            events,
            writers,
            durability,
            dir,
        } => {
            let opts = AppendBenchOptions {
                events_per_level: events,
                levels: writers,
                durability,
                dir,
            };
            let report = run_append(&opts).await?;
            println!("{report}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
