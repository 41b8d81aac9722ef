//! The SQLite file format: schema, identification (application_id, user_version) and the
//! checks made when a file is opened.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, ffi};
use uuid::Uuid;

use crate::error::StoreError;
use crate::keys::MasterKey;
use crate::sqlite::Durability;
use crate::sqlite::stream_index::UnindexedTail;

/// `PRAGMA application_id` of every Kasane store ("KASA" in ASCII).
pub const APPLICATION_ID: i32 = 0x4B41_5341;

/// `PRAGMA user_version` this build writes and the highest it can read.
///
/// Version 2 finds a stream's events through `stream_index`, filled in bulk behind the head.
/// Version 3 keeps no stream heads in `streams` (one row per stream, written once): a head is
/// the stream's last event, found through the index and the unindexed tail. Older stores are
/// upgraded when the writer opens them ([`upgrade_from_v1`], [`upgrade_from_v2`]).
pub const SCHEMA_VERSION: u32 = 3;

/// `meta` key of the last position whose event is in `stream_index` (every event after it is
/// in the unindexed tail, found by scanning the log by position).
pub(crate) const STREAM_INDEXED_TO: &str = "stream_indexed_to";

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const CREATE_SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    event_id       BLOB    NOT NULL UNIQUE,
    tenant         TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    stream_id      INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    actor_member   BLOB,
    actor_agency   BLOB,
    correlation_id BLOB    NOT NULL,
    causation_id   BLOB,
    data_subject   TEXT,
    payload        TEXT    NOT NULL,
    sealed         BLOB,
    content_digest BLOB    NOT NULL,
    prev_hash      BLOB    NOT NULL,
    hash           BLOB    NOT NULL
) STRICT;

CREATE TABLE streams (
    tenant    TEXT    NOT NULL,
    stream    TEXT    NOT NULL,
    stream_id INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (tenant, stream)
) STRICT, WITHOUT ROWID;

CREATE TABLE data_keys (
    tenant       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    wrapped      BLOB,
    created_at   INTEGER NOT NULL,
    destroyed_at INTEGER,
    PRIMARY KEY (tenant, subject)
) STRICT, WITHOUT ROWID;
";

/// Where each stream's events are (schema 2; also what the upgrade from 1 creates). The writer
/// fills it in sorted batches behind the head: an index on `events` would take one random leaf
/// write per appended event.
const CREATE_STREAM_INDEX: &str = "
CREATE TABLE stream_index (
    stream_id INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (stream_id, version)
) STRICT, WITHOUT ROWID;
";

/// Maps SQLite's "file is not a database" to our error; other errors pass through.
fn not_a_db(path: &Path, e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(ffi::ErrorCode::NotADatabase) {
        StoreError::NotAKasaneStore {
            path: path.to_owned(),
            detail: "not an SQLite database".into(),
        }
    } else {
        StoreError::Sqlite(e)
    }
}

/// Refuses files that are not SQLite at all before SQLite touches them.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Io(e)),
    };
    if file.metadata()?.is_dir() {
        return Err(StoreError::NotAKasaneStore {
            path: path.to_owned(),
            detail: "it is a directory".into(),
        });
    }
    let mut header = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut header)?;
    if header.is_empty() || header.as_slice() == SQLITE_HEADER {
        return Ok(());
    }
    Err(StoreError::NotAKasaneStore {
        path: path.to_owned(),
        detail: "not an SQLite database".into(),
    })
}

/// How long a connection waits for a lock held by another connection.
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connection settings shared by the writer and the readers.
fn configure_common(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// The writer's connection and what it must know about the log when it starts.
pub(crate) struct OpenedWriter {
    pub conn: Connection,
    /// Last global position (0 when empty).
    pub head: u64,
    /// Last `recorded_at` in µs (`i64::MIN` when empty).
    pub last_recorded_us: i64,
    /// The next free stream id.
    pub next_stream_id: i64,
    /// The events after the last one in `stream_index`.
    pub unindexed: UnindexedTail,
}

/// Opens (creating if new) the store file for writing and checks that it is a Kasane store
/// of a supported version created with this master key.
pub(crate) fn open_writer(path: &Path, master_key: &MasterKey) -> Result<OpenedWriter, StoreError> {
    check_header(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure_common(&conn).map_err(|e| not_a_db(path, e))?;

    // Identify the file before changing anything in it (journal mode included).
    identify(&conn, path)?;

    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| not_a_db(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Io(std::io::Error::other(format!(
            "SQLite refused WAL mode (got {mode}); put the store on a local file system"
        ))));
    }
    // At full durability the commits are flushed by the durability stage (`durable.rs`),
    // off the writer's thread; SQLite still syncs around checkpoints and WAL restarts.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A 4 MB page cache holds what the writer touches (interior pages, the tails it appends
    // to, recent stream index leaves); the OS page cache serves the rest. A larger one made
    // commits slower (measured: SQLite scans the whole page-cache hash at every commit, and a
    // new store pays a page fault for every fresh cache page).
    conn.pragma_update(None, "cache_size", -4_000)?;
    // A background thread checkpoints, but under steady load it almost never lets the WAL
    // start over (that needs every frame copied when a write begins); the writer's own
    // checkpoint at this size (pages) does. Smaller limits measured no different.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;

    // Create the schema under the write lock; re-identify there, in case another process
    // created it meanwhile.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if let Err(e) = create_if_new(&conn, path, master_key) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    conn.execute_batch("COMMIT")?;
    let (head, last_recorded_us, next_stream_id): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT coalesce(max(position), 0) FROM events), \
                (SELECT coalesce(max(recorded_at), -9223372036854775808) FROM events), \
                (SELECT coalesce(max(stream_id), 0) + 1 FROM streams)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let unindexed = UnindexedTail::load(&conn)?;
    Ok(OpenedWriter {
        conn,
        head: head as u64,
        last_recorded_us,
        next_stream_id,
        unindexed,
    })
}

