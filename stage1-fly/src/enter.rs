//! `enter [--debug] --pid=PID --app=NAME UUID -- [CMD ARGS...]`: runs a
//! command in a running fly app, as the app would: chrooted into its root,
//! in its working directory, as its user (never with more privilege), with
//! its environment (plus the caller's `TERM`). The command replaces this
//! process, so its exit code is ours.

use std::convert::Infallible;

use anyhow::{Context, bail};
use rukt_contract::EnterArgs;

use crate::exec::{self, Launch};
use crate::pod;

/// Enters the app; returns only on failure.
pub fn enter(args: &EnterArgs) -> anyhow::Result<Infallible> {
    let pod = rukt_contract::runtime::load_manifest(&args.uuid)?;
    let app = pod::app(&pod, &args.app)?;
    if !rukt_contract::runtime::pod_is_running().context("cannot test the pod lock")? {
        bail!("pod is not running");
    }
    let root = pod::open_rootfs(app)?;
    let pid = args.pid;
    let inside = pod::process_in_root(pid, &root)
        .with_context(|| format!("cannot inspect process {pid}"))?;
    if !inside {
        bail!("process {pid} is not running in app {:?}", app.name);
    }
    let mut env = exec::environment(app);
    if let Ok(term) = std::env::var("TERM") {
        exec::set_var(&mut env, "TERM", &term);
    }
    let shell = ["/bin/sh".to_string()];
    let argv = if args.command.is_empty() {
        &shell[..]
    } else {
        &args.command[..]
    };
    let launch = Launch {
        root: std::os::fd::AsFd::as_fd(&root),
        app,
        argv,
        env,
    };
    exec::launch(&launch, &[])
}
