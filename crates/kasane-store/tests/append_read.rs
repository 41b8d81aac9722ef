//! Appending and reading back: envelopes, sealing, expected versions, idempotency, order,
//! persistence.

mod common;

use common::*;
use kasane_store::{
    CHAIN_GENESIS, EventStore, ExpectedVersion, ReadDirection, StoreError, compute_hash,
};
use serde_json::json;

#[tokio::test]
async fn append_then_read_back_every_field() {
    let t = TestDir::new();
    let store = t.open().await;
    let e1 = personal_event("resident-1", "初回訪問の記録");
    let mut e2 = event("TeamChanged", json!({"member": "m1", "role": "lead"}));
    e2.schema_version = 3;
    e2.correlation_id = e1.correlation_id;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = store
        .append(
            TENANT,
            "resident-1",
            ExpectedVersion::NoStream,
            vec![e1.clone(), e2.clone()],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.first_position, r.last_position, r.stream_version),
        (1, 2, 2)
    );
    assert!(!r.replayed);
    assert!(r.recorded_at >= before && r.recorded_at <= chrono::Utc::now());

    let read = store
        .read_stream(TENANT, "resident-1", 1, ReadDirection::Forward, 10)
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    for (i, (got, sent)) in read.iter().zip([&e1, &e2]).enumerate() {
        assert_eq!(got.event_id, sent.event_id);
        assert_eq!(got.tenant, TENANT);
        assert_eq!(got.stream, "resident-1");
        assert_eq!(got.stream_version, i as u64 + 1);
        assert_eq!(got.global_position, i as u64 + 1);
        assert_eq!(got.event_type, sent.event_type);
        assert_eq!(got.schema_version, sent.schema_version);
        assert_eq!(got.occurred_at, sent.occurred_at);
        assert_eq!(got.recorded_at, r.recorded_at);
        assert_eq!(got.actor, sent.actor);
        assert_eq!(got.correlation_id, sent.correlation_id);
        assert_eq!(got.causation_id, sent.causation_id);
        assert_eq!(got.data_subject, sent.data_subject);
        assert_eq!(got.payload, sent.payload);
    }
    assert_eq!(read[0].prev_hash, CHAIN_GENESIS);
    assert_eq!(read[1].prev_hash, read[0].hash);

    // The stored form carries the same hash, recomputable from the stored fields.
    let stored = store.read_all_stored(0, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].hash, read[0].hash);
    assert_eq!(compute_hash(&stored[0]), stored[0].hash);
    assert_eq!(compute_hash(&stored[1]), stored[1].hash);
    assert_eq!(
        stored[0].payload,
        r#"{"body":{"$sealed":0},"categories":["health"],"category":"訪問"}"#
    );
    assert!(stored[0].sealed.as_ref().unwrap().len() > 24 + 16);
    assert!(stored[1].sealed.is_none());

    assert_eq!(
        store.stream_version(TENANT, "resident-1").await.unwrap(),
        Some(2)
    );
    assert_eq!(store.stream_version(TENANT, "nobody").await.unwrap(), None);
    assert_eq!(store.head_position().await.unwrap(), 2);
}

#[tokio::test]
async fn personal_values_round_trip_and_never_reach_the_file_in_plaintext() {
    let t = TestDir::new();
    let store = t.open().await;
    let public_marker = "公開されている分類名";
    let mut e = personal_event("resident-9", SECRET_NAME);
    e.payload = json!({
        "label": public_marker,
        "body": {"$personal": SECRET_NAME},
        "nested": [{"phone": {"$personal": {"number": "090-1234-5678", "note": SECRET_NAME}}}]
    });
    store
        .append(TENANT, "resident-9", ExpectedVersion::Any, vec![e.clone()])
        .await
        .unwrap();
    let back = store.read_all(0, 10).await.unwrap();
    assert_eq!(back[0].payload, e.payload);

    // Both while open (WAL) and after close (checkpointed into the main file).
    for phase in ["open", "closed"] {
        if phase == "closed" {
            store.close().await;
        }
        let bytes = all_file_bytes(&t.path());
        assert!(
            contains(&bytes, public_marker.as_bytes()),
            "{phase}: the public marker must be found, or this check proves nothing"
        );
        assert!(
            !contains(&bytes, SECRET_NAME.as_bytes()),
            "{phase}: plaintext leaked"
        );
        assert!(
            !contains(&bytes, b"090-1234-5678"),
            "{phase}: plaintext leaked"
        );
    }
}

