//! Concurrent appends (group commit isolation) and subscriptions under concurrent writes.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use kasane_store::{EventStore, ExpectedVersion, StoreError, SubscriptionItem};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_with_the_same_exact_version_have_one_winner() {
    let t = TestDir::new();
    let store = t.open().await;
    store
        .append(
            TENANT,
            "resident-x",
            ExpectedVersion::NoStream,
            vec![event("Registered", json!({}))],
        )
        .await
        .unwrap();

    let mut version = 1;
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let contested = store.append(
                    TENANT,
                    "resident-x",
                    ExpectedVersion::Exact(version),
                    vec![
                        event("Decided", json!({"by": i})),
                        event("Decided2", json!({"by": i})),
                    ],
                );
                // Each racer also writes to its own stream in the same commit groups; the
                // losers' rollbacks must never touch these.
                let own_stream = format!("own-{round}-{i}");
                let own = store.append(
                    TENANT,
                    &own_stream,
                    ExpectedVersion::NoStream,
                    vec![event("Own", json!({}))],
                );
                tokio::join!(contested, own)
            }));
        }
        let mut winners = 0;
        for task in tasks {
            let (contested, own) = task.await.unwrap();
            assert_eq!(own.unwrap().stream_version, 1);
            match contested {
                Ok(r) => {
                    winners += 1;
                    assert_eq!(r.stream_version, version + 2);
                    assert_eq!(r.last_position, r.first_position + 1);
                }
                Err(StoreError::VersionConflict {
                    actual, expected, ..
                }) => {
                    assert_eq!(actual, Some(version + 2));
                    assert_eq!(expected, ExpectedVersion::Exact(version));
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
        version += 2;
        assert_eq!(
            store.stream_version(TENANT, "resident-x").await.unwrap(),
            Some(version)
        );
        for i in 0..16 {
            let own = store
                .stream_version(TENANT, &format!("own-{round}-{i}"))
                .await
                .unwrap();
            assert_eq!(own, Some(1));
        }
    }
    // 1 + 5 rounds x 2 contested events + 5 x 16 own events, contiguous positions.
    let head = store.head_position().await.unwrap();
    assert_eq!(head, 1 + 10 + 80);
    assert_eq!(store.read_all(0, 1000).await.unwrap().len() as u64, head);
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_catches_up_then_follows_live_appends_without_gap_or_duplicate() {
    let t = TestDir::new();
    let store = t.open().await;
    // Some history before the subscription starts.
    for i in 0..120 {
        store
            .append(
                TENANT,
                &format!("s{}", i % 7),
                ExpectedVersion::Any,
                vec![event("Old", json!({"i": i}))],
            )
            .await
            .unwrap();
    }

    // Writers run while the subscriber catches up; the second half of their appends waits
    // until it has caught up, so both phases certainly see concurrent appends.
    let (caught_up_tx, caught_up_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        let mut caught_up_rx = caught_up_rx.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..60 {
                if i == 30 {
                    let caught_up = caught_up_rx.wait_for(|c| *c);
                    tokio::time::timeout(Duration::from_secs(20), caught_up)
                        .await
                        .expect("the subscriber never caught up")
                        .unwrap();
                }
                let size = 1 + (i % 3);
                let events: Vec<_> = (0..size)
                    .map(|_| event("New", json!({"w": w, "i": i})))
                    .collect();
                let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
                let r = store
                    .append(
                        TENANT,
                        &format!("w{w}-{}", i % 4),
                        ExpectedVersion::Any,
                        events,
                    )
                    .await
                    .unwrap();
                assert_eq!(r.last_position - r.first_position + 1, size as u64);
                acked.extend(ids.into_iter().zip(r.first_position..=r.last_position));
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    let mut sub = store.subscribe_all(0).await.unwrap();

    let collector = tokio::spawn(async move {
        let mut positions = Vec::new();
        let mut ids = Vec::new();
        let mut caught_up = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
                Ok(Ok(SubscriptionItem::Event(e))) => {
                    positions.push(e.global_position);
                    assert!(
                        positions.len() <= 2000,
                        "more events than were ever appended"
                    );
                    ids.push((e.event_id, e.global_position));
                    if e.event_type == "Stop" {
                        break;
                    }
                }
                Ok(Ok(SubscriptionItem::CaughtUp { position })) => {
                    caught_up.push((position, positions.len()));
                    caught_up_tx.send_replace(true);
                }
                Ok(Err(e)) => panic!("subscription failed: {e}"),
                Err(_) => panic!("subscription stalled after {:?}", positions.last()),
            }
        }
        (positions, ids, caught_up)
    });

    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    let stop = store
        .append(
            TENANT,
            "control",
            ExpectedVersion::Any,
            vec![event("Stop", json!({}))],
        )
        .await
        .unwrap();
    let (positions, ids, caught_up) = collector.await.unwrap();

    assert_eq!(
        caught_up.len(),
        1,
        "CaughtUp must come exactly once: {caught_up:?}"
    );
    let (cu_position, delivered_before) = caught_up[0];
    assert_eq!(
        cu_position,
        positions[delivered_before - 1],
        "CaughtUp names the last delivered position"
    );
    assert!(cu_position >= 120);
    assert!(
        stop.last_position - cu_position >= 8 * 30,
        "at least the second half of the appends is delivered live"
    );
    let expected: Vec<u64> = (1..=stop.last_position).collect();
    assert_eq!(
        positions, expected,
        "positions must be 1, 2, 3, ... without gap or duplicate"
    );
    let delivered: HashSet<_> = ids.into_iter().collect();
    for pair in &acked {
        assert!(
            delivered.contains(pair),
            "acknowledged event {pair:?} was not delivered"
        );
    }
    assert_eq!(acked.len(), 8 * (20 + 20 * 2 + 20 * 3));
}

#[tokio::test]
async fn subscription_from_a_position_and_close() {
    let t = TestDir::new();
    let store = t.open().await;
    for i in 0..5 {
        store
            .append(
                TENANT,
                "s",
                ExpectedVersion::Any,
                vec![event("E", json!({"i": i}))],
            )
            .await
            .unwrap();
    }
    let mut sub = store.subscribe_all(3).await.unwrap();
    let mut got = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
        match item.expect("the subscription must catch up").unwrap() {
            SubscriptionItem::Event(e) => {
                got.push(e.global_position);
                assert!(got.len() <= 2, "only events 4 and 5 exist: {got:?}");
            }
            SubscriptionItem::CaughtUp { position } => {
                assert_eq!(position, 5);
                break;
            }
        }
    }
    assert_eq!(got, vec![4, 5]);
    assert_eq!(sub.position(), 5);

    // An empty store catches up at once.
    let t2 = TestDir::new();
    let empty = t2.open().await;
    let mut sub2 = empty.subscribe_all(0).await.unwrap();
    assert_eq!(
        sub2.next().await.unwrap(),
        SubscriptionItem::CaughtUp { position: 0 }
    );
    let live = tokio::spawn(async move { sub2.next().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    empty
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![event("Live", json!({}))],
        )
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), live)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        SubscriptionItem::Event(e) => {
            assert_eq!((e.global_position, e.event_type.as_str()), (1, "Live"))
        }
        other => panic!("expected the live event, got {other:?}"),
    }

    // After close, a waiting subscription ends with STORE_CLOSED.
    let mut sub3 = store.subscribe_all(5).await.unwrap();
    assert!(matches!(
        sub3.next().await.unwrap(),
        SubscriptionItem::CaughtUp { .. }
    ));
    store.close().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), sub3.next())
        .await
        .unwrap();
    assert_eq!(ended.unwrap_err().code(), "STORE_CLOSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_counts_add_up_and_concurrent_appends_share_commits() {
    let t = TestDir::new();
    let store = t.open().await;
    let before = store
        .commit_counts()
        .expect("the SQLite store counts commits");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(
                    TENANT,
                    &format!("counted-{i}"),
                    ExpectedVersion::NoStream,
                    vec![event("A", json!({})), event("B", json!({}))],
                )
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = store.commit_counts().unwrap();
    assert_eq!(after.appends - before.appends, 64);
    assert_eq!(after.events - before.events, 128);
    let commits = after.commits - before.commits;
    assert!((1..=64).contains(&commits), "{commits} commits");
}
