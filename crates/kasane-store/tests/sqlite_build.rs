//! The bundled SQLite is built as `.cargo/config.toml` says: without the process-wide shared
//! page cache and without memory statistics, whose mutexes the store's threads queued on.

#[test]
fn the_bundled_sqlite_has_no_process_wide_cache_or_memory_statistics() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let options: Vec<String> = conn
        .prepare("PRAGMA compile_options")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "THREADSAFE=1"),
        "still the bundled, thread-safe build: {options:?}"
    );
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "LIBSQLITE3_FLAGS from .cargo/config.toml was not applied: {options:?}"
    );
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "LIBSQLITE3_FLAGS from .cargo/config.toml was not applied: {options:?}"
    );
}
