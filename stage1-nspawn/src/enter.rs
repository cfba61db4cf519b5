//! `enter`: runs a command inside a running app, confined exactly as the
//! app: libcontainer's tenant process joins every namespace of the app's
//! init and its cgroup, and takes the app's configuration (user, groups,
//! capabilities, no_new_privs, seccomp filter, environment, working dir),
//! never more (rkt's `enter` gave root in the pod's namespaces with every
//! capability). Its exit status is this process's.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use rukt_contract::runtime::{load_manifest, pod_is_running};
use rukt_contract::{EnterArgs, exit_code_from_wait_status};

use crate::apps;
use crate::console::{ConsoleSocket, Relay};
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
    // Without the app's filter the command would be less confined than the
    // app: no filter, no enter. An empty one is an unconfined app's.
    let seccomp = std::fs::read(container.bundle().join(apps::SECCOMP_FILE))
        .with_context(|| format!("cannot read the seccomp filter of app {}", args.app))?;
    let seccomp = (!seccomp.is_empty()).then_some(seccomp);
    let signals = Signals::block().context("cannot block signals")?;
    // The command runs with the app's own process settings (user, groups,
    // capabilities, no_new_privs, environment, working dir, limits): only
    // the arguments differ. libcontainer's tenant defaults would be root.
    // On a terminal it gets a pty of its own, as with `--interactive`.
    let tty = std::io::stdin().is_terminal();
    let me = std::process::id();
    let process_file = crate::rundir::of(&pod_dir).join(format!("enter-{me}.json"));
    let mut process = spec.process().clone().context("the app has no process")?;
    process
        .set_terminal(Some(tty))
        .set_args(Some(args.command.clone()));
    std::fs::write(&process_file, serde_json::to_vec(&process)?)
        .context("cannot write the command's settings")?;
    let console = if tty {
        Some(ConsoleSocket::listen(
            &pod_dir,
            &format!("enter-{me}.sock"),
        )?)
    } else {
        None
    };
    apps::ensure_single_threaded()?;
    let built = ContainerBuilder::new(args.app.clone(), SyscallType::default())
        .with_root_path(apps::state_root(&pod_dir))
        .context("invalid state directory")?
        .with_executor(AppExecutor { seccomp })
        .with_console_socket(console.as_ref().map(|c| c.path.as_path()))
        .as_tenant()
        .with_container_args(args.command.clone())
        .with_process(Some(&process_file))
        .with_detach(true)
        .build();
    let _ = std::fs::remove_file(&process_file);
    let pid = built
        .with_context(|| format!("cannot run {:?} in app {}", args.command, args.app))?
        .as_raw();
    let mut relay = console
        .map(ConsoleSocket::receive)
        .transpose()?
        .map(Relay::new);
    loop {
        let fds = relay.as_ref().map(Relay::fds).unwrap_or_default();
        let wake = signals.wait(None, &fds);
        drop(fds);
        match wake {
            Wake::Forward(sig) => signals::send(pid, sig),
            Wake::Resize => {
                if let Some(r) = &relay {
                    r.resize();
                }
            }
            Wake::Ready(i) => Relay::on_ready(&mut relay, i),
            _ => {
                let mut status = 0;
                // SAFETY: waitpid writes the status into our local.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    if let Some(mut r) = relay.take() {
                        r.drain();
                    }
                    return Ok(exit_code_from_wait_status(status));
                }
            }
        }
    }
}
