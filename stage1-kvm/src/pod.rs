//! The pod as the kvm stage1 sees it from the pod directory (its working
//! directory): the manifest and the pod lock (through the contract's
//! runtime half), the stage1's private directory and the files it writes
//! for stage0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::runtime::{self, PodLock};
use rukt_contract::{PodManifest, STAGE1_DIR};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Reads `./pod` and checks it describes pod `uuid` in a version we speak
/// (with an app, unless it is a mutable pod).
pub fn load(uuid: &str) -> anyhow::Result<PodManifest> {
    let pod = runtime::load_manifest(uuid)?;
    if pod.apps.is_empty() && !pod.mutable {
        bail!("the pod has no app");
    }
    Ok(pod)
}

/// The pod directory's absolute path.
pub fn dir() -> anyhow::Result<PathBuf> {
    std::env::current_dir().context("cannot get the pod directory's path")
}

/// `stage1/` in the pod directory, created (private to root) if needed.
pub fn stage1_dir(pod_dir: &Path) -> anyhow::Result<PathBuf> {
    let d = pod_dir.join(STAGE1_DIR);
    match rustix::fs::mkdir(&d, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => Ok(d),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", d.display())),
    }
}

/// Takes over the pod lock stage0 passed and marks it close-on-exec: qemu
/// and virtiofsd must not hold it, so the pod is over when this process is.
pub fn inherited_lock() -> anyhow::Result<PodLock> {
    let lock = PodLock::inherited()?;
    rustix::io::fcntl_setfd(&lock, rustix::io::FdFlags::CLOEXEC)
        .context("cannot mark the pod lock close-on-exec")?;
    Ok(lock)
}

/// Whether someone holds the pod lock.
pub fn is_running() -> anyhow::Result<bool> {
    runtime::pod_is_running().context("cannot test the pod lock")
}

/// Waits up to `timeout` for the pod lock to be released; whether it was.
pub fn wait_stopped(timeout: Duration) -> anyhow::Result<bool> {
    runtime::wait_released(timeout).context("cannot test the pod lock")
}

/// Writes `name` in directory `dir` (relative to the pod directory, created
/// if needed; `.` for the pod directory itself) atomically.
pub fn write_file(dir: &str, name: &str, data: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {dir}"))?;
    runtime::write_atomic(&fd, name, data).with_context(|| format!("cannot write {dir}/{name}"))
}

/// The control socket the supervisor listens on for `enter` and `stop`.
pub fn control_socket(stage1: &Path) -> PathBuf {
    stage1.join("control.sock")
}
