//! `rukt stop`: asks each running pod's stage1 to stop it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use rukt_pods::{StopOptions, StopOutcome};

use super::Globals;
use super::pods::find_all;

pub fn run(
    g: &Globals,
    uuids: &[String],
    file: Option<&Path>,
    force: bool,
    timeout: u64,
) -> Result<ExitCode> {
    let opts = StopOptions {
        force,
        timeout: Duration::from_secs(timeout),
        debug: g.debug,
    };
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for pod in find_all(g, uuids, file)? {
        match rukt_pods::stop(&pod, opts) {
            Ok(StopOutcome::Stopped) => writeln!(out, "{}", pod.uuid)?,
            Ok(StopOutcome::StillRunning) => {
                crate::report(&anyhow::anyhow!(
                    "pod {} is still running: processes that inherited its lock keep it alive",
                    pod.uuid
                ));
                failed += 1;
            }
            Err(e) => {
                crate::report(&e.into());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} pod(s) not stopped");
    }
    Ok(ExitCode::SUCCESS)
}