#[tokio::test]
async fn each_expected_version_case() {
    let t = TestDir::new();
    let store = t.open().await;
    let s = "resident-ev";
    let append = |expected| {
        let store = store.clone();
        async move {
            store
                .append(TENANT, s, expected, vec![event("E", json!({}))])
                .await
        }
    };

    // Exists on a missing stream, Exact on a missing stream.
    let e = append(ExpectedVersion::Exists).await.unwrap_err();
    assert!(
        matches!(e, StoreError::VersionConflict { actual: None, .. }),
        "{e}"
    );
    let e = append(ExpectedVersion::Exact(1)).await.unwrap_err();
    assert!(matches!(
        e,
        StoreError::VersionConflict { actual: None, .. }
    ));

    assert_eq!(
        append(ExpectedVersion::NoStream)
            .await
            .unwrap()
            .stream_version,
        1
    );
    let e = append(ExpectedVersion::NoStream).await.unwrap_err();
    assert_eq!(e.code(), "VERSION_CONFLICT");
    assert!(matches!(
        e,
        StoreError::VersionConflict {
            actual: Some(1),
            expected: ExpectedVersion::NoStream,
            ..
        }
    ));
    assert_eq!(
        append(ExpectedVersion::Exists)
            .await
            .unwrap()
            .stream_version,
        2
    );
    assert_eq!(
        append(ExpectedVersion::Exact(2))
            .await
            .unwrap()
            .stream_version,
        3
    );
    assert_eq!(
        append(ExpectedVersion::Any).await.unwrap().stream_version,
        4
    );

    let e = append(ExpectedVersion::Exact(2)).await.unwrap_err();
    match &e {
        StoreError::VersionConflict {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, s);
            assert_eq!(*expected, ExpectedVersion::Exact(2));
            assert_eq!(*actual, Some(4));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(
        e.to_string().contains("retry with the current version 4"),
        "{e}"
    );
    // Nothing was written by the failures.
    assert_eq!(store.head_position().await.unwrap(), 4);
    assert_eq!(store.stream_version(TENANT, s).await.unwrap(), Some(4));
}

#[tokio::test]
async fn idempotent_retry_returns_the_original_result_and_writes_nothing() {
    let t = TestDir::new();
    let store = t.open().await;
    let batch = vec![personal_event("r1", "a"), personal_event("r1", "b")];
    let first = store
        .append(
            TENANT,
            "resident-r1",
            ExpectedVersion::NoStream,
            batch.clone(),
        )
        .await
        .unwrap();
    store
        .append(
            TENANT,
            "other",
            ExpectedVersion::Any,
            vec![event("X", json!({}))],
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // Same expected version, then a stale one, then Any: all replay the original.
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(7),
        ExpectedVersion::Any,
    ] {
        let again = store
            .append(TENANT, "resident-r1", expected, batch.clone())
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.first_position, first.first_position);
        assert_eq!(again.last_position, first.last_position);
        assert_eq!(again.stream_version, first.stream_version);
        assert_eq!(again.recorded_at, first.recorded_at);
    }
    assert_eq!(store.head_position().await.unwrap(), 3);
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 3);
    assert_eq!(
        store.stream_version(TENANT, "resident-r1").await.unwrap(),
        Some(2)
    );
}

#[tokio::test]
async fn identical_appends_racing_in_one_group_store_once() {
    let t = TestDir::new();
    let store = t.open().await;
    let batch = vec![event("E", json!({"n": 1}))];
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let batch = batch.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(TENANT, "s", ExpectedVersion::NoStream, batch)
                .await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    assert!(
        results
            .iter()
            .all(|r| r.first_position == 1 && r.stream_version == 1)
    );
    assert_eq!(store.head_position().await.unwrap(), 1);
}

