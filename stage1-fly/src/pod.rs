//! The pod as stage1 sees it from the pod directory (its working directory):
//! the manifest, checked against the UUID argument, and the root filesystem
//! of an app.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, bail};
use rukt_contract::{App, PodManifest, app_rootfs};
use rustix::fs::{CWD, Mode, OFlags};

/// The pod's only app: fly runs exactly one.
pub fn single_app(pod: &PodManifest) -> anyhow::Result<&App> {
    match pod.apps.as_slice() {
        [app] => Ok(app),
        [] => bail!("the pod has no app"),
        apps => bail!(
            "the fly stage1 runs one app per pod; this pod has {}",
            apps.len()
        ),
    }
}

/// The app called `name`.
pub fn app<'a>(pod: &'a PodManifest, name: &str) -> anyhow::Result<&'a App> {
    pod.app(name)
        .with_context(|| format!("the pod has no app {name:?}"))
}

/// An `O_PATH` descriptor of `app`'s root filesystem (the mount stage0 made).
pub fn open_rootfs(app: &App) -> anyhow::Result<OwnedFd> {
    let path = app_rootfs(&app.name);
    rustix::fs::open(
        &path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {path}"))
}

/// The absolute path of `app`'s root filesystem, as `/proc/self/mountinfo`
/// shows it (the working directory is the pod directory).
pub fn rootfs_path(app_name: &str) -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot get the pod directory's path")?;
    Ok(cwd.join(app_rootfs(app_name)))
}

/// Whether `pid`'s root directory is the directory `root` (same device and
/// inode): the process is chrooted into that app.
pub fn process_in_root(pid: u32, root: impl AsFd) -> std::io::Result<bool> {
    let theirs = rustix::fs::statat(
        CWD,
        format!("/proc/{pid}/root"),
        rustix::fs::AtFlags::empty(),
    )?;
    let ours = rustix::fs::fstat(root)?;
    Ok(theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino)
}
