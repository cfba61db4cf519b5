//! Starting a pod: mount each app's root filesystem, hand the pod lock to
//! stage1 on an inherited descriptor, and exec the stage1 `run`
//! entrypoint. On success this never returns: the caller's process becomes
//! the pod.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

use rukt_contract::{ENV_LOCK_FD, PodManifest, RunArgs};
use rukt_images::store::FileLock;

use super::mount::{mount_overlay, unmount_below};
use super::prepare::app_lowers;
use super::{Pod, PodError, io_err};

/// Runtime choices not kept in the manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Pass `--debug` to stage1.
    pub debug: bool,
    /// Give the app the terminal.
    pub interactive: bool,
}

/// Mounts the apps' roots and execs stage1. The pod must be in `run/` and
/// locked by `lock`. Returns only on failure (the mounts are undone).
pub fn exec_stage1(
    store_root: &Path,
    pod: &Pod,
    lock: FileLock,
    manifest: &PodManifest,
    opts: RunOptions,
) -> PodError {
    if let Err(e) = mount_apps(store_root, pod, manifest) {
        let _ = unmount_below(&pod.path.join("apps"));
        return e;
    }
    let fd = lock.file().as_raw_fd();
    // The lock must survive exec: stage1 (and what it execs) keeps it.
    if let Err(e) = rustix::io::fcntl_setfd(lock.file(), rustix::io::FdFlags::empty()) {
        let _ = unmount_below(&pod.path.join("apps"));
        return io_err("pass the lock of", &pod.path)(e.into());
    }
    let args = RunArgs {
        debug: opts.debug,
        interactive: opts.interactive,
        uuid: pod.uuid.clone(),
    };
    let err = crate::exe_guard::command(&manifest.stage1.path)
        .args(args.to_argv())
        .env(ENV_LOCK_FD, fd.to_string())
        .current_dir(&pod.path)
        .exec();
    // Still here: exec failed.
    let _ = unmount_below(&pod.path.join("apps"));
    drop(lock);
    PodError::Io {
        action: "execute stage1",
        path: manifest.stage1.path.clone(),
        source: err,
    }
}

fn mount_apps(store_root: &Path, pod: &Pod, manifest: &PodManifest) -> Result<(), PodError> {
    for app in &manifest.apps {
        let target = pod.path.join(rukt_contract::app_rootfs(&app.name));
        let mut lowers = app_lowers(store_root, app);
        // overlayfs needs a lower layer.
        if lowers.is_empty() {
            let empty = pod.path.join("overlay").join(&app.name).join("empty");
            std::fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
            lowers.push(empty);
        }
        let upper = pod.path.join("overlay").join(&app.name).join("upper");
        let work = pod.path.join("overlay").join(&app.name).join("work");
        // Always writable here: stage1 creates its mount points, then makes
        // the root read-only itself when the app asks for it.
        mount_overlay(&target, &lowers, Some((upper.as_path(), work.as_path())))
            .map_err(io_err("mount the root filesystem at", &target))?;
    }
    Ok(())
}
