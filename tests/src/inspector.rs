//! The inspector (`tests/inspector`, a static binary that reports what a pod looks like
//! from inside): built once per test process with cargo, put into images at
//! `/usr/bin/rukt-inspector`, run in pods and on the host, its JSON report parsed.
//!
//! There is no musl target here, so it is linked statically against glibc
//! (`-C target-feature=+crt-static` with an explicit `--target`, which keeps the flag away
//! from host build scripts). `RUKT_INSPECTOR=PATH` skips the build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::image::{Compression, Entry, Layer};
use crate::pods::PodStore;
use crate::rukt::run_command;

/// Where the inspector is inside pod images.
pub const PATH: &str = "/usr/bin/rukt-inspector";

/// The target triple it is built for (with `--target`, so RUSTFLAGS only reach it): the
/// host's architecture with glibc.
fn target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// The static inspector binary, built on first use.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("RUKT_INSPECTOR") {
        Some(path) => PathBuf::from(path),
        None => build(),
    })
}

/// `cargo build --release --target <arch>-unknown-linux-gnu -p rukt-inspector` with crt-static, in the
/// workspace's target directory (`$CARGO_TARGET_DIR` or `target/`).
fn build() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            &target(),
            "-p",
            "rukt-inspector",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_command(cmd);
    assert!(out.success(), "building the inspector failed:\n{out}");
    let bin = target_dir.join(target()).join("release/rukt-inspector");
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// A layer holding the inspector at `/usr/bin/rukt-inspector` (built once per process).
pub fn layer() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let bin = std::fs::read(binary()).expect("reading the inspector");
            Layer::new(
                Compression::None,
                vec![
                    Entry::dir("usr"),
                    Entry::dir("usr/bin"),
                    Entry::file(PATH.trim_start_matches('/'), bin).mode(0o755),
                ],
            )
        })
        .clone()
}

/// A store for `--stage1=STAGE1` whose pod image (see `pods::pod_image`) carries the
/// inspector.
pub fn store(stage1: &str) -> PodStore {
    PodStore::with_stage1(stage1, vec![layer()])
}

/// Parses the report in an app's output: the last line that starts with `{`.
pub fn parse_report(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON report in the output:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("the report is not JSON ({e}):\n{line}"))
}

/// The inspector's report about the host (run directly, as the test process's child).
pub fn host_report() -> Value {
    let mut cmd = Command::new(binary());
    cmd.arg("report")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_command(cmd);
    assert!(out.success(), "the inspector failed on the host:\n{out}");
    parse_report(&out.stdout)
}

/// Strings in a JSON array (panics when `v` is not one).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_owned()
        })
        .collect()
}
