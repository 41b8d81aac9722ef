//! `kasane events`: lists or follows events, of one stream or of the whole log.

use crate::config::StoreOptions;
use anyhow::Result;
use kasane_store::{EventStore, ReadDirection, RecordedEvent};
use std::time::Duration;

/// How often `--follow` looks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(250);
use std::process::ExitCode;

/// Options of `kasane events`.
#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Only this stream (e.g. `resident-0193…`); all streams when absent.
    #[arg(long)]
    pub stream: Option<String>,
    /// Start after this global position (whole log) or at this version (one stream).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// At most this many events (before following).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// The newest events instead of the oldest.
    #[arg(long)]
    pub last: bool,
    /// Keep printing new events as they are appended (whole log only).
    #[arg(long, short)]
    pub follow: bool,
    /// One JSON object per line instead of the compact text form.
    #[arg(long)]
    pub json: bool,
}

/// Prints the selected events.
pub async fn run(opts: &StoreOptions, args: EventsArgs) -> Result<ExitCode> {
    let tenant = opts.tenant()?;
    if args.follow && args.stream.is_some() {
        anyhow::bail!("--follow works on the whole log; drop --stream or --follow");
    }
    let store = opts.open_existing().await?;
    let print = |e: &RecordedEvent| {
        if args.json {
            println!("{}", to_json(e));
        } else {
            println!("{}", to_line(e));
        }
    };
    match &args.stream {
        Some(stream) => {
            let events = if args.last {
                let mut v = store
                    .read_stream(
                        tenant.as_str(),
                        stream,
                        u64::MAX,
                        ReadDirection::Backward,
                        args.limit,
                    )
                    .await?;
                v.reverse();
                v
            } else {
                store
                    .read_stream(
                        tenant.as_str(),
                        stream,
                        args.from.max(1),
                        ReadDirection::Forward,
                        args.limit,
                    )
                    .await?
            };
            if events.is_empty()
                && store
                    .stream_version(tenant.as_str(), stream)
                    .await?
                    .is_none()
            {
                anyhow::bail!(
                    "tenant {tenant} has no stream {stream:?}: list all events with `kasane events` to find its name"
                );
            }
            events.iter().for_each(print);
        }
        None => {
            let after = if args.last {
                store
                    .head_position()
                    .await?
                    .saturating_sub(args.limit as u64)
            } else {
                args.from
            };
            let events = store.read_all(after, args.limit).await?;
            events
                .iter()
                .filter(|e| e.tenant == tenant.as_str())
                .for_each(print);
            if args.follow {
                // Poll rather than subscribe: the appends to tail usually come from another
                // process (a running server), whose commits this process is not notified of.
                let mut last = events.last().map_or(after, |e| e.global_position);
                loop {
                    let batch = store.read_all(last, 1000).await?;
                    match batch.last() {
                        Some(e) => last = e.global_position,
                        None => tokio::time::sleep(FOLLOW_POLL).await,
                    }
                    batch
                        .iter()
                        .filter(|e| e.tenant == tenant.as_str())
                        .for_each(print);
                }
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn to_line(e: &RecordedEvent) -> String {
    format!(
        "{:>8}  {}  {} v{:<4} {}  {}",
        e.global_position,
        e.recorded_at.format("%Y-%m-%dT%H:%M:%SZ"),
        e.stream,
        e.stream_version,
        e.event_type,
        serde_json::to_string(&e.payload).unwrap_or_default()
    )
}

fn to_json(e: &RecordedEvent) -> serde_json::Value {
    serde_json::json!({
        "global_position": e.global_position,
        "event_id": e.event_id,
        "tenant": e.tenant,
        "stream": e.stream,
        "stream_version": e.stream_version,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "actor": e.actor.map(|a| serde_json::json!({"member": a.member, "agency": a.agency})),
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "payload": e.payload,
        "prev_hash": hex::encode(e.prev_hash),
        "hash": hex::encode(e.hash),
    })
}
