//! `enter`: runs a command inside a running app, confined exactly as the
//! app: libcontainer's tenant process joins every namespace of the app's
//! init and its cgroup, and takes the app's configuration (user, groups,
//! capabilities, no_new_privs, seccomp filter, environment, working dir),
//! never more (rkt's `enter` gave root in the pod's namespaces with every
//! capability). Its exit status is this process's.

use anyhow::{Context, bail};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use rukt_contract::runtime::{load_manifest, pod_is_running};
use rukt_contract::{EnterArgs, exit_code_from_wait_status};

use crate::apps;
use crate::executor::AppExecutor;
use crate::signals::{self, Signals, Wake};

/// Runs the command; returns its exit code.
pub fn enter(args: &EnterArgs) -> anyhow::Result<u8> {
    let pod = load_manifest(&args.uuid)?;
    if pod.app(&args.app).is_none() {
        bail!("the pod has no app {:?}", args.app);
    }
    if !pod_is_running().context("cannot test the pod lock")? {
        bail!("the pod is not running");
    }
    let pod_dir = std::env::current_dir().context("cannot get the pod directory's path")?;
    let container = apps::load(&pod_dir, &args.app)?;
    if container.pid().is_none() {
        bail!("app {} is not running", args.app);
    }
    let spec = Spec::load(container.bundle().join("config.json"))
        .with_context(|| format!("cannot read the configuration of app {}", args.app))?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    if seccomp.is_none() {
        bail!("app {} has no seccomp filter to enter with", args.app);
    }
    let signals = Signals::block().context("cannot block signals")?;
    let pid = ContainerBuilder::new(args.app.clone(), SyscallType::default())
        .with_root_path(apps::state_root(&pod_dir))
        .context("invalid state directory")?
        .with_executor(AppExecutor { seccomp })
        .as_tenant()
        .with_container_args(args.command.clone())
        .with_detach(true)
        .build()
        .with_context(|| format!("cannot run {:?} in app {}", args.command, args.app))?
        .as_raw();
    loop {
        match signals.wait(None, &[]) {
            Wake::Forward(sig) => signals::send(pid, sig),
            _ => {
                let mut status = 0;
                // SAFETY: waitpid writes the status into our local.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    return Ok(exit_code_from_wait_status(status));
                }
            }
        }
    }
}
