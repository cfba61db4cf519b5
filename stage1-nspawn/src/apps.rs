//! Creating, starting and deleting an app's container with libcontainer.
//! Each app is one container in the pod's state directory
//! (`containers/<app>` in its run directory, [`crate::rundir`]), made from
//! a bundle whose `config.json` is [`crate::spec::config`]; its init is a
//! direct child of the supervisor.

use std::path::{Path, PathBuf};

use anyhow::Context;
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use serde_json::Value;

use crate::executor::AppExecutor;

/// Where libcontainer keeps the pod's container state, in its run
/// directory ([`crate::rundir`]).
const STATE_DIR: &str = "containers";
/// Where the apps' bundles are, in the pod's run directory.
const BUNDLE_DIR: &str = "bundles";

/// The state root of the pod at `pod_dir`.
pub fn state_root(pod_dir: &Path) -> PathBuf {
    crate::rundir::of(pod_dir).join(STATE_DIR)
}

/// The bundle of `app` in the pod at `pod_dir`.
pub fn bundle(pod_dir: &Path, app: &str) -> PathBuf {
    crate::rundir::of(pod_dir).join(BUNDLE_DIR).join(app)
}

/// The compiled seccomp filter of an app, in its bundle (for `enter`);
/// empty for an app that runs without one.
pub const SECCOMP_FILE: &str = "seccomp.bpf";
/// Its description (OCI `linux.seccomp`), for people and tools.
pub const SECCOMP_JSON: &str = "seccomp.json";

/// Writes `config` and the `seccomp` filter (described and compiled; none
/// for an unconfined app) as `app`'s bundle and
/// creates its container (the init waits for [`Container::start`]). With
/// `console`, libcontainer sends the master of the app's terminal to that
/// socket; with `io`, the app's stdout and stderr are those descriptors
/// and it keeps `io.preserve` descriptors from fd 3 (socket activation's).
pub fn create(
    pod_dir: &Path,
    app: &rukt_contract::App,
    config: &Value,
    seccomp: Option<(&Value, Vec<u8>)>,
    console: Option<&Path>,
    io: AppIo,
) -> anyhow::Result<Container> {
    let (name, late_filter) = (app.name.as_str(), app.security.allow_new_privileges);
    let app = name;
    let bundle = bundle(pod_dir, app);
    std::fs::create_dir_all(&bundle)
        .with_context(|| format!("cannot create {}", bundle.display()))?;
    let data = serde_json::to_vec_pretty(config).expect("a JSON value serialises");
    std::fs::write(bundle.join("config.json"), data)
        .and_then(|()| match &seccomp {
            Some((described, _)) => {
                std::fs::write(bundle.join(SECCOMP_JSON), described.to_string())
            }
            None => Ok(()),
        })
        .and_then(|()| {
            std::fs::write(
                bundle.join(SECCOMP_FILE),
                seccomp.as_ref().map_or(&[][..], |s| &s.1),
            )
        })
        .with_context(|| format!("cannot write the bundle of app {app}"))?;
    let root = state_root(pod_dir);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    ensure_single_threaded()?;
    let mut builder = ContainerBuilder::new(app.to_string(), SyscallType::default())
        .with_preserved_fds(io.preserve);
    if let Some((out, err)) = io.output {
        builder = builder.with_stdout(out).with_stderr(err);
    }
    if let Some(stdin) = io.stdin {
        builder = builder.with_stdin(stdin);
    }
    builder
        .with_root_path(&root)
        .with_context(|| format!("app {app}: invalid state directory"))?
        .with_executor(AppExecutor {
            // libcontainer installs it itself when no_new_privs is off.
            seccomp: seccomp.map(|s| s.1).filter(|_| !late_filter),
        })
        .with_console_socket(console)
        .validate_id()
        .with_context(|| format!("app {app}: invalid container id"))?
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .with_context(|| format!("cannot create app {app} (--debug shows libcontainer's log)"))
}

/// An app's descriptors beyond its root: its output pipes (none: the
/// supervisor's stdio) and how many descriptors from fd 3 it keeps.
#[derive(Default)]
pub struct AppIo {
    /// Its stdout and stderr.
    pub output: Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>,
    /// Descriptors `3..3+preserve` it inherits.
    pub preserve: i32,
    /// Its stdin (an attach point's pipe), instead of the supervisor's.
    pub stdin: Option<std::os::fd::OwnedFd>,
}

/// libcontainer clones without glibc's fork handlers: with a second thread
/// holding a lock (malloc's, tracing's) the clone could deadlock. This
/// binary never starts one; check it rather than trust it.
pub fn ensure_single_threaded() -> anyhow::Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok());
    match threads {
        Some(1) => Ok(()),
        other => anyhow::bail!(
            "libcontainer must be called from a single-threaded process (threads: {other:?})"
        ),
    }
}

/// Loads app `app`'s container from the pod at `pod_dir`.
pub fn load(pod_dir: &Path, app: &str) -> anyhow::Result<Container> {
    Container::load(state_root(pod_dir).join(app))
        .with_context(|| format!("app {app} has no container state"))
}

/// Removes an exited app's container (its state and cgroup), quietly: the
/// pod's cgroup tree and directory are removed after it anyway.
pub fn delete(mut container: Container) {
    if let Err(e) = container.delete(true) {
        tracing::warn!("cannot delete container {}: {e}", container.id());
    }
}
