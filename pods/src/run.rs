//! Starting a pod: mount each app's root filesystem, hand the pod lock to
//! stage1 on an inherited descriptor, and exec the stage1 `run`
//! entrypoint. On success this never returns: the caller's process becomes
//! the pod.

use std::os::fd::AsRawFd;

use rukt_contract::{ENV_LOCK_FD, PodManifest, RunArgs};
use rukt_images::store::{FileLock, LockMode, Store};

use crate::images::AppImage;
use crate::mount::{mount_overlay, unmount_below};
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::prepare::Preparing;
use crate::stage1::Stage1;
use crate::state::Dir;

/// How to run a pod, beyond what its manifest says.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Pass `--debug` to stage1.
    pub debug: bool,
    /// Give the app the caller's terminal.
    pub interactive: bool,
}

/// Runs a pod just prepared by this process (`rukt run`). Returns only on
/// failure.
pub fn run_preparing(
    pods: &Pods,
    store: &Store,
    preparing: Preparing,
    opts: RunOptions,
) -> PodError {
    let pod = match pods.move_to(&preparing.pod, Dir::Run) {
        Ok(pod) => pod,
        Err(e) => return e,
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
pub fn run_prepared(pods: &Pods, store: &Store, pod: &Pod, opts: RunOptions) -> PodError {
    let start = || -> Result<(Pod, FileLock, PodManifest), PodError> {
        if pod.dir != Dir::Prepared {
            return Err(PodError::WrongState {
                uuid: pod.uuid,
                state: pod.state(),
                hint: "only a prepared pod can be run with run-prepared",
            });
        }
        let lock = pod
            .try_lock(LockMode::Exclusive)?
            .ok_or(PodError::Busy(pod.uuid))?;
        // It may have been moved (gc, another run-prepared) before we locked it.
        let Some(pod) = pods.refind(pod.uuid).filter(|p| p.dir == Dir::Prepared) else {
            return Err(PodError::NoLongerPrepared(pod.uuid));
        };
        let manifest = pod.manifest()?;
        let pod = pods.move_to(&pod, Dir::Run)?;
        Ok((pod, lock, manifest))
    };
    match start() {
        Ok((pod, lock, manifest)) => {
            let stage1 = Stage1::of(&manifest);
            exec_stage1(store, &pod, lock, &manifest, &stage1, opts)
        }
        Err(e) => e,
    }
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
) -> PodError {
    let apps = pod.path.join("apps");
    if let Err(e) = mount_apps(store, pod, manifest) {
        let _ = unmount_below(&apps);
        return e;
    }
    let fd = lock.file().as_raw_fd();
    // The lock must survive exec: stage1 (and what it execs) keeps it.
    if let Err(e) = rustix::io::fcntl_setfd(lock.file(), rustix::io::FdFlags::empty()) {
        let _ = unmount_below(&apps);
        return io_err("pass the lock of", &pod.path)(e.into());
    }
    let args = RunArgs {
        debug: opts.debug,
        interactive: opts.interactive,
        uuid: pod.uuid.to_string(),
    };
    let err = stage1.exec(pod, args.to_argv(), &[(ENV_LOCK_FD, fd.to_string())]);
    // Still here: exec failed.
    let _ = unmount_below(&apps);
    drop(lock);
    PodError::Io {
        action: "execute stage1",
        path: stage1.info().path.clone(),
        source: err,
    }
}

fn mount_apps(store: &Store, pod: &Pod, manifest: &PodManifest) -> Result<(), PodError> {
    for app in &manifest.apps {
        let target = pod.path.join(rukt_contract::app_rootfs(&app.name));
        let mut lowers = AppImage::of(app).lowers(store);
        let overlay = pod.path.join("overlay").join(&app.name);
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
            .map_err(io_err("mount the root filesystem at", &target))?;
    }
    Ok(())
}
