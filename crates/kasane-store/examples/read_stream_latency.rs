//! Latency of `read_stream` (the newest 20 events of each of 400 resident streams, three
//! rounds) on an existing store, such as `kasane bench replay --dir DIR`'s dataset:
//!
//! ```text
//! cargo run --release -p kasane-store --example read_stream_latency -- DIR [TENANT]
//! ```
//!
//! `DIR` holds `kasane.db` and `master.key`. Recorded in `docs/performance.md`.

use std::time::Instant;

use kasane_store::{EventStore, MasterKey, ReadDirection, SqliteConfig, SqliteStore};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("give the dataset directory")?);
    let tenant = args.next().unwrap_or_else(|| "kasane-city".into());
    let key = MasterKey::from_hex(std::fs::read_to_string(dir.join("master.key"))?.trim())?;
    let store = SqliteStore::open(SqliteConfig::new(dir.join("kasane.db"), key)).await?;
    let streams: Vec<String> = rusqlite::Connection::open(dir.join("kasane.db"))?
        .prepare(
            "SELECT stream FROM streams WHERE tenant = ?1 AND stream LIKE 'resident-%' \
             ORDER BY stream_id LIMIT 400",
        )?
        .query_map([&tenant], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for round in 0..3 {
        let started = Instant::now();
        let (mut events, mut millis) = (0, Vec::with_capacity(streams.len()));
        for stream in &streams {
            let one = Instant::now();
            let read = store
                .read_stream(&tenant, stream, u64::MAX, ReadDirection::Backward, 20)
                .await?;
            millis.push(one.elapsed().as_secs_f64() * 1000.0);
            events += read.len();
        }
        millis.sort_by(f64::total_cmp);
        println!(
            "round {round}: {} reads, {events} events, {:.1} ms in all, p50 {:.3} ms, p99 {:.3} ms",
            streams.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            millis[millis.len() / 2],
            millis[millis.len() * 99 / 100],
        );
    }
    store.close().await;
    Ok(())
}
