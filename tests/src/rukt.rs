//! Driving the rukt binary: each `Rukt` owns a fresh store directory passed as `--dir`, runs
//! commands with a timeout and returns their exit status and output as text.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::tree::{self, Tree};

/// rukt's exit code for its own errors.
pub const EXIT_ERROR: i32 = 254;
/// Exit code for command-line usage errors.
pub const EXIT_USAGE: i32 = 2;

/// Longest a single rukt command may run (override with `RUKT_TEST_TIMEOUT=<seconds>`).
fn timeout() -> Duration {
    let secs = std::env::var("RUKT_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// The binary under test: `$RUKT_BIN`, else `debug/rukt` in `$CARGO_TARGET_DIR` or in the
/// workspace's `target/`.
pub fn binary() -> PathBuf {
    let bin = match (
        std::env::var_os("RUKT_BIN"),
        std::env::var_os("CARGO_TARGET_DIR"),
    ) {
        (Some(bin), _) => PathBuf::from(bin),
        (None, Some(target)) => Path::new(&target).join("debug/rukt"),
        (None, None) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate lives in the workspace")
            .join("target/debug/rukt"),
    };
    assert!(
        bin.is_file(),
        "rukt binary not found at {}: run `cargo build -p rukt` first, or set RUKT_BIN",
        bin.display()
    );
    bin
}

/// What a finished rukt command left.
#[derive(Debug)]
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout's non-empty lines, trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n[{}]\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// A rukt store in a temp directory and the commands run against it.
pub struct Rukt {
    bin: PathBuf,
    dir: TempDir,
    config: TempDir,
    netns: Option<PathBuf>,
}

/// The `default` network every store's configuration defines: loopback only (the real
/// `loopback` CNI plugin), so that a test that does not ask for networking still runs the
/// pod's CNI path but never adds a bridge, an address or a firewall rule to the machine's own
/// network namespace. Networking tests use the built-in networks, inside namespaces of their
/// own (`tests/tests/net`).
pub const TEST_DEFAULT_NETWORK: &str =
    r#"{"cniVersion":"1.0.0","name":"default","plugins":[{"type":"loopback"}]}"#;

impl Default for Rukt {
    fn default() -> Self {
        Self::new()
    }
}

impl Rukt {
    /// A fresh, empty store.
    pub fn new() -> Rukt {
        let bin = binary();
        let dir = tempfile::Builder::new()
            .prefix("rukt-store-")
            .tempdir()
            .expect("store tempdir");
        let config = tempfile::Builder::new()
            .prefix("rukt-config-")
            .tempdir()
            .expect("config tempdir");
        std::fs::create_dir(config.path().join("net.d")).expect("net.d");
        std::fs::write(
            config.path().join("net.d/99-default.conflist"),
            TEST_DEFAULT_NETWORK,
        )
        .expect("the test default network");
        Rukt {
            bin,
            dir,
            config,
            netns: None,
        }
    }

    /// Runs every later command in the network namespace bound at `path` (through
    /// `nsenter --net`, which changes nothing else), for tests standing in for a host.
    pub fn set_netns(&mut self, path: &Path) {
        self.netns = Some(path.to_path_buf());
    }

    /// The configuration directory every command gets (`RUKT_CONFIG_DIR`; a
    /// `--config-dir` flag overrides it).
    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    /// The store directory (`--dir`).
    pub fn store(&self) -> &Path {
        self.dir.path()
    }

    /// `rukt --dir STORE --insecure-options=http ARGS...`, not yet started. Every command gets
    /// `--insecure-options=http`: the test registry speaks plain HTTP.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare_command(&["--insecure-options=http"]);
        cmd.args(args);
        cmd
    }

    /// `rukt --dir STORE ARGS...`, without `--insecure-options`.
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("--dir")
            .arg(self.store())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env("RUKT_CONFIG_DIR", self.config_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `rukt --dir STORE --insecure-options=http ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        run_command(self.command(args))
    }

    /// Runs and asserts success (exit 0); returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.success(), "rukt failed:\n{out}");
        out.stdout
    }

    /// Runs and asserts a clean failure: exit code 254 (not a crash, a signal or a panic) and
    /// a message on stderr.
    pub fn fail(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_clean_failure(&out);
        out
    }

    /// Starts `rukt --dir STORE --insecure-options=http ARGS...` in the background (stdout and
    /// stderr discarded).
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().expect("spawning rukt")
    }

    /// `rukt fetch IMAGE`: asserts success and a single `sha256:<64 hex>` line; returns it.
    pub fn fetch(&self, image: &str) -> String {
        self.fetch_with(&[], image)
    }

    /// `rukt fetch FLAGS... IMAGE`, as `fetch`.
    pub fn fetch_with(&self, flags: &[&str], image: &str) -> String {
        let mut args = vec!["fetch"];
        args.extend_from_slice(flags);
        args.push(image);
        let out = self.run(&args);
        assert!(out.success(), "fetch failed:\n{out}");
        let lines = out.lines();
        assert_eq!(
            lines.len(),
            1,
            "fetch of one image must print one line:\n{out}"
        );
        let id = lines[0].to_owned();
        assert_is_id(&id);
        id
    }

    /// `rukt image list --format json`, parsed.
    pub fn list(&self) -> Vec<Value> {
        let stdout = self.ok(&["image", "list", "--format", "json"]);
        match serde_json::from_str(&stdout) {
            Ok(Value::Array(records)) => records,
            other => {
                panic!("`image list --format json` did not print a JSON array: {other:?}\n{stdout}")
            }
        }
    }

    /// The `id`s of `image list`, sorted.
    pub fn list_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .list()
            .iter()
            .map(|r| {
                r["id"]
                    .as_str()
                    .expect("record without string id")
                    .to_owned()
            })
            .collect();
        ids.sort();
        ids
    }

    /// The `image list` record with id `id`.
    pub fn record(&self, id: &str) -> Value {
        self.list()
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in `image list`"))
    }

    /// `rukt image inspect IMAGE`, parsed.
    pub fn inspect(&self, image: &str) -> Value {
        let stdout = self.ok(&["image", "inspect", image]);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`image inspect` printed no JSON ({e}):\n{stdout}"))
    }

    /// Snapshot of the store for before/after comparisons: xattrs included; lock files
    /// (`locks/`, `*.lock` at the top) left out, `tmp/` left out when empty.
    pub fn snapshot(&self) -> Tree {
        store_snapshot(self.store())
    }

    /// Path of the unpacked layer with diff_id `diff_id`.
    pub fn layer_rootfs(&self, diff_id: &str) -> PathBuf {
        self.store()
            .join("layers/sha256")
            .join(crate::digest::hex_of(diff_id))
            .join("rootfs")
    }

    /// Path of blob `digest` in the store.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.store()
            .join("blobs/sha256")
            .join(crate::digest::hex_of(digest))
    }
}

/// See `Rukt::snapshot`.
pub fn store_snapshot(store: &Path) -> Tree {
    let mut snap = tree::snapshot_with(store, true);
    snap.retain(|path, _| {
        let top_lock =
            path.components().count() == 1 && path.extension().is_some_and(|e| e == "lock");
        !path.starts_with("locks") && !top_lock
    });
    let tmp = Path::new("tmp");
    if !snap.keys().any(|p| p.starts_with(tmp) && p != tmp) {
        snap.remove(tmp);
    }
    snap
}

/// Compares two store snapshots as a user would: everything but mtimes (a failed fetch may
/// touch directories and rewrite the index with equal content). Panics listing the differences.
pub fn assert_store_unchanged(before: &Tree, after: &Tree, what: &str) {
    let diff = tree::diff_ignoring(before, after, &[tree::Attr::Mtime]);
    assert!(
        diff.is_empty(),
        "{what} changed the store:\n{}",
        diff.join("\n")
    );
}

/// Asserts `out` is rukt's own error: exit code 254 and something on stderr.
pub fn assert_clean_failure(out: &Output) {
    assert!(
        !out.success(),
        "rukt was expected to fail but succeeded:\n{out}"
    );
    assert_eq!(
        out.code(),
        Some(EXIT_ERROR),
        "rukt was expected to fail with its error exit code {EXIT_ERROR} (not a crash, signal, panic or usage error):\n{out}"
    );
    assert!(
        !out.stderr.trim().is_empty(),
        "rukt failed without a message on stderr:\n{out}"
    );
    assert!(!out.stderr.contains("panicked at"), "rukt panicked:\n{out}");
}

/// Asserts `id` is `sha256:` and 64 lower-case hex digits.
pub fn assert_is_id(id: &str) {
    let hex = id.strip_prefix("sha256:").unwrap_or("");
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not an image ID (sha256:<64 hex>): {id:?}"
    );
}

/// Runs `cmd` with stdout/stderr captured, killing it after the timeout.
pub fn run_command(mut cmd: Command) -> Output {
    let command = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let deadline = Instant::now() + timeout();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for rukt") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default();
            panic!(
                "{command} did not finish within {:?}; stderr:\n{err}",
                timeout()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let collect = |h: Option<std::thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Output {
        command,
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}