/// Checks that the file is empty or a Kasane store of a version this build can read.
/// Returns `true` when the file has no tables yet.
fn identify(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| not_a_db(path, e))?;
    let user_version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| not_a_db(path, e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| not_a_db(path, e))?;
    if app_id == 0 && user_version == 0 && tables == 0 {
        return Ok(true);
    }
    if app_id != APPLICATION_ID {
        return Err(StoreError::NotAKasaneStore {
            path: path.to_owned(),
            detail: format!(
                "an SQLite database of another application (application_id {app_id:#x})"
            ),
        });
    }
    if user_version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: user_version,
            supported: SCHEMA_VERSION,
        });
    }
    if user_version < 1 {
        return Err(StoreError::NotAKasaneStore {
            path: path.to_owned(),
            detail: "a Kasane store without a schema version".into(),
        });
    }
    Ok(false)
}

/// Creates the schema in a new file; in an existing one checks the master key, then
/// upgrades an older schema.
fn create_if_new(conn: &Connection, path: &Path, master_key: &MasterKey) -> Result<(), StoreError> {
    if !identify(conn, path)? {
        // Before any upgrade: a file opened with the wrong key must be left as it was.
        check_master_key(conn, master_key)?;
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 1 {
            upgrade_from_v1(conn, path)?;
        }
        if version <= 2 {
            upgrade_from_v2(conn, path)?;
        }
        return Ok(());
    }
    conn.execute_batch(CREATE_SCHEMA)?;
    conn.execute_batch(CREATE_STREAM_INDEX)?;
    let mut insert = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    insert.execute(("master_key_check", &master_key.check_value()[..]))?;
    insert.execute((STREAM_INDEXED_TO, 0))?;
    insert.execute(("store_id", Uuid::now_v7().to_string()))?;
    insert.execute(("created_at", chrono::Utc::now().to_rfc3339()))?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tracing::info!(path = %path.display(), "created a new Kasane store");
    Ok(())
}

/// Schema 1 → 2: adds `stream_index` and fills it from the log (the whole log is indexed).
/// The old `UNIQUE (stream_id, version)` index on `events` stays (SQLite cannot drop a
/// table constraint without copying the table); it is harmless but makes appends slower.
fn upgrade_from_v1(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch(CREATE_STREAM_INDEX)?;
    conn.execute_batch(
        "INSERT INTO stream_index (stream_id, version, position)
             SELECT stream_id, version, position FROM events ORDER BY stream_id, version;",
    )?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, (SELECT coalesce(max(position), 0) FROM events))",
        [STREAM_INDEXED_TO],
    )?;
    conn.pragma_update(None, "user_version", 2)?;
    tracing::info!(path = %path.display(), "upgraded the store from schema version 1 to 2");
    Ok(())
}

/// Schema 2 → 3: `streams` loses the head columns (`version`, `last_hash`), which every
/// append used to rewrite. The table is small (a row per stream), so SQLite's copy is quick.
fn upgrade_from_v2(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('streams')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for column in ["version", "last_hash"] {
        if columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE streams DROP COLUMN {column}"))?;
        }
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tracing::info!(path = %path.display(), "upgraded the store from schema version 2 to 3");
    Ok(())
}

fn check_master_key(conn: &Connection, master_key: &MasterKey) -> Result<(), StoreError> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'master_key_check'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match stored {
        Some(v) if v == master_key.check_value() => Ok(()),
        Some(_) => Err(StoreError::MasterKeyMismatch),
        None => Err(StoreError::Corrupt(
            "the store has no master key check value".into(),
        )),
    }
}

/// Opens the background checkpointer's connection.
pub(crate) fn open_checkpointer(
    path: &Path,
    durability: Durability,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure_common(&conn)?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(conn)
}

/// Opens a read-only connection for the reader pool (the writer created the file).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure_common(&conn)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -8_000)?;
    Ok(conn)
}
