//! `rukt stop`: asks each running pod's stage1 to stop it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rukt_contract::StopArgs;
use rukt_stage0::pods::State;

use super::find_all;

/// Whether the pod still holds its lock a moment after stage1 stopped it.
fn still_running(pod: &rukt_stage0::pods::Pod) -> bool {
    for _ in 0..100 {
        if pod.state() != State::Running {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}
use crate::cmd::Globals;

pub fn run(
    g: &Globals,
    uuids: &[String],
    file: Option<&Path>,
    force: bool,
    timeout: u64,
    debug: bool,
) -> Result<ExitCode> {
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for pod in find_all(g, uuids, file)? {
        match pod.state() {
            State::Running => {}
            State::Exited | State::ExitedGarbage => {
                writeln!(out, "{}", pod.uuid)?;
                continue;
            }
            other => {
                let _ = writeln!(
                    std::io::stderr(),
                    "rukt: pod {} is {other}, not running",
                    pod.uuid
                );
                failed += 1;
                continue;
            }
        }
        let manifest = pod.manifest()?;
        let args = StopArgs {
            debug,
            force,
            timeout_secs: timeout,
            uuid: pod.uuid.clone(),
        };
        let status = rukt_stage0::exe_guard::command(&manifest.stage1.path)
            .args(args.to_argv())
            .current_dir(&pod.path)
            .status()
            .with_context(|| format!("cannot run stage1 stop for pod {}", pod.uuid))?;
        if status.success() && still_running(&pod) {
            let _ = writeln!(
                std::io::stderr(),
                "rukt: pod {} is still running: processes that inherited its lock keep it alive",
                pod.uuid
            );
            failed += 1;
        } else if status.success() {
            writeln!(out, "{}", pod.uuid)?;
        } else {
            let _ = writeln!(
                std::io::stderr(),
                "rukt: stage1 could not stop pod {} ({status})",
                pod.uuid
            );
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} pod(s) not stopped");
    }
    Ok(ExitCode::SUCCESS)
}
