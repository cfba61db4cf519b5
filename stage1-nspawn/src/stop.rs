//! `stop`: ends a running pod. Without `--force` the supervisor gets SIGTERM
//! and passes it to every app; apps still running after the timeout are
//! killed through the pod's cgroups. `--force` kills them at once. Either
//! way the supervisor sees its apps exit, records their status and ends the
//! pod, releasing the lock.

use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::runtime::{load_manifest, pod_is_running, wait_released};
use rukt_contract::{PID_FILE, StopArgs};

use crate::cgroups::{self, Layout};
use crate::signals;

/// How long the supervisor may take to wind up once its apps are gone.
const AFTERMATH: Duration = Duration::from_secs(5);

/// Stops the pod.
pub fn stop(args: &StopArgs) -> anyhow::Result<()> {
    let pod = load_manifest(&args.uuid)?;
    if !pod_is_running().context("cannot test the pod lock")? {
        return Ok(());
    }
    let layout = Layout::detect();
    if args.force {
        cgroups::signal_all(layout, &pod.uuid, libc::SIGKILL);
        if pod.mutable {
            // A mutable pod outlives its apps until its supervisor is told.
            signals::send(supervisor_pid()?, libc::SIGTERM);
        }
    } else {
        let supervisor = supervisor_pid()?;
        signals::send(supervisor, libc::SIGTERM);
        let timeout = Duration::from_secs(args.timeout_secs);
        if wait_released(timeout).context("cannot test the pod lock")? {
            return Ok(());
        }
        tracing::debug!("apps still running after {timeout:?}: killing them");
        cgroups::signal_all(layout, &pod.uuid, libc::SIGKILL);
    }
    if wait_released(AFTERMATH).context("cannot test the pod lock")? {
        return Ok(());
    }
    // The supervisor is stuck: end it; gc cleans what it leaves.
    if let Ok(pid) = supervisor_pid() {
        signals::send(pid, libc::SIGKILL);
    }
    if !wait_released(AFTERMATH).context("cannot test the pod lock")? {
        bail!("the pod is still running after its apps were killed");
    }
    Ok(())
}

/// The supervisor's PID from the pid file.
fn supervisor_pid() -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(PID_FILE).context("cannot read the pod's pid file")?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 1)
        .with_context(|| format!("invalid pid file {text:?}"))
}
