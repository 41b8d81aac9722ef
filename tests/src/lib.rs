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

/// A `kasane serve` process on an ephemeral port, killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// What the server printed before it was ready, and after.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `kasane serve --listen 127.0.0.1:0 EXTRA…` on `data_dir` and waits until it
    /// listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(kasane_bin())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("KASANE_MASTER_KEY")
            .env_remove("KASANE_MASTER_KEY_FILE")
            .env_remove("KASANE_DATA_DIR")
            .env_remove("KASANE_TENANT")
            .env_remove("KASANE_JWT_SECRET")
            .env_remove("KASANE_LISTEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kasane serve starts");
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let err_lines = output.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                err_lines.lock().unwrap().push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let out_lines = output.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                // Kept before the address is handed over: a test reads the lines as soon as
                // `start` returns.
                let url = line
                    .split(" at http://")
                    .nth(1)
                    .map(|rest| format!("http://{}", rest.trim_end_matches("/graphql")));
                out_lines.lock().unwrap().push(line);
                if let Some(url) = url {
                    let _ = tx.send(url);
                }
            }
        });
        let base = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!(
                    "kasane serve did not start:\n{}",
                    output.lock().unwrap().join("\n")
                )
            });
        Server {
            child,
            base,
            output,
        }
    }

    /// The process id, e.g. to send it a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after a signal) and returns its status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait for kasane serve");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
