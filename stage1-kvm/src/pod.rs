//! The pod as the kvm stage1 sees it from the pod directory (its working
//! directory): the manifest, checked against the UUID argument; the pod
//! lock; the stage1's private directory and the files it writes for stage0.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rukt_contract::{ENV_LOCK_FD, INTERFACE_VERSION, POD_MANIFEST, PodManifest, STAGE1_DIR};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// Reads `./pod` and checks it describes pod `uuid` in a version we speak.
pub fn load(uuid: &str) -> anyhow::Result<PodManifest> {
    let data = std::fs::read(POD_MANIFEST).context("cannot read the pod manifest")?;
    let pod = PodManifest::from_json(&data).context("invalid pod manifest")?;
    if pod.uuid != uuid {
        bail!("the pod manifest is for pod {}, not {uuid}", pod.uuid);
    }
    if pod.interface_version != INTERFACE_VERSION {
        bail!(
            "the pod manifest asks for interface version {}; this stage1 speaks {INTERFACE_VERSION}",
            pod.interface_version
        );
    }
    if let Some(a) = pod
        .apps
        .iter()
        .find(|a| !rukt_contract::valid_app_name(&a.name))
    {
        bail!("invalid app name {:?} in the pod manifest", a.name);
    }
    if pod.apps.is_empty() {
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

/// Takes over the lock descriptor stage0 passed in `RUKT_LOCK_FD`, checked
/// to be a descriptor of the pod directory holding the lock, and marks it
/// close-on-exec: qemu and virtiofsd must not hold the pod lock, so the pod
/// is over when this process is.
pub fn inherited_lock() -> anyhow::Result<OwnedFd> {
    let value = std::env::var(ENV_LOCK_FD).with_context(|| format!("{ENV_LOCK_FD} is not set"))?;
    let fd: i32 = value
        .parse()
        .ok()
        .filter(|fd| *fd > 2)
        .with_context(|| format!("{ENV_LOCK_FD}={value:?} is not a file descriptor"))?;
    // SAFETY: F_GETFD only queries the descriptor table (EBADF if not open).
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("{ENV_LOCK_FD}={fd} is not an open file descriptor");
    }
    // SAFETY: open (checked above), and stage0 handed it to us to own.
    let lock = unsafe { OwnedFd::from_raw_fd(fd) };
    let (ours, pod) = (rustix::fs::fstat(&lock)?, rustix::fs::stat(".")?);
    if (ours.st_dev, ours.st_ino) != (pod.st_dev, pod.st_ino) {
        bail!("{ENV_LOCK_FD}={fd} is not a descriptor of the pod directory");
    }
    rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive)
        .context("the pod lock is held by another process")?;
    rustix::io::fcntl_setfd(&lock, rustix::io::FdFlags::CLOEXEC)
        .with_context(|| format!("cannot mark fd {} close-on-exec", lock.as_raw_fd()))?;
    Ok(lock)
}

/// Whether someone holds the pod lock.
pub fn is_running() -> anyhow::Result<bool> {
    let dir = rustix::fs::open(
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("cannot open the pod directory")?;
    match rustix::fs::flock(&dir, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e).context("cannot test the pod lock"),
    }
}

/// Waits up to `timeout` for the pod lock to be released; whether it was.
pub fn wait_stopped(timeout: std::time::Duration) -> anyhow::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !is_running()? {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Writes `data` to `rel` in the pod directory atomically.
pub fn write_file(rel: &str, data: &[u8]) -> anyhow::Result<()> {
    let path = Path::new(rel);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crate::cache::write_atomic(path, data)
}

/// The control socket the supervisor listens on for `enter` and `stop`.
pub fn control_socket(stage1: &Path) -> PathBuf {
    stage1.join("control.sock")
}
