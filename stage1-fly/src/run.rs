//! `run [--debug] [--interactive] UUID`: becomes the pod's only app.
//!
//! In the host's mount namespace (nothing is unshared): mount the host's
//! `/dev`, `/proc`, `/sys`, a `/tmp` and the volumes into the app's root,
//! write `pid` and `status/`, start the exit-status watcher, write `ready`
//! (and `app_started`, `pod_started` in the event journal), then chroot,
//! switch user and exec the app, which inherits the pod lock.
//! If anything fails before the exec, the mounts are undone (where we still
//! can: once the app's user is not root, `gc` does it) and we exit 254.
//! `--interactive` changes nothing: the app already has the caller's
//! terminal.

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use rukt_contract::{App, PID_FILE, PodManifest, READY_FILE, RunArgs, STATUS_DIR};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::PidfdFlags;
use tracing::debug;

use crate::exec::{self, Launch};
use crate::{mounts, notify, pod, watcher};
use rukt_contract::runtime::PodLock;
use rukt_contract::runtime::events::PodEvents;

/// Runs the pod; returns only on failure.
pub fn run(args: &RunArgs) -> anyhow::Result<Infallible> {
    let pod = rukt_contract::runtime::load_manifest(&args.uuid)?;
    let app = pod::single_app(&pod)?;
    if app.exec.is_empty() {
        bail!("app {:?} has no command to execute", app.name);
    }
    let lock = PodLock::inherited()?;
    let root = pod::open_rootfs(app)?;
    let rootfs = pod::rootfs_path(&app.name)?;
    // To come back out of the chroot if the exec fails.
    let host_root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("cannot open /")?;
    debug!(
        "pod {}: app {:?} in {}",
        pod.uuid,
        app.name,
        rootfs.display()
    );

    let err = match start(&pod, app, &lock, &root) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let Err(undo) = undo_mounts(&host_root, &rootfs) {
        debug!("mounts left for gc: {undo:#}");
    }
    Err(err)
}

/// Everything from the first mount to the exec.
fn start(
    pod: &PodManifest,
    app: &App,
    lock: &PodLock,
    root: &OwnedFd,
) -> anyhow::Result<Infallible> {
    mounts::setup(pod, app, root.as_fd())?;
    if app.readonly_rootfs {
        // Only now: the mount points above had to be created first. A bind
        // remount changes this mount alone; /dev, /proc, volumes keep theirs.
        let rootfs = pod::rootfs_path(&app.name)?;
        rustix::mount::mount_remount(
            &rootfs,
            rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
            "",
        )
        .with_context(|| format!("cannot make {} read-only", rootfs.display()))?;
    }

    let pod_dir = rustix::fs::open(
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("cannot open the pod directory")?;
    let me = rustix::process::getpid();
    rukt_contract::runtime::write_atomic(
        &pod_dir,
        PID_FILE,
        me.as_raw_nonzero().to_string().as_bytes(),
    )
    .with_context(|| format!("cannot write {PID_FILE}"))?;
    match rustix::fs::mkdirat(&pod_dir, STATUS_DIR, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {STATUS_DIR}/")),
    }
    let status_dir = rustix::fs::openat(
        &pod_dir,
        STATUS_DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {STATUS_DIR}/"))?;
    let pidfd = rustix::process::pidfd_open(me, PidfdFlags::empty())
        .context("cannot open a pidfd of this process")?;
    let events = PodEvents::new(pod, "fly");
    watcher::spawn(pidfd.as_fd(), status_dir.as_fd(), &app.name, &events)?;
    drop((pidfd, status_dir));
    rukt_contract::runtime::write_atomic(&pod_dir, READY_FILE, b"")
        .with_context(|| format!("cannot write {READY_FILE}"))?;

    let mut env = exec::environment(app);
    let mut keep = vec![lock.as_fd().as_raw_fd()];
    keep.extend(crate::listen::hand_on(&mut env));
    notify::give_app(pod, root.as_fd(), &mut env)?;
    let launch = Launch {
        root: root.as_fd(),
        app,
        argv: &app.exec,
        env,
    };
    // This process becomes the app: ready now (sd_notify, `MAINPID` is the
    // app's), unless the app says so itself; and started as far as the
    // journal can tell (a failed exec is recorded as the app's exit, 254, by
    // the watcher).
    if notify::engine_ready(pod) {
        rukt_contract::sdnotify::pod_ready(1);
    }
    events.app_started(&app.name);
    events.pod_started();
    exec::launch(&launch, &keep)
}

/// Leaves the chroot if we are in it (possible while still root), then
/// unmounts everything below the app's root.
fn undo_mounts(host_root: &OwnedFd, rootfs: &Path) -> anyhow::Result<()> {
    rustix::process::fchdir(host_root).context("cannot return to the host's root")?;
    rustix::process::chroot(".").context("cannot leave the app's root")?;
    Ok(rukt_sys::unmount::unmount_inside(rootfs)?)
}
