//! `kasane verify`: checks every hash chain and the global order of the log.

use crate::config::StoreOptions;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use kasane_store::EventStore;
use std::process::ExitCode;

/// Options of `kasane verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the verification; exit code 1 when the log is damaged.
pub async fn run(opts: &StoreOptions, args: VerifyArgs) -> Result<ExitCode> {
    let store = opts.open_existing().await?;
    let head = store.head_position().await?;
    let bar = ProgressBar::new(head);
    bar.set_style(
        ProgressStyle::with_template("verifying {bar:40} {pos}/{len} events ({per_sec})")
            .expect("valid template"),
    );
    let report = store.verify(&|checked| bar.set_position(checked)).await?;
    bar.finish_and_clear();
    store.close().await;
    if args.json {
        let problem = report.first_problem.as_ref().map(|p| {
            serde_json::json!({
                "global_position": p.global_position, "event_id": p.event_id, "tenant": p.tenant,
                "stream": p.stream, "stream_version": p.stream_version, "reason": p.reason,
            })
        });
        println!(
            "{}",
            serde_json::json!({
                "ok": report.is_ok(), "events_checked": report.events_checked,
                "streams_checked": report.streams_checked, "first_problem": problem,
            })
        );
    } else if let Some(p) = &report.first_problem {
        println!(
            "verify FAILED at global position {} (event {}, {} {} version {}): {}",
            p.global_position, p.event_id, p.tenant, p.stream, p.stream_version, p.reason
        );
        println!(
            "checked {} events in {} streams before the problem",
            report.events_checked, report.streams_checked
        );
    } else {
        println!(
            "verify ok: {} events in {} streams; every hash chain and the global order check out",
            report.events_checked, report.streams_checked
        );
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
