//! Starting a pod: mount each app's root filesystem, hand the pod lock to
//! stage1 on an inherited descriptor, and exec the stage1 `run`
//! entrypoint. On success this never returns: the caller's process becomes
//! the pod.
//!
//! What stage1 inherits is exactly what the contract names: stdio, the pod
//! lock (`RUKT_LOCK_FD`) and, for an engine that hands them on, socket
//! activation's descriptors (`LISTEN_FDS`, from fd 3) and `NOTIFY_SOCKET`.
//! Any other descriptor the caller leaked is closed by the exec.

use std::os::fd::{AsRawFd, RawFd};

use rukt_contract::{
    APPS_DIR, App, ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID, ENV_LOCK_FD,
    ENV_NOTIFY_SOCKET, Feature, ListenFds, OVERLAY_DIR, PodManifest, RunArgs,
};
use rukt_images::store::{FileLock, LockMode, Store};

use crate::features::Unsupported;
use crate::images::AppImage;
use crate::mount::{mount_overlay, unmount_below};
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::prepare::Preparing;
use crate::stage1::{Stage1, Stage1Error};
use crate::state::Dir;

/// How to run a pod, beyond what its manifest says.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Pass `--debug` to stage1.
    pub debug: bool,
    /// Give the app the caller's terminal.
    pub interactive: bool,
}

/// Why a pod did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pod directory, its lock or its mounts failed.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The pod's stage1 is gone or unusable.
    #[error(transparent)]
    Stage1(#[from] Stage1Error),
    /// The stage1 would not do what the run asks.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
}

/// Runs a pod just prepared by this process (`rukt run`). Returns only on
/// failure.
pub fn run_preparing(
    pods: &Pods,
    store: &Store,
    preparing: Preparing,
    opts: RunOptions,
) -> RunError {
    if let Err(e) = preparing.stage1.require(run_needs(opts)) {
        return e.into();
    }
    let pod = match pods.move_to(&preparing.pod, Dir::Run) {
        Ok(pod) => pod,
        Err(e) => return e.into(),
    };
    exec_stage1(
        store,
        &pod,
        preparing.lock,
        &preparing.manifest,
        &preparing.stage1,
        opts,
    )
}

/// Runs a prepared pod (`rukt run-prepared`). Returns only on failure.
pub fn run_prepared(pods: &Pods, store: &Store, pod: &Pod, opts: RunOptions) -> RunError {
    let start = || -> Result<(Pod, FileLock, PodManifest, Stage1), RunError> {
        if pod.dir != Dir::Prepared {
            return Err(PodError::WrongState {
                uuid: pod.uuid,
                state: pod.state(),
                hint: "only a prepared pod can be run with run-prepared",
            }
            .into());
        }
        let lock = pod
            .try_lock(LockMode::Exclusive)?
            .ok_or(PodError::Busy(pod.uuid))?;
        // It may have been moved (gc, another run-prepared) before we locked it.
        let Some(pod) = pods.refind(pod.uuid).filter(|p| p.dir == Dir::Prepared) else {
            return Err(PodError::NoLongerPrepared(pod.uuid).into());
        };
        let manifest = pod.manifest()?;
        let stage1 = Stage1::for_pod(&pod, &manifest)?;
        stage1.require(run_needs(opts))?;
        let pod = pods.move_to(&pod, Dir::Run)?;
        Ok((pod, lock, manifest, stage1))
    };
    match start() {
        Ok((pod, lock, manifest, stage1)) => {
            exec_stage1(store, &pod, lock, &manifest, &stage1, opts)
        }
        Err(e) => e,
    }
}

/// What running (rather than the pod) asks of the engine.
fn run_needs(opts: RunOptions) -> impl Iterator<Item = Feature> {
    opts.interactive.then_some(Feature::Interactive).into_iter()
}

