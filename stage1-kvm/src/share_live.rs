//! Changing a running pod's share (mutable pods): an added app's root and
//! its own host volumes are bound into virtiofsd's mount namespace, where
//! the share's first binds live ([`crate::share`]), and unbound from there
//! when the app is removed. The source is cloned on the host as a detached
//! tree (`open_tree`), made read-only there if asked, and attached with
//! `move_mount` by a short-lived thread that entered virtiofsd's mount
//! namespace (its own filesystem context unshared first, so the rest of the
//! supervisor never leaves the host's). Inside that namespace virtiofsd has
//! made the share its root, so targets are share-relative paths from `/`.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::Context;
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Binds `source` (a host directory) at `rel` in the share served by
/// virtiofsd `pid`, read-only if asked; the mount point is created in
/// `share_dir` on the host first.
pub fn bind(
    pid: u32,
    share_dir: &Path,
    rel: &str,
    source: &Path,
    read_only: bool,
) -> anyhow::Result<()> {
    let target = share_dir.join(rel);
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .with_context(|| format!("cannot clone the mounts at {}", source.display()))?;
    if read_only {
        // Its top only, as the binds made at boot (`share`): a mount below
        // a read-only volume keeps its own flags.
        rukt_sys::view::make_top_readonly(&tree)
            .with_context(|| format!("cannot make {} read-only", source.display()))?;
    }
    let at = format!("/{rel}");
    in_namespace_of(pid, move || {
        rustix::mount::move_mount(
            tree.as_fd(),
            "",
            rustix::fs::CWD,
            at.as_str(),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .with_context(|| format!("cannot bind {} into the pod's share", source.display()))
}

/// Detaches what is bound at `rel` in virtiofsd `pid`'s share and removes
/// the mount point; gone already is not an error.
pub fn unbind(pid: u32, share_dir: &Path, rel: &str) -> anyhow::Result<()> {
    let at = format!("/{rel}");
    in_namespace_of(pid, move || {
        match rustix::mount::unmount(at.as_str(), UnmountFlags::DETACH) {
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
            other => other,
        }
    })
    .with_context(|| format!("cannot unbind {rel} from the pod's share"))?;
    let _ = std::fs::remove_dir(share_dir.join(rel));
    Ok(())
}

/// Runs `f` on a thread of its own inside the mount namespace of `pid`.
fn in_namespace_of(
    pid: u32,
    f: impl FnOnce() -> rustix::io::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    let ns: OwnedFd = rustix::fs::open(
        format!("/proc/{pid}/ns/mnt"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open the mount namespace of virtiofsd (PID {pid})"))?;
    let worker = std::thread::spawn(move || -> std::io::Result<()> {
        // SAFETY: only the filesystem context (root, cwd, umask) is
        // unshared, for this thread alone, which ends right after; no
        // descriptor table is unshared.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }?;
        rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Mount))?;
        f()?;
        Ok(())
    });
    worker
        .join()
        .map_err(|_| anyhow::anyhow!("the namespace thread panicked"))?
        .map_err(anyhow::Error::from)
}
