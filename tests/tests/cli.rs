//! End-to-end: the real `kasane` binary on a real data directory.

use kasane_e2e::*;
use serde_json::Value;
use std::sync::OnceLock;
use tempfile::TempDir;

const END: &str = "2026-10-31T15:00:00Z";

/// One small demo town shared by the read-only tests (generation is the slow part).
fn town() -> &'static TempDir {
    static TOWN: OnceLock<TempDir> = OnceLock::new();
    TOWN.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let out = kasane(
            dir.path(),
            &[
                "demo",
                "--residents",
                "30",
                "--months",
                "3",
                "--seed",
                "7",
                "--end",
                END,
            ],
        );
        assert_ok(&out);
        dir
    })
}

fn events_json(dir: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["events", "--json", "--limit", "1000000"];
    args.extend_from_slice(extra);
    let out = kasane(dir, &args);
    assert_ok(&out);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect()
}

#[test]
fn demo_generates_a_town_that_verifies() {
    let dir = town();
    let out = kasane(dir.path(), &["verify", "--json"]);
    assert_ok(&out);
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["ok"], true);
    let events = events_json(dir.path(), &[]);
    assert_eq!(
        report["events_checked"].as_u64().unwrap(),
        events.len() as u64
    );
    assert!(
        events.len() > 1000,
        "a town of 30 residents over 3 months has more than {} events",
        events.len()
    );
    // every kind of fact the product names shows up
    for t in [
        "AgencyRegistered",
        "MemberEnrolled",
        "ResidentRegistered",
        "HouseholdLinked",
        "CareTeamMemberAdded",
        "ConsentGranted",
        "NotePosted",
        "NoteAcknowledged",
        "ReferralMade",
        "SupportMeetingRecorded",
        "AccessRecorded",
    ] {
        assert!(
            events.iter().any(|e| e["event_type"] == t),
            "no {t} in the demo"
        );
    }
    // history is recorded over the months, not all at once, and in order
    let first: chrono::DateTime<chrono::Utc> =
        events[0]["recorded_at"].as_str().unwrap().parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = events.last().unwrap()["recorded_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last - first > chrono::Duration::days(60),
        "recorded from {first} to {last}"
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["recorded_at"].as_str() <= w[1]["recorded_at"].as_str())
    );
}

#[test]
fn japanese_personal_fields_round_trip_and_are_sealed_in_the_log() {
    let dir = town();
    let events = events_json(dir.path(), &[]);
    let registered = events
        .iter()
        .find(|e| e["event_type"] == "ResidentRegistered")
        .unwrap();
    let kana = registered["payload"]["kana"]["$personal"]
        .as_str()
        .expect("kana is readable");
    assert!(
        kana.chars().any(|c| ('\u{30A0}'..='\u{30FF}').contains(&c)),
        "kana {kana:?} is katakana"
    );
    let name = registered["payload"]["name"]["$personal"]
        .as_str()
        .unwrap()
        .to_owned();
    // The log's rows hold only ciphertext for personal values. (The read models in the same
    // file hold plaintext so they can be queried; erasure scrubs them: docs/projections.md.)
    let conn = rusqlite::Connection::open(dir.path().join("kasane.db")).unwrap();
    let mut stmt = conn.prepare("SELECT payload, sealed FROM events").unwrap();
    let rows: Vec<(String, Option<Vec<u8>>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() > 100);
    for (payload, sealed) in rows {
        assert!(
            !payload.contains(&name),
            "the name {name} is in a payload: {payload}"
        );
        let sealed = sealed.unwrap_or_default();
        assert!(
            !sealed.windows(name.len()).any(|w| w == name.as_bytes()),
            "the name {name} is in plaintext in a sealed column"
        );
    }
}

