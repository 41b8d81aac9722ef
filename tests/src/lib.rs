//! Helpers for the end-to-end tests in `tests/tests/`: build and run the real `kasane` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Path of the `kasane` binary, built once per test process with the same cargo.
pub fn kasane_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "kasane", "--bin", "kasane"])
            .current_dir(workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the kasane binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let bin = target
            .join("debug")
            .join(format!("kasane{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
}

/// Runs `kasane ARGS` against `data_dir`, with no master key in the environment.
pub fn kasane(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(kasane_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("KASANE_MASTER_KEY")
        .env_remove("KASANE_MASTER_KEY_FILE")
        .env_remove("KASANE_DATA_DIR")
        .env_remove("KASANE_TENANT")
        .output()
        .expect("kasane runs")
}

/// Stdout of a run as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a run as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a run succeeded, showing its output when not.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "kasane failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}
