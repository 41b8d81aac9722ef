//! Build settings of `.cargo/config.toml` are in effect: the bundled SQLite is built without the
//! process-wide shared page cache and memory statistics, and poly1305 uses its portable backend.

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

/// `.cargo/config.toml` passes `--cfg poly1305_force_soft` to every crate (this one included),
/// so sealing uses poly1305's portable backend.
#[test]
fn poly1305_is_built_with_its_portable_backend() {
    // black_box: the value is fixed at compile time, and that is what is being checked.
    assert!(
        std::hint::black_box(cfg!(poly1305_force_soft)),
        "the rustflags of .cargo/config.toml were not applied (is RUSTFLAGS set?)"
    );
}
