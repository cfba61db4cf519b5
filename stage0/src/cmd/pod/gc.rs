//! `rukt rm` and `rukt gc`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use rukt_stage0::pods::gc::{GcOptions, gc, rm};

use super::{existing_pods, find_all};
use crate::cmd::Globals;

pub fn rm_cmd(g: &Globals, uuids: &[String], file: Option<&Path>, debug: bool) -> Result<ExitCode> {
    let pods = existing_pods(g);
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for pod in find_all(g, uuids, file)? {
        match rm(&pods, &pod, debug) {
            Ok(()) => writeln!(out, "{}", pod.uuid)?,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "rukt: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} pod(s) not removed");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc_cmd(
    g: &Globals,
    grace_period: Duration,
    expire_prepared: Duration,
    mark_only: bool,
    debug: bool,
) -> Result<ExitCode> {
    let report = gc(
        &existing_pods(g),
        GcOptions {
            grace_period,
            expire_prepared,
            mark_only,
            debug,
        },
    )?;
    let mut out = std::io::stdout().lock();
    for u in &report.marked {
        writeln!(out, "marked {u}")?;
    }
    for u in &report.removed {
        writeln!(out, "removed {u}")?;
    }
    for (u, why) in &report.failed {
        let _ = writeln!(std::io::stderr(), "rukt: cannot remove pod {u}: {why}");
    }
    if !report.failed.is_empty() {
        bail!("{} pod(s) could not be removed", report.failed.len());
    }
    Ok(ExitCode::SUCCESS)
}
