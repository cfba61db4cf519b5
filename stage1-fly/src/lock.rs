//! The pod lock: an exclusive `flock` on the pod directory. The pod is
//! running exactly while some process holds it; `run` gets it from stage0 on
//! the descriptor named by `RUKT_LOCK_FD` and hands it to the app.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rukt_contract::ENV_LOCK_FD;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// The lock descriptor `run` inherited from stage0.
pub struct PodLock(OwnedFd);

impl PodLock {
    /// Takes over the descriptor named by `RUKT_LOCK_FD`, after checking it is
    /// an open descriptor of the pod directory and holds the lock.
    pub fn inherited() -> anyhow::Result<PodLock> {
        let value =
            std::env::var_os(ENV_LOCK_FD).with_context(|| format!("{ENV_LOCK_FD} is not set"))?;
        let value = value.to_string_lossy();
        let fd: RawFd = value
            .parse()
            .ok()
            .filter(|fd| *fd > 2)
            .with_context(|| format!("{ENV_LOCK_FD}={value:?} is not a file descriptor"))?;
        // SAFETY: F_GETFD only queries the descriptor table; on a number that
        // is not an open descriptor it fails with EBADF.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            bail!("{ENV_LOCK_FD}={fd} is not an open file descriptor");
        }
        // SAFETY: the descriptor is open (checked above) and stage0 gave it to
        // us for our own: nothing else in this process uses or closes it.
        let lock = PodLock(unsafe { OwnedFd::from_raw_fd(fd) });
        let (ours, pod) = (rustix::fs::fstat(&lock.0)?, rustix::fs::stat(".")?);
        if (ours.st_dev, ours.st_ino) != (pod.st_dev, pod.st_ino) {
            bail!("{ENV_LOCK_FD}={fd} is not a descriptor of the pod directory");
        }
        // On the descriptor that already holds the lock this is a no-op; it
        // fails only if another process holds a lock on the pod.
        rustix::fs::flock(&lock.0, FlockOperation::NonBlockingLockExclusive)
            .context("the pod lock is held by another process")?;
        Ok(lock)
    }
}

impl AsFd for PodLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Whether someone holds the pod lock: a shared, non-blocking `flock` of the
/// pod directory (`.`) on a descriptor of our own fails.
pub fn pod_is_running() -> anyhow::Result<bool> {
    let dir = rustix::fs::open(
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("cannot open the pod directory")?;
    match rustix::fs::flock(&dir, FlockOperation::NonBlockingLockShared) {
        // Closing `dir` drops the lock we just took.
        Ok(()) => Ok(false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e).context("cannot test the pod lock"),
    }
}

/// Waits up to `timeout` for the pod lock to be released; whether it was.
pub fn wait_released(timeout: Duration) -> anyhow::Result<bool> {
    let start = Instant::now();
    loop {
        if !pod_is_running()? {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
