//! The stage1 half of the contract, as code (feature `runtime`): taking over
//! the pod lock stage0 passed, testing whether a pod is running, loading and
//! checking the pod manifest, and writing the small state files atomically.
//! Every stage1 engine needs exactly this; stage0 never uses it. The
//! engines' common `main` is in [`engine`], the pod's event journal
//! entries in [`events`].

pub mod applog;
pub mod engine;
pub mod events;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rukt_sys::atomic::Durability;
use rukt_sys::lock::{LockMode, flock};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::{ENV_LOCK_FD, INTERFACE_VERSION, POD_MANIFEST, PodManifest};

/// Why stage1 cannot take over its pod.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `RUKT_LOCK_FD` is missing or names no usable descriptor.
    #[error("{ENV_LOCK_FD}: {0}")]
    LockFd(String),
    /// Another process holds the pod lock.
    #[error("the pod lock is held by another process")]
    LockHeld,
    /// The manifest is unreadable or malformed.
    #[error("cannot read the pod manifest")]
    ManifestRead(#[source] std::io::Error),
    /// The manifest is not JSON of the expected shape.
    #[error("invalid pod manifest")]
    ManifestParse(#[source] serde_json::Error),
    /// The manifest does not fit this pod or this stage1.
    #[error("{0}")]
    Manifest(String),
    /// A system call failed.
    #[error("{0}")]
    Io(&'static str, #[source] std::io::Error),
}

/// The pod lock descriptor `run` inherited from stage0.
pub struct PodLock(OwnedFd);

impl PodLock {
    /// Takes over the descriptor named by `RUKT_LOCK_FD`, after checking it
    /// is an open descriptor of the pod directory (the working directory)
    /// and holds the lock.
    pub fn inherited() -> Result<PodLock, RuntimeError> {
        let value =
            std::env::var_os(ENV_LOCK_FD).ok_or_else(|| RuntimeError::LockFd("not set".into()))?;
        let value = value.to_string_lossy();
        let fd: RawFd =
            value.parse().ok().filter(|fd| *fd > 2).ok_or_else(|| {
                RuntimeError::LockFd(format!("{value:?} is not a file descriptor"))
            })?;
        let lock = PodLock(
            rukt_sys::fds::take_inherited(fd).map_err(|e| RuntimeError::LockFd(e.to_string()))?,
        );
        let io = |what| move |e: Errno| RuntimeError::Io(what, e.into());
        let ours = rustix::fs::fstat(&lock.0).map_err(io("cannot stat the lock descriptor"))?;
        let pod = rustix::fs::stat(".").map_err(io("cannot stat the pod directory"))?;
        if (ours.st_dev, ours.st_ino) != (pod.st_dev, pod.st_ino) {
            return Err(RuntimeError::LockFd(format!(
                "{fd} is not a descriptor of the pod directory"
            )));
        }
        // On the descriptor that already holds the lock this is a no-op; it
        // fails only if another process holds a lock on the pod.
        match flock(&lock.0, LockMode::Exclusive, false) {
            Ok(true) => Ok(lock),
            Ok(false) => Err(RuntimeError::LockHeld),
            Err(e) => Err(RuntimeError::Io("cannot lock the pod directory", e)),
        }
    }
}

impl AsFd for PodLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Whether someone holds the pod lock: a shared, non-blocking `flock` of the
/// pod directory (`.`) on a descriptor of our own fails.
pub fn pod_is_running() -> std::io::Result<bool> {
    let dir = rustix::fs::open(
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // Closing `dir` drops the lock we may just have taken.
    Ok(!flock(&dir, LockMode::Shared, false)?)
}

/// Waits up to `timeout` for the pod lock to be released; whether it was.
pub fn wait_released(timeout: Duration) -> std::io::Result<bool> {
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

/// Reads `./pod` and checks that it describes pod `uuid`, in an interface
/// version this crate speaks, with app names fit for paths.
pub fn load_manifest(uuid: &str) -> Result<PodManifest, RuntimeError> {
    let data = std::fs::read(POD_MANIFEST).map_err(RuntimeError::ManifestRead)?;
    let pod = PodManifest::from_json(&data).map_err(RuntimeError::ManifestParse)?;
    if pod.uuid != uuid {
        return Err(RuntimeError::Manifest(format!(
            "the pod manifest is for pod {}, not {uuid}",
            pod.uuid
        )));
    }
    let oldest = crate::MIN_INTERFACE_VERSION;
    if !(oldest..=INTERFACE_VERSION).contains(&pod.interface_version) {
        return Err(RuntimeError::Manifest(format!(
            "the pod manifest asks for interface version {}; this stage1 speaks {oldest} to {INTERFACE_VERSION}",
            pod.interface_version
        )));
    }
    if let Some(app) = pod.apps.iter().find(|a| !crate::valid_app_name(&a.name)) {
        return Err(RuntimeError::Manifest(format!(
            "invalid app name {:?} in the pod manifest",
            app.name
        )));
    }
    Ok(pod)
}

/// Writes `contents` to `name` in the directory `dir` atomically: to a
/// temporary name in the same directory, then renamed over the final one, so
/// a reader sees either nothing or the whole content. Not synced (as always):
/// these are a pod's small state files (`pid`, `ready`, `status/*`), and a
/// host crash ends the pod they describe.
pub fn write_atomic(dir: impl AsFd, name: &str, contents: &[u8]) -> std::io::Result<()> {
    rukt_sys::atomic::write_at(dir, name, contents, Durability::Volatile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        write_atomic(&dir, "pid", b"12").unwrap();
        write_atomic(&dir, "pid", b"3").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("pid")).unwrap(), b"3");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pid"]);
    }
}
