//! `kasane bench …`: benchmarks that print ratios against a baseline measured in the same run.

use crate::bench_append::{AppendBenchOptions, run as run_append};
use crate::bench_http::{HttpBenchOptions, Load, run as run_http};
use crate::bench_replay::{ReplayBenchOptions, run as run_replay};
use crate::bench_timeline::{TimelineBenchOptions, run as run_timeline};
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
        /// Runs of each level, each between two baseline runs; the median ratio is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Full rebuild of every projection from a log of 1M+ events vs. reading and decoding it.
    Replay {
        /// Dataset directory: reused when it holds a store, else generated there and kept
        /// (default: a temporary directory, deleted afterwards unless --keep).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Residents of the generated demo town.
        #[arg(long, default_value_t = ReplayBenchOptions::default().residents)]
        residents: usize,
        /// Months of generated history.
        #[arg(long, default_value_t = ReplayBenchOptions::default().months)]
        months: u32,
        /// Seed of the generator.
        #[arg(long, default_value_t = ReplayBenchOptions::default().seed)]
        seed: u64,
        /// Keep the temporary dataset (its path is printed).
        #[arg(long)]
        keep: bool,
        /// Also rebuild each projection alone, to see where the time goes.
        #[arg(long)]
        each: bool,
    },
    /// A 50-entry timeline page of a 10,000-event case file vs. the same page without the
    /// sharing rule.
    Timeline {
        /// Directory for the temporary database (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Pages measured (each also measured by the baseline).
        #[arg(long, default_value_t = TimelineBenchOptions::default().samples)]
        samples: usize,
        /// Seed of the case file's content and of the sampled cursors and instants.
        #[arg(long, default_value_t = TimelineBenchOptions::default().seed)]
        seed: u64,
        /// Keep the database afterwards (its path is printed).
        #[arg(long)]
        keep: bool,
    },
    /// Timeline-page queries through the HTTP server, each read recorded durably, from many
    /// connections, vs. `{ __typename }` on the same connections.
    Http {
        /// Directory for the temporary data directory (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = HttpBenchOptions::default().connections)]
        connections: usize,
        /// Measured seconds per phase.
        #[arg(long, default_value_t = HttpBenchOptions::default().seconds)]
        seconds: u64,
        /// Entries per timeline page.
        #[arg(long, default_value_t = HttpBenchOptions::default().page)]
        page: usize,
        /// Residents of the generated town.
        #[arg(long, default_value_t = HttpBenchOptions::default().residents)]
        residents: usize,
        /// Months of generated history.
        #[arg(long, default_value_t = HttpBenchOptions::default().months)]
        months: u32,
        /// The load generator: tasks in this process, or `wrk` in a second process.
        #[arg(long, value_enum, default_value = "in-process")]
        load: Load,
    },
}

/// The command line as typed (for the report).
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// Runs one benchmark and prints its report.
pub async fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Append {
            events,
            writers,
            durability,
            dir,
            runs,
        } => {
            let opts = AppendBenchOptions {
                events_per_level: events,
                levels: writers,
                durability,
                dir,
                runs,
            };
            let report = run_append(&opts).await?;
            println!("{report}");
        }
        BenchCommand::Replay {
            dir,
            residents,
            months,
            seed,
            keep,
            each,
        } => {
            let opts = ReplayBenchOptions {
                dir,
                residents,
                months,
                seed,
                keep,
                each,
            };
            let report = run_replay(&opts, command_line()).await?;
            println!("{report}");
        }
        BenchCommand::Timeline {
            dir,
            samples,
            seed,
            keep,
        } => {
            let opts = TimelineBenchOptions {
                dir,
                samples,
                seed,
                keep,
            };
            let report = run_timeline(&opts, command_line()).await?;
            println!("{report}");
        }
        BenchCommand::Http {
            dir,
            connections,
            seconds,
            page,
            residents,
            months,
            load,
        } => {
            let opts = HttpBenchOptions {
                dir,
                connections,
                seconds,
                page,
                residents,
                months,
                load,
            };
            let report = run_http(&opts, command_line()).await?;
            println!("{report}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
