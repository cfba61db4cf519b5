//! `stop [--debug] [--force] [--timeout=SECONDS] UUID`. Gently: ask the
//! guest through the supervisor's control socket to SIGTERM every app and
//! SIGKILL them after the timeout (the VM powers off when they are gone),
//! and wait for that; if the pod still runs a few seconds after the
//! timeout, or with `--force` at once, kill the VMM (the supervisor then
//! records the apps as killed and exits).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::Context;
use rukt_contract::StopArgs;
use rukt_kvm_init::proto::{Frame, Kind};
use tracing::debug;

use crate::{pod, procs};

/// How long past the guest's own timeout before the VMM is killed.
const MARGIN: Duration = Duration::from_secs(5);

/// Stops the pod; success if it is stopped or was not running.
pub fn stop(args: &StopArgs) -> anyhow::Result<()> {
    pod::load(&args.uuid)?;
    if !pod::is_running()? {
        debug!("the pod is not running");
        return Ok(());
    }
    let stage1 = pod::dir()?.join(rukt_contract::STAGE1_DIR);
    if !args.force {
        match UnixStream::connect(pod::control_socket(&stage1)) {
            Ok(mut s) => {
                let secs = u32::try_from(args.timeout_secs).unwrap_or(u32::MAX);
                s.write_all(&Frame::new(Kind::Stop, 0, secs.to_le_bytes().to_vec()).encode())
                    .context("cannot ask the pod to stop")?;
                let wait = Duration::from_secs(args.timeout_secs) + MARGIN;
                if pod::wait_stopped(wait)? {
                    return Ok(());
                }
                debug!("still running after {wait:?}: killing the VMM");
            }
            Err(e) => debug!("cannot reach the supervisor ({e}): killing the VMM"),
        }
    }
    let killed = procs::kill_recorded(&stage1, Some("qemu"))?;
    debug!("killed {killed} VMM process(es)");
    pod::wait_stopped(MARGIN)?;
    Ok(())
}
