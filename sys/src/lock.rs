//! Advisory `flock(2)` locks: [`FileLock`] on files (the store's lock files,
//! a pod directory), with the unlink-safe open loop: a lock file may be
//! removed by whoever holds it exclusively, so after locking we check the
//! path still names the file we locked; and [`flock`] on any descriptor
//! (the pod lock a stage1 inherits).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once (e.g. fetches, against `image gc`).
    Shared,
    /// One holder.
    Exclusive,
}

/// A held lock; dropping the file releases it.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the lock on `path` (created if missing) is held.
    pub fn acquire(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        Self::lock(path, mode, true).map(|l| l.expect("blocking lock always returns a lock"))
    }

    /// Takes the lock if nobody holds a conflicting one; `None` otherwise.
    pub fn try_acquire(path: &Path, mode: LockMode) -> io::Result<Option<FileLock>> {
        Self::lock(path, mode, false)
    }

    fn lock(path: &Path, mode: LockMode, block: bool) -> io::Result<Option<FileLock>> {
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            if !flock(&file, mode, block)? {
                return Ok(None);
            }
            // Whoever held it exclusively may have unlinked it meanwhile.
            match std::fs::metadata(path) {
                Ok(m) if m.ino() == file.metadata()?.ino() => {
                    return Ok(Some(FileLock {
                        file,
                        path: path.to_path_buf(),
                    }));
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Converts a shared lock to exclusive without waiting; `false` when
    /// another holder prevents it (the lock may then have been dropped,
    /// as flock(2) conversion is not atomic).
    pub fn try_upgrade(&self) -> io::Result<bool> {
        flock(&self.file, LockMode::Exclusive, false)
    }

    /// Removes the lock file; call only while holding it exclusively.
    pub fn unlink(self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }

    /// Wraps an already-open file (e.g. a pod directory) as a lock.
    pub fn from_file(
        file: File,
        path: PathBuf,
        mode: LockMode,
        block: bool,
    ) -> io::Result<Option<FileLock>> {
        Ok(flock(&file, mode, block)?.then_some(FileLock { file, path }))
    }

    /// The locked file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Locks the open file `fd` in `mode`, waiting if `block`; `false` when it
/// does not wait and another holder prevents it. On a descriptor that
/// already holds the lock this is a no-op (or a conversion).
pub fn flock(fd: impl AsFd, mode: LockMode, block: bool) -> io::Result<bool> {
    let op = match (mode, block) {
        (LockMode::Shared, true) => FlockOperation::LockShared,
        (LockMode::Exclusive, true) => FlockOperation::LockExclusive,
        (LockMode::Shared, false) => FlockOperation::NonBlockingLockShared,
        (LockMode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
    };
    loop {
        match rustix::fs::flock(&fd, op) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = FileLock::acquire(&p, LockMode::Shared).unwrap();
        let b = FileLock::try_acquire(&p, LockMode::Shared).unwrap();
        assert!(b.is_some());
        assert!(
            FileLock::try_acquire(&p, LockMode::Exclusive)
                .unwrap()
                .is_none()
        );
        assert!(!a.try_upgrade().unwrap());
        drop(b);
        drop(a);
        let c = FileLock::try_acquire(&p, LockMode::Exclusive)
            .unwrap()
            .unwrap();
        c.unlink().unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn flock_on_a_directory_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let open = || File::open(dir.path()).unwrap();
        let held = FileLock::from_file(open(), dir.path().into(), LockMode::Exclusive, false)
            .unwrap()
            .unwrap();
        assert!(!flock(open(), LockMode::Shared, false).unwrap());
        // Again on the holder's own descriptor: still held.
        assert!(flock(held.file(), LockMode::Exclusive, false).unwrap());
        drop(held);
        assert!(flock(open(), LockMode::Shared, false).unwrap());
    }
}