/// Mounts the apps' roots and execs stage1. The pod must be in `run/` and
/// locked by `lock`. Returns only on failure (the mounts are undone).
fn exec_stage1(
    store: &Store,
    pod: &Pod,
    lock: FileLock,
    manifest: &PodManifest,
    stage1: &Stage1,
    opts: RunOptions,
) -> RunError {
    let apps = pod.path.join(APPS_DIR);
    if let Err(e) = manifest
        .apps
        .iter()
        .try_for_each(|app| mount_app(store, pod, app))
    {
        let _ = unmount_below(&apps);
        return e.into();
    }
    let lock_fd = lock.file().as_raw_fd();
    let (mut keep, remove_env) = passed_on(stage1);
    keep.push(lock_fd);
    let args = RunArgs {
        debug: opts.debug,
        interactive: opts.interactive,
        uuid: pod.uuid.to_string(),
    };
    let env = [(ENV_LOCK_FD, lock_fd.to_string())];
    let err = stage1.exec(pod, args.to_argv(), &env, &remove_env, keep);
    // Still here: exec failed.
    let _ = unmount_below(&apps);
    drop(lock);
    PodError::Io {
        action: "execute stage1",
        path: stage1.info().path.clone(),
        source: err,
    }
    .into()
}

/// The descriptors and variables of systemd's protocols the caller gave us
/// that `stage1` hands on (kept), and the variables of those it would not
/// (removed, with a warning: a unit waiting for them would wait in vain).
fn passed_on(stage1: &Stage1) -> (Vec<RawFd>, Vec<&'static str>) {
    let mut keep = Vec::new();
    let mut remove = Vec::new();
    if let Some(fds) = ListenFds::from_env() {
        if stage1.enforces(Feature::ListenFds) {
            keep.extend(fds.fds());
        } else {
            tracing::warn!(
                "the {} stage1 does not hand on socket-activated descriptors; closing {}",
                stage1.info().flavor,
                fds.count
            );
            remove.extend([ENV_LISTEN_FDS, ENV_LISTEN_FDNAMES, ENV_LISTEN_PID]);
        }
    }
    if std::env::var_os(ENV_NOTIFY_SOCKET).is_some() && !stage1.enforces(Feature::NotifySocket) {
        tracing::warn!(
            "the {} stage1 does not notify systemd; not passing {ENV_NOTIFY_SOCKET} on",
            stage1.info().flavor
        );
        remove.push(ENV_NOTIFY_SOCKET);
    }
    (keep, remove)
}

/// Creates the directories of `app` in `pod`: its root's mount point and
/// its overlay's upper and work directories.
pub(crate) fn create_app_dirs(pod: &Pod, app: &str) -> Result<(), PodError> {
    let overlay = pod.path.join(OVERLAY_DIR).join(app);
    for dir in [
        pod.path.join(rukt_contract::app_rootfs(app)),
        overlay.join("upper"),
        overlay.join("work"),
    ] {
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    }
    Ok(())
}

/// Mounts `app`'s root: an overlay of its image's layers over its own upper
/// directory.
pub(crate) fn mount_app(store: &Store, pod: &Pod, app: &App) -> Result<(), PodError> {
    let target = pod.path.join(rukt_contract::app_rootfs(&app.name));
    let overlay = pod.path.join(OVERLAY_DIR).join(&app.name);
    let mut lowers = AppImage::of(app).lowers(store);
    // overlayfs needs a lower layer.
    if lowers.is_empty() {
        let empty = overlay.join("empty");
        std::fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
        lowers.push(empty);
    }
    let (upper, work) = (overlay.join("upper"), overlay.join("work"));
    // Always writable here: stage1 creates its mount points, then makes
    // the root read-only itself when the app asks for it.
    mount_overlay(&target, &lowers, Some((upper.as_path(), work.as_path())))
        .map_err(io_err("mount the root filesystem at", &target))
}

/// Unmounts `app`'s root and removes its directories (an app taken out of
/// a running pod).
pub(crate) fn unmount_app(pod: &Pod, app: &str) -> Result<(), PodError> {
    let dir = pod.path.join(APPS_DIR).join(app);
    unmount_below(&dir).map_err(io_err("unmount", &dir))?;
    for d in [dir, pod.path.join(OVERLAY_DIR).join(app)] {
        crate::remove::remove_pod_dir(&d).map_err(io_err("remove", &d))?;
    }
    Ok(())
}
