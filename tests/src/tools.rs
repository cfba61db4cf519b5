//! Locating and running the external tools the suite needs (docker-registry, skopeo, umoci,
//! gzip, busybox), failing loudly with an install hint when one is missing.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Absolute path of `name` found in `PATH`; panics with `hint` (e.g. the Debian package to
/// install) when it is not there. Tests never skip silently for want of a tool.
pub fn require(name: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!("required tool `{name}` not found in PATH ({hint})");
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `program args...`, panicking with its output unless it exits 0; returns stdout.
pub fn run_checked<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if !out.status.success() {
        panic!(
            "`{} {}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            program.display(),
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }
    out.stdout
}

/// Pipes `input` through `program args...` (a filter such as `gzip -n`) and returns its stdout.
pub fn filter<S: AsRef<OsStr>>(program: &Path, args: &[S], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            // A write error means the filter died; its exit status says why.
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
    .unwrap_or_else(|e| panic!("waiting for {}: {e}", program.display()));
    if !out.status.success() {
        panic!(
            "{} failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

/// `gzip -n` (no name, no timestamp: deterministic output, so equal layers get equal digests).
/// The external tool is used because zlib-rs is very slow in unoptimised builds.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let gzip = require("gzip", "install the Debian package gzip");
    filter(&gzip, &["-n", "-c"], data)
}
