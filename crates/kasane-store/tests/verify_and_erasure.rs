//! Tamper verification and crypto-shredding.

mod common;

use common::*;
use kasane_store::{EventStore, ExpectedVersion, ReadDirection, SqliteStore};
use serde_json::json;

async fn populated(t: &TestDir) -> SqliteStore {
    let store = t.open().await;
    for i in 0..4 {
        for s in ["resident-a", "resident-b"] {
            let mut e = personal_event(s, &format!("{SECRET_NAME} {i}"));
            e.payload["category"] = json!("visit");
            store
                .append(TENANT, s, ExpectedVersion::Any, vec![e])
                .await
                .unwrap();
        }
    }
    store
}

#[tokio::test]
async fn an_untouched_log_verifies_with_progress() {
    let t = TestDir::new();
    let store = populated(&t).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let report = store
        .verify(&|n| seen.lock().unwrap().push(n))
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events_checked, 8);
    assert_eq!(report.streams_checked, 2);
    assert_eq!(seen.lock().unwrap().last(), Some(&8));
}

#[tokio::test]
async fn a_payload_changed_by_hand_is_reported_with_its_position() {
    let t = TestDir::new();
    let store = populated(&t).await;
    let victim = store.read_all(4, 1).await.unwrap().remove(0);
    assert_eq!(victim.global_position, 5);
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        let changed = conn
            .execute(
                "UPDATE events SET payload = replace(payload, 'visit', 'visiX') WHERE position = 5",
                [],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }
    let report = store.verify(&|_| {}).await.unwrap();
    let problem = report.first_problem.expect("tampering must be found");
    assert_eq!(problem.global_position, 5);
    assert_eq!(problem.event_id, victim.event_id);
    assert_eq!(problem.stream, victim.stream);
    assert_eq!(problem.stream_version, victim.stream_version);
    assert!(problem.reason.contains("modified"), "{}", problem.reason);
    assert_eq!(report.events_checked, 5);
}

#[tokio::test]
async fn a_rewritten_chain_or_a_stale_index_is_reported() {
    // Recomputing the row's hash is not enough: the next event's prev_hash no longer matches.
    let t = TestDir::new();
    let store = populated(&t).await;
    let mut stored = store.read_all_stored(0, 100).await.unwrap();
    let victim = &mut stored[2]; // resident-a version 2
    victim.payload = victim.payload.replace("visit", "forged");
    let new_hash = kasane_store::compute_hash(victim);
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute(
            "UPDATE events SET payload = ?1, hash = ?2 WHERE position = 3",
            rusqlite::params![victim.payload, new_hash],
        )
        .unwrap();
    }
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.global_position, 5, "{problem:?}");
    assert!(problem.reason.contains("prev_hash"), "{}", problem.reason);

    let t = TestDir::new();
    let store = populated(&t).await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute("DELETE FROM streams WHERE stream = 'resident-b'", [])
            .unwrap();
    }
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.stream, "resident-b");
    assert_eq!(problem.global_position, 8);
    assert!(
        problem.reason.contains("stream index"),
        "{}",
        problem.reason
    );

    let t = TestDir::new();
    let store = populated(&t).await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute("DELETE FROM events WHERE position = 4", [])
            .unwrap();
    }
    // Positions have no gaps: the next event already shows the loss.
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.global_position, 5, "{problem:?}");
    assert!(problem.reason.contains("missing"), "{}", problem.reason);

    // A stream's last event gone (resident-a's, not the log's last): no later event of that
    // stream and no stream index row names it; only the gap in positions does.
    let t = TestDir::new();
    let store = populated(&t).await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute("DELETE FROM events WHERE position = 7", [])
            .unwrap();
    }
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.global_position, 8, "{problem:?}");
    assert!(problem.reason.contains("follows 6"), "{}", problem.reason);

    // An event moved to another stream's id would vanish from reads of its own stream.
    let t = TestDir::new();
    let store = populated(&t).await;
    let before = store
        .read_stream(TENANT, "resident-a", 1, ReadDirection::Forward, 10)
        .await
        .unwrap();
    assert_eq!(before.len(), 4);
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute(
            "UPDATE events SET stream_id = stream_id + 100 WHERE position = 3",
            [],
        )
        .unwrap();
    }
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.global_position, 3, "{problem:?}");
    assert!(problem.reason.contains("stream id"), "{}", problem.reason);
}

#[tokio::test]
async fn destroying_a_data_key_erases_only_that_subject_and_verify_still_passes() {
    let t = TestDir::new();
    let store = populated(&t).await;
    // Warm the reader's key cache, so destruction must also invalidate cached keys.
    let before = store.read_all(0, 100).await.unwrap();
    assert_eq!(
        before[0].payload["body"]["$personal"],
        format!("{SECRET_NAME} 0")
    );

    assert!(store.destroy_data_key(TENANT, "resident-a").await.unwrap());
    assert!(!store.destroy_data_key(TENANT, "resident-a").await.unwrap());

    let a = store
        .read_stream(TENANT, "resident-a", 1, ReadDirection::Forward, 100)
        .await
        .unwrap();
    assert_eq!(a.len(), 4);
    for e in &a {
        assert_eq!(e.payload["body"], json!({"$erased": true}));
        assert_eq!(
            e.payload["category"], "visit",
            "public values stay readable"
        );
    }
    let b = store
        .read_stream(TENANT, "resident-b", 1, ReadDirection::Forward, 100)
        .await
        .unwrap();
    assert_eq!(
        b[3].payload["body"]["$personal"],
        format!("{SECRET_NAME} 3")
    );

    let report = store.verify(&|_| {}).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events_checked, 8);

    // New personal data for an erased subject is refused; public-only events are fine.
    let err = store
        .append(
            TENANT,
            "resident-a",
            ExpectedVersion::Any,
            vec![personal_event("resident-a", "x")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DATA_KEY_DESTROYED", "{err}");
    let mut public = event("CaseClosed", json!({"reason": "moved"}));
    public.data_subject = Some("resident-a".into());
    store
        .append(
            TENANT,
            "resident-a",
            ExpectedVersion::Exact(4),
            vec![public],
        )
        .await
        .unwrap();

    // The key is gone from the file, and erasure survives a reopen.
    store.close().await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        let (wrapped, destroyed_at): (Option<Vec<u8>>, Option<i64>) = conn
            .query_row(
                "SELECT wrapped, destroyed_at FROM data_keys WHERE subject = 'resident-a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(wrapped.is_none());
        assert!(destroyed_at.is_some());
    }
    let store = t.open().await;
    let a = store
        .read_stream(TENANT, "resident-a", 1, ReadDirection::Forward, 1)
        .await
        .unwrap();
    assert_eq!(a[0].payload["body"], json!({"$erased": true}));
    assert!(store.verify(&|_| {}).await.unwrap().is_ok());
}

#[tokio::test]
async fn a_tampered_ciphertext_is_reported_as_corrupt_on_read() {
    let t = TestDir::new();
    let store = populated(&t).await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        let sealed: Vec<u8> = conn
            .query_row("SELECT sealed FROM events WHERE position = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        conn.execute("UPDATE events SET sealed = ?1 WHERE position = 2", [bad])
            .unwrap();
    }
    let err = store.read_all(1, 1).await.unwrap_err();
    assert_eq!(err.code(), "STORE_CORRUPT", "{err}");
    let problem = store.verify(&|_| {}).await.unwrap().first_problem.unwrap();
    assert_eq!(problem.global_position, 2);
}
