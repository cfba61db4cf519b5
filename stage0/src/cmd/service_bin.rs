//! Locating and exec'ing rukt's service binaries (`rukt-api-service`,
//! `rukt-cri`): next to `rukt`, else in `/usr/lib/rukt`. The exec keeps
//! the process, so socket-activated descriptors and `LISTEN_PID` survive.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{Result, bail};

/// Where packages install them when they are not next to `rukt`.
const SYSTEM_DIR: &str = "/usr/lib/rukt";

fn locate(binary: &str) -> Result<PathBuf> {
    let mut looked = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        looked.push(d.join(binary));
    }
    looked.push(PathBuf::from(SYSTEM_DIR).join(binary));
    match looked.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => bail!(
            "cannot find {binary} (looked at {})",
            looked
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Execs `binary` with `flags` (rukt's globals it takes), `--debug` when
/// asked, then the caller's `args`; returns only on failure.
pub fn exec(binary: &str, flags: &[OsString], debug: bool, args: &[OsString]) -> anyhow::Error {
    let bin = match locate(binary) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg0(binary).args(flags);
    if debug {
        cmd.arg("--debug");
    }
    let err = cmd.args(args).exec();
    anyhow::Error::new(err).context(format!("cannot run {}", bin.display()))
}
