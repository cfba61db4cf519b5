//! `rukt api-service`: a thin front-end that execs the API service binary
//! (`rukt-api-service`, next to `rukt` or in `/usr/lib/rukt`) with the
//! store and the caller's arguments. Socket-activated descriptors and
//! `LISTEN_PID` survive the exec (same process, descriptors inherited).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::Globals;

/// The service binary's name.
const BINARY: &str = "rukt-api-service";
/// Where packages install it when it is not next to `rukt`.
const SYSTEM_DIR: &str = "/usr/lib/rukt";

fn locate() -> Result<PathBuf> {
    let mut looked = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        looked.push(d.join(BINARY));
    }
    looked.push(PathBuf::from(SYSTEM_DIR).join(BINARY));
    match looked.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => bail!(
            "cannot find {BINARY} (looked at {})",
            looked
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn run(g: &Globals, args: &[OsString]) -> Result<ExitCode> {
    let bin = locate()?;
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg0("rukt-api-service").arg("--dir").arg(&g.dir);
    if g.debug {
        cmd.arg("--debug");
    }
    let err = cmd.args(args).exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {}", bin.display())))
}
