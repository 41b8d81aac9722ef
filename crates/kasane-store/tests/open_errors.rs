//! Opening files that are not (usable) Kasane stores fails with a clear code, never a panic,
//! and never modifies the file.

mod common;

use common::*;
use kasane_store::sqlite::SCHEMA_VERSION;
use kasane_store::{EventStore, ExpectedVersion, MasterKey, SqliteConfig, SqliteStore};
use serde_json::json;

#[tokio::test]
async fn a_text_file_is_not_a_kasane_store_and_is_left_untouched() {
    let t = TestDir::new();
    let text = "this is a shopping list, not a database\n".repeat(20);
    std::fs::write(t.path(), &text).unwrap();
    let err = SqliteStore::open(t.config()).await.unwrap_err();
    assert_eq!(err.code(), "STORE_NOT_KASANE", "{err}");
    assert!(err.to_string().contains("kasane.db"), "{err}");
    assert_eq!(std::fs::read_to_string(t.path()).unwrap(), text);

    // A short binary file too.
    std::fs::write(t.path(), b"\x00\x01").unwrap();
    let err = SqliteStore::open(t.config()).await.unwrap_err();
    assert_eq!(err.code(), "STORE_NOT_KASANE", "{err}");
}

#[tokio::test]
async fn a_directory_is_not_a_kasane_store() {
    let t = TestDir::new();
    let mut config = t.config();
    config.path = t.dir.path().to_owned();
    let err = SqliteStore::open(config).await.unwrap_err();
    assert_eq!(err.code(), "STORE_NOT_KASANE", "{err}");
}

#[tokio::test]
async fn an_unrelated_sqlite_database_is_not_a_kasane_store_and_keeps_its_journal_mode() {
    let t = TestDir::new();
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.execute_batch(
            "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('miso');",
        )
        .unwrap();
    }
    let before = std::fs::read(t.path()).unwrap();
    let err = SqliteStore::open(t.config()).await.unwrap_err();
    assert_eq!(err.code(), "STORE_NOT_KASANE", "{err}");
    assert_eq!(std::fs::read(t.path()).unwrap(), before);
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");

    // Another application's id, even without tables.
    let t2 = TestDir::new();
    {
        let conn = rusqlite::Connection::open(t2.path()).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234").unwrap();
    }
    let err = SqliteStore::open(t2.config()).await.unwrap_err();
    assert_eq!(err.code(), "STORE_NOT_KASANE", "{err}");
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let t = TestDir::new();
    let store = t.open().await;
    store
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![event("E", json!({}))],
        )
        .await
        .unwrap();
    store.close().await;
    {
        let conn = rusqlite::Connection::open(t.path()).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = SqliteStore::open(t.config()).await.unwrap_err();
    assert_eq!(err.code(), "STORE_SCHEMA_TOO_NEW", "{err}");
    assert!(
        matches!(
            err,
            kasane_store::StoreError::SchemaTooNew { found, supported }
                if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade kasane"), "{err}");
}

#[tokio::test]
async fn the_wrong_master_key_is_refused() {
    let t = TestDir::new();
    let store = t.open().await;
    store
        .append(
            TENANT,
            "s",
            ExpectedVersion::Any,
            vec![personal_event("r", "x")],
        )
        .await
        .unwrap();
    store.close().await;
    let err = SqliteStore::open(SqliteConfig::new(t.path(), MasterKey::generate()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MASTER_KEY_MISMATCH", "{err}");
    // The right key still opens it.
    let store = SqliteStore::open(SqliteConfig::new(t.path(), t.key.clone()))
        .await
        .unwrap();
    assert_eq!(store.read_all(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_new_store_is_identified_as_kasane() {
    let t = TestDir::new();
    let store = t.open().await;
    store.close().await;
    let conn = rusqlite::Connection::open(t.path()).unwrap();
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, kasane_store::sqlite::APPLICATION_ID);
    assert_eq!(version, kasane_store::sqlite::SCHEMA_VERSION);
    assert_eq!(mode, "wal");
}
