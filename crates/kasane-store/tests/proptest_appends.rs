//! Property: whatever mix of concurrent appends happens, the log stays well formed and
//! every acknowledged event is readable where its acknowledgement said.

mod common;

use std::collections::HashMap;

use common::*;
use kasane_store::{EventStore, ExpectedVersion, ReadDirection, StoreError};
use proptest::prelude::*;
use serde_json::json;

#[derive(Clone, Debug)]
struct Op {
    stream: u8,
    batch: usize,
    exact: bool,
    personal: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (0u8..4, 1usize..5, any::<bool>(), any::<bool>()).prop_map(
        |(stream, batch, exact, personal)| Op {
            stream,
            batch,
            exact,
            personal,
        },
    )
}

/// Every stream read whole, forward in pages of `page` and backward, equals the log's events
/// of that stream in order.
async fn streams_read_back(
    store: &kasane_store::SqliteStore,
    all: &[kasane_store::RecordedEvent],
    page: usize,
) -> Result<(), TestCaseError> {
    let mut by_stream: HashMap<&str, Vec<uuid::Uuid>> = HashMap::new();
    for e in all {
        by_stream
            .entry(e.stream.as_str())
            .or_default()
            .push(e.event_id);
    }
    for (stream, ids) in &by_stream {
        let forward: Vec<_> = read_forward_in_pages(store, stream, page)
            .await
            .iter()
            .map(|e| e.event_id)
            .collect();
        prop_assert_eq!(&forward, ids, "forward read of {}", stream);
        let mut backward: Vec<_> = store
            .read_stream(
                TENANT,
                stream,
                u64::MAX,
                ReadDirection::Backward,
                ids.len() + 1,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        backward.reverse();
        prop_assert_eq!(&backward, ids, "backward read of {}", stream);
    }
    Ok(())
}

fn run_case(tasks: Vec<Vec<Op>>, index_every: usize) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let t = TestDir::new();
        let mut config = t.config();
        // Small batches put the stream index's boundary in the middle of most streams.
        config.stream_index_every = index_every;
        let store = kasane_store::SqliteStore::open(config.clone())
            .await
            .unwrap();
        let mut handles = Vec::new();
        for (task_no, ops) in tasks.into_iter().enumerate() {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for (op_no, op) in ops.into_iter().enumerate() {
                    let stream = format!("stream-{}", op.stream);
                    let expected = if op.exact {
                        ExpectedVersion::Exact(
                            store
                                .stream_version(TENANT, &stream)
                                .await
                                .unwrap()
                                .unwrap_or(0),
                        )
                    } else {
                        ExpectedVersion::Any
                    };
                    let events: Vec<_> = (0..op.batch)
                        .map(|k| {
                            if op.personal {
                                personal_event(&stream, &format!("{task_no}/{op_no}/{k}"))
                            } else {
                                event("E", json!({"task": task_no, "op": op_no, "k": k}))
                            }
                        })
                        .collect();
                    match store
                        .append(TENANT, &stream, expected, events.clone())
                        .await
                    {
                        Ok(r) => acked.push((stream, events, r)),
                        Err(StoreError::VersionConflict { .. }) if op.exact => {}
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                acked
            }));
        }
        let mut acked = Vec::new();
        for h in handles {
            acked.extend(h.await.unwrap());
        }

        let all = store.read_all(0, 100_000).await.unwrap();
        let total: usize = acked.iter().map(|(_, events, _)| events.len()).sum();
        prop_assert_eq!(
            all.len(),
            total,
            "every stored event was acknowledged and vice versa"
        );
        for (i, e) in all.iter().enumerate() {
            prop_assert_eq!(
                e.global_position,
                i as u64 + 1,
                "positions strictly increase without gaps"
            );
        }
        let mut versions: HashMap<&str, u64> = HashMap::new();
        for e in &all {
            let v = versions.entry(e.stream.as_str()).or_insert(0);
            *v += 1;
            prop_assert_eq!(
                e.stream_version,
                *v,
                "versions contiguous from 1 in {}",
                e.stream
            );
        }
        for (stream, events, r) in &acked {
            prop_assert_eq!(r.last_position - r.first_position + 1, events.len() as u64);
            let read = store
                .read_stream(
                    TENANT,
                    stream,
                    r.stream_version + 1 - events.len() as u64,
                    ReadDirection::Forward,
                    events.len(),
                )
                .await
                .unwrap();
            prop_assert_eq!(read.len(), events.len());
            for (k, (got, sent)) in read.iter().zip(events).enumerate() {
                prop_assert_eq!(got.event_id, sent.event_id);
                prop_assert_eq!(&got.payload, &sent.payload);
                prop_assert_eq!(got.global_position, r.first_position + k as u64);
                prop_assert_eq!(got.recorded_at, r.recorded_at);
            }
        }
        for (stream, v) in &versions {
            prop_assert_eq!(
                store.stream_version(TENANT, stream).await.unwrap(),
                Some(*v)
            );
        }
        let report = store.verify(&|_| {}).await.unwrap();
        prop_assert!(report.is_ok(), "{:?}", report);
        prop_assert_eq!(report.events_checked, total as u64);
        streams_read_back(&store, &all, 3).await?;
        store.close().await;

        // Reopened, the writer reloads the unindexed tail; reads and verify still agree.
        let store = kasane_store::SqliteStore::open(config).await.unwrap();
        streams_read_back(&store, &all, 2).await?;
        let report = store.verify(&|_| {}).await.unwrap();
        prop_assert!(report.is_ok(), "{:?}", report);
        store.close().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn concurrent_appends_keep_the_log_well_formed(
        tasks in prop::collection::vec(prop::collection::vec(op(), 1..12), 2..6),
        index_every in 1usize..12,
    ) {
        run_case(tasks, index_every)?;
    }
}
