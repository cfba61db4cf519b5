//! The `app-add|start|stop|rm` entrypoints of a mutable pod: each is one
//! request to the pod's supervisor over its control socket
//! ([`crate::control`]), answered when the change is done.

use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::runtime::{load_manifest, pod_is_running};
use rukt_contract::{AppArgs, AppStopArgs};

use crate::control::{self, Request};

/// How long add, start and rm may take (an add creates a container).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
/// What a stop may take beyond its own timeout: the reaping and recording.
const STOP_SLACK: Duration = Duration::from_secs(10);

fn check(uuid: &str) -> anyhow::Result<()> {
    let pod = load_manifest(uuid)?;
    if !pod.mutable {
        bail!("pod {uuid} is not a mutable pod (start one with `rukt app sandbox`)");
    }
    if !pod_is_running().context("cannot test the pod lock")? {
        bail!("pod {uuid} is not running");
    }
    Ok(())
}

/// `app-add`, `app-start` or `app-rm`, as `req` says.
pub fn change(args: &AppArgs, req: fn(String) -> Request) -> anyhow::Result<()> {
    check(&args.uuid)?;
    // The supervisor's answers name the app.
    control::call(&req(args.app.clone()), CHANGE_TIMEOUT)
}

/// `app-stop`.
pub fn stop(args: &AppStopArgs) -> anyhow::Result<()> {
    check(&args.uuid)?;
    let req = Request::Stop {
        app: args.app.clone(),
        force: args.force,
        timeout_secs: args.timeout_secs,
    };
    let wait = Duration::from_secs(args.timeout_secs) + STOP_SLACK;
    control::call(&req, wait)
}