#[tokio::test]
async fn same_id_with_other_content_is_a_duplicate_and_writes_nothing() {
    let t = TestDir::new();
    let store = t.open().await;
    let e = personal_event("r1", "original");
    store
        .append(TENANT, "resident-r1", ExpectedVersion::Any, vec![e.clone()])
        .await
        .unwrap();

    let mut changed = e.clone();
    changed.payload = json!({"body": {"$personal": "changed"}});
    let err = store
        .append(TENANT, "resident-r1", ExpectedVersion::Any, vec![changed])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_EVENT_ID");
    assert!(matches!(err, StoreError::DuplicateEventId { event_id } if event_id == e.event_id));

    // Same content to another stream is different content too.
    let err = store
        .append(TENANT, "resident-r2", ExpectedVersion::Any, vec![e.clone()])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_EVENT_ID");

    // A batch of which only a part exists.
    let fresh = event("E", json!({}));
    let err = store
        .append(
            TENANT,
            "resident-r1",
            ExpectedVersion::Any,
            vec![e.clone(), fresh.clone()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_EVENT_ID");
    let err = store
        .append(
            TENANT,
            "resident-r1",
            ExpectedVersion::Exact(0),
            vec![fresh, e],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_EVENT_ID");

    assert_eq!(store.head_position().await.unwrap(), 1);
    assert_eq!(
        store.stream_version(TENANT, "resident-r2").await.unwrap(),
        None
    );
    let all = store.read_all(0, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].payload,
        json!({"category": "訪問", "body": {"$personal": "original"}, "categories": ["health"]})
    );
}

#[tokio::test]
async fn invalid_requests_are_rejected() {
    let t = TestDir::new();
    let store = t.open().await;
    let no_subject = event("E", json!({"name": {"$personal": "x"}}));
    for (tenant, stream, events) in [
        (TENANT, "s", vec![]),
        ("", "s", vec![event("E", json!({}))]),
        (TENANT, "", vec![event("E", json!({}))]),
        (TENANT, "s", vec![no_subject]),
    ] {
        let err = store
            .append(tenant, stream, ExpectedVersion::Any, events)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_EVENT", "{err}");
    }
    assert_eq!(store.head_position().await.unwrap(), 0);
}

#[tokio::test]
async fn global_order_and_stream_reads_in_both_directions() {
    let t = TestDir::new();
    let store = t.open().await;
    let mut expected_order = Vec::new();
    for round in 0..5 {
        for (tenant, stream) in [(TENANT, "a"), ("tenant-b", "a"), (TENANT, "b")] {
            let e = event(
                "E",
                json!({"round": round, "stream": stream, "tenant": tenant}),
            );
            expected_order.push(e.event_id);
            store
                .append(tenant, stream, ExpectedVersion::Any, vec![e])
                .await
                .unwrap();
        }
    }
    let all = store.read_all(0, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        expected_order
    );
    assert!(
        all.windows(2)
            .all(|w| w[1].global_position == w[0].global_position + 1)
    );
    let page = store.read_all(10, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![11, 12, 13]
    );
    assert!(store.read_all(15, 10).await.unwrap().is_empty());

    // Tenants are separate: the same stream name in two tenants are two streams.
    let a = store
        .read_stream(TENANT, "a", 1, ReadDirection::Forward, 100)
        .await
        .unwrap();
    assert_eq!(
        a.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert!(a.iter().all(|e| e.tenant == TENANT));
    let fwd = store
        .read_stream(TENANT, "a", 3, ReadDirection::Forward, 2)
        .await
        .unwrap();
    assert_eq!(
        fwd.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![3, 4]
    );
    let back = store
        .read_stream(TENANT, "a", u64::MAX, ReadDirection::Backward, 2)
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![5, 4]
    );
    let back = store
        .read_stream(TENANT, "a", 2, ReadDirection::Backward, 10)
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![2, 1]
    );
}

#[tokio::test]
async fn recorded_at_never_goes_backwards() {
    let t = TestDir::new();
    let store = t.open().await;
    let mut last = None;
    for i in 0..20 {
        let r = store
            .append(
                TENANT,
                "s",
                ExpectedVersion::Any,
                vec![event("E", json!({"i": i}))],
            )
            .await
            .unwrap();
        if let Some(prev) = last {
            assert!(r.recorded_at >= prev);
        }
        last = Some(r.recorded_at);
    }
}

#[tokio::test]
async fn recorded_at_comes_from_the_configured_clock_and_never_goes_backwards() {
    use chrono::TimeZone;
    use kasane_store::{ManualClock, SqliteStore};
    use std::sync::Arc;
    let t = TestDir::new();
    let at = |d| chrono::Utc.with_ymd_and_hms(2025, 5, d, 10, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(at(10)));
    let mut config = t.config();
    config.clock = clock.clone();
    let store = SqliteStore::open(config.clone()).await.unwrap();
    let one = vec![event("E", json!({}))];
    let r = store
        .append(TENANT, "s", ExpectedVersion::Any, one)
        .await
        .unwrap();
    assert_eq!(r.recorded_at, at(10));
    clock.set(at(12));
    let r = store
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(r.recorded_at, at(12));
    clock.set(at(11)); // the clock jumps back: recorded_at stays at the last value
    let r = store
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(r.recorded_at, at(12));
    store.close().await;
    // Also across a reopen.
    let store = SqliteStore::open(config).await.unwrap();
    let r = store
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await
        .unwrap();
    assert_eq!(r.recorded_at, at(12));
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let t = TestDir::new();
    let store = t.open().await;
    let e = personal_event("resident-p", SECRET_NAME);
    let r = store
        .append(
            TENANT,
            "resident-p",
            ExpectedVersion::NoStream,
            vec![e.clone()],
        )
        .await
        .unwrap();
    let before = store.read_all(0, 10).await.unwrap();
    store.close().await;
    // Closed means closed, through every handle.
    let err = store
        .append(
            TENANT,
            "x",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await;
    assert_eq!(err.unwrap_err().code(), "STORE_CLOSED");
    assert_eq!(
        store.read_all(0, 1).await.unwrap_err().code(),
        "STORE_CLOSED"
    );

    let store = t.open().await;
    assert_eq!(store.head_position().await.unwrap(), 1);
    assert_eq!(store.read_all(0, 10).await.unwrap(), before);
    assert_eq!(
        store.stream_version(TENANT, "resident-p").await.unwrap(),
        Some(1)
    );
    // Idempotency and chaining continue across the reopen.
    let again = store
        .append(TENANT, "resident-p", ExpectedVersion::Any, vec![e])
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.recorded_at, r.recorded_at);
    let next = store
        .append(
            TENANT,
            "resident-p",
            ExpectedVersion::Exact(1),
            vec![personal_event("resident-p", "次")],
        )
        .await
        .unwrap();
    assert_eq!((next.first_position, next.stream_version), (2, 2));
    let read = store
        .read_stream(TENANT, "resident-p", 2, ReadDirection::Forward, 1)
        .await
        .unwrap();
    assert_eq!(read[0].prev_hash, before[0].hash);
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}
