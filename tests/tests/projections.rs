//! End-to-end: read models after `kasane demo`, and rebuilding them from the log.

use kasane_e2e::*;
use rusqlite::Connection;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

const END: &str = "2026-10-31T15:00:00Z";

/// Tables of the event store itself (everything else in the file is a read model).
const STORE_TABLES: &[&str] = &[
    "meta",
    "events",
    "streams",
    "stream_index",
    "data_keys",
    "projection_checkpoints",
];

fn demo() -> TempDir {
    let dir = TempDir::new().unwrap();
    let out = kasane(
        dir.path(),
        &[
            "demo",
            "--residents",
            "25",
            "--months",
            "3",
            "--seed",
            "11",
            "--end",
            END,
        ],
    );
    assert_ok(&out);
    dir
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("kasane.db")).unwrap()
}

fn projection_tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|t| !STORE_TABLES.contains(&t.as_str()) && !t.starts_with("sqlite_"))
        .collect()
}

/// Every row of every read-model table, as text, sorted, and the read models' schema (tables
/// and indexes): what "identical contents" means.
fn dump(dir: &Path) -> Vec<(String, Vec<String>)> {
    let conn = db(dir);
    let tables = projection_tables(&conn);
    let mut stmt = conn
        .prepare("SELECT tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    let schema: Vec<String> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(table, _)| tables.contains(table))
        .map(|(_, sql)| sql.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let rows = tables.into_iter().map(|table| {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(columns);
                for i in 0..columns {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cells.push(format!("{v:?}"));
                }
                Ok(cells.join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        (table, rows)
    });
    std::iter::once(("(schema)".to_owned(), schema))
        .chain(rows)
        .collect()
}

fn status(dir: &Path) -> Value {
    let out = kasane(dir, &["projections", "status", "--json"]);
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn after_demo_every_projection_is_at_the_head_with_rows() {
    let dir = demo();
    let status = status(dir.path());
    let head = status["head"].as_u64().unwrap();
    assert!(head > 500, "the demo wrote {head} events");
    let projections = status["projections"].as_array().unwrap();
    assert!(projections.len() >= 4, "{status}");
    for p in projections {
        assert_eq!(p["position"].as_u64(), Some(head), "{p}");
        assert_eq!(p["lag"].as_u64(), Some(0), "{p}");
        assert!(p["error"].is_null(), "{p}");
    }
    let dump = dump(dir.path());
    for (table, rows) in &dump {
        assert!(
            !rows.is_empty() || table.contains("erase"),
            "table {table} is empty after the demo"
        );
    }
}

#[test]
fn dropped_tables_are_rebuilt_to_identical_contents_on_restart() {
    let dir = demo();
    let before = dump(dir.path());
    assert!(before.len() >= 4);
    {
        let conn = db(dir.path());
        for table in projection_tables(&conn) {
            conn.execute_batch(&format!("DROP TABLE \"{table}\""))
                .unwrap();
        }
        assert!(projection_tables(&conn).is_empty());
    }
    let out = kasane(dir.path(), &["projections", "update"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("rebuilding projections"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dump(dir.path()), before);
}

#[test]
fn a_changed_code_version_rebuilds_that_projection_and_rebuild_by_name_is_identical() {
    let dir = demo();
    let before = dump(dir.path());
    db(dir.path())
        .execute(
            "UPDATE projection_checkpoints SET version = 'old' WHERE name = 'timeline'",
            [],
        )
        .unwrap();
    let out = kasane(dir.path(), &["projections", "update"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("code changed: timeline"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dump(dir.path()), before);

    let out = kasane(
        dir.path(),
        &["projections", "rebuild", "timeline", "care_team"],
    );
    assert_ok(&out);
    assert!(
        stdout(&out).contains("rebuilt timeline, care_team"),
        "{}",
        stdout(&out)
    );
    assert_eq!(dump(dir.path()), before);

    let out = kasane(dir.path(), &["projections", "rebuild"]);
    assert_ok(&out);
    assert_eq!(dump(dir.path()), before);
}

#[test]
fn an_unknown_projection_name_is_refused_with_its_code() {
    let dir = demo();
    let out = kasane(dir.path(), &["projections", "rebuild", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("UNKNOWN_PROJECTION"),
        "{}",
        stderr(&out)
    );
}