#[test]
fn events_of_one_stream_come_in_version_order() {
    let dir = town();
    let all = events_json(dir.path(), &[]);
    let stream = all
        .iter()
        .find(|e| e["event_type"] == "NotePosted")
        .unwrap()["stream"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = events_json(dir.path(), &["--stream", &stream]);
    assert!(one.len() > 2);
    let versions: Vec<u64> = one
        .iter()
        .map(|e| e["stream_version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=one.len() as u64).collect::<Vec<_>>());
    let missing = kasane(dir.path(), &["events", "--stream", "resident-nope"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no stream"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn the_same_seed_gives_the_same_town() {
    let a = TempDir::new().unwrap();
    let b = TempDir::new().unwrap();
    for dir in [&a, &b] {
        assert_ok(&kasane(
            dir.path(),
            &[
                "demo",
                "--residents",
                "6",
                "--months",
                "2",
                "--seed",
                "11",
                "--end",
                END,
            ],
        ));
    }
    let strip = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .map(|mut e| {
                let o = e.as_object_mut().unwrap();
                // ciphertext differs (fresh data keys and nonces), so do the hashes over it
                o.remove("hash");
                o.remove("prev_hash");
                e
            })
            .collect()
    };
    let ea = strip(events_json(a.path(), &[]));
    let eb = strip(events_json(b.path(), &[]));
    assert_eq!(ea.len(), eb.len());
    assert!(ea == eb, "two runs with seed 11 differ");
}

#[test]
fn demo_refuses_a_data_dir_that_holds_events() {
    let dir = TempDir::new().unwrap();
    assert_ok(&kasane(
        dir.path(),
        &["demo", "--residents", "2", "--months", "1", "--end", END],
    ));
    let again = kasane(
        dir.path(),
        &["demo", "--residents", "2", "--months", "1", "--end", END],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already holds"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn verify_names_the_first_tampered_event() {
    let dir = TempDir::new().unwrap();
    assert_ok(&kasane(
        dir.path(),
        &["demo", "--residents", "3", "--months", "1", "--end", END],
    ));
    let events = events_json(dir.path(), &[]);
    let victim = events
        .iter()
        .find(|e| e["event_type"] == "NotePosted")
        .expect("a note");
    let position = victim["global_position"].as_i64().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("kasane.db")).unwrap();
        let payload: String = conn
            .query_row(
                "SELECT payload FROM events WHERE position = ?1",
                [position],
                |r| r.get(0),
            )
            .expect("the events table has position and payload columns");
        let tampered = payload
            .replacen("visit", "other", 1)
            .replacen("consultation", "other", 1);
        assert_ne!(
            payload, tampered,
            "the note's category is in the public payload"
        );
        conn.execute(
            "UPDATE events SET payload = ?1 WHERE position = ?2",
            rusqlite::params![tampered, position],
        )
        .unwrap();
    }
    let out = kasane(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("global position {position}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_file_that_is_not_a_store_gets_a_clear_error() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("kasane.db"),
        "これはデータベースではありません\n".repeat(200),
    )
    .unwrap();
    let out = kasane(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("not a Kasane store") || err.contains("STORE_NOT_KASANE"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn verify_on_a_missing_store_says_what_to_do() {
    let dir = TempDir::new().unwrap();
    let out = kasane(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kasane demo"), "{}", stderr(&out));
}

#[test]
fn events_follow_prints_the_log_and_keeps_running() {
    use std::io::{BufRead, BufReader};
    let dir = town();
    let total = events_json(dir.path(), &[]).len();
    let mut child = std::process::Command::new(kasane_bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["events", "--follow", "--limit", "100"])
        .env_remove("KASANE_MASTER_KEY")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // the first page is limited to 100; following continues through the rest of the log
    for n in 1..=total {
        let line = lines.next().expect("more events").unwrap();
        assert!(
            line.trim_start().starts_with(&n.to_string()),
            "line {n}: {line}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(
        child.try_wait().unwrap().is_none(),
        "--follow exited instead of waiting for new events"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn reading_a_store_without_its_key_never_creates_a_new_one() {
    let dir = TempDir::new().unwrap();
    assert_ok(&kasane(
        dir.path(),
        &["demo", "--residents", "2", "--months", "1", "--end", END],
    ));
    let key_file = dir.path().join("master.key");
    let kept = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let out = kasane(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no master key"), "{}", stderr(&out));
    assert!(!key_file.exists(), "verify generated a decoy master key");
    std::fs::write(&key_file, kept).unwrap();
    assert_ok(&kasane(dir.path(), &["verify"]));
}

#[test]
fn a_wrong_or_malformed_master_key_is_refused_with_its_code() {
    let dir = TempDir::new().unwrap();
    assert_ok(&kasane(
        dir.path(),
        &["demo", "--residents", "2", "--months", "1", "--end", END],
    ));
    let run_with_key = |key: &str| {
        std::process::Command::new(kasane_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .arg("verify")
            .env("KASANE_MASTER_KEY", key)
            .output()
            .unwrap()
    };
    let wrong = run_with_key(&"0".repeat(64));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("[MASTER_KEY_MISMATCH]"),
        "{}",
        stderr(&wrong)
    );
    let malformed = run_with_key("not-hex");
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        stderr(&malformed).contains("[MASTER_KEY_INVALID]"),
        "{}",
        stderr(&malformed)
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let dir = TempDir::new().unwrap();
    for (args, says) in [
        (&["demo", "--residents", "0"][..], "at least 1"),
        (&["--tenant", "Kasane City", "events"][..], "tenant id"),
        (
            &["events", "--stream", "resident-x", "--follow"][..],
            "--follow works on the whole log",
        ),
    ] {
        let out = kasane(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "a refused command left files behind: {left:?}"
    );
}

#[test]
fn bench_http_with_wrk_missing_says_how_to_get_it_before_generating_anything() {
    let dir = TempDir::new().unwrap();
    let empty_path = dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let out = std::process::Command::new(kasane_bin())
        .args(["bench", "http", "--load", "wrk", "--dir"])
        .arg(dir.path())
        .env("PATH", &empty_path)
        .output()
        .expect("kasane runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wrk is not installed"), "{err}");
    assert!(err.contains("apt-get install wrk"), "{err}");
    assert!(
        !err.contains("generating the demo town"),
        "refused before any work: {err}"
    );
}
