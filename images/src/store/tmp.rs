//! Per-process scratch directories under `tmp/`, each guarded by a lock
//! file its owner holds for its lifetime, so that the leftovers of a process
//! killed with SIGKILL are recognised (their lock is free) and removed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::debug;

use super::fsutil::remove_any;
use super::{FileLock, LockMode};

/// A scratch directory that is removed when dropped.
#[derive(Debug)]
pub struct TmpArea {
    dir: PathBuf,
    lock: Option<FileLock>,
    counter: AtomicU64,
}

impl TmpArea {
    /// Creates `tmp/<unique>/` under `tmp_root` with its lock held.
    pub fn create(tmp_root: &Path) -> io::Result<TmpArea> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let name = format!("{}-{nanos:x}-{attempt}", std::process::id());
            let lock_path = tmp_root.join(format!("{name}.lock"));
            if lock_path.exists() {
                continue;
            }
            let lock = FileLock::acquire(&lock_path, LockMode::Exclusive)?;
            let dir = tmp_root.join(&name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    return Ok(TmpArea {
                        dir,
                        lock: Some(lock),
                        counter: AtomicU64::new(0),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("cannot create a unique scratch directory"))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A fresh, unused path inside the area.
    pub fn unique(&self, stem: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{stem}-{n}"))
    }
}

impl Drop for TmpArea {
    fn drop(&mut self) {
        if let Err(e) = remove_any(&self.dir) {
            debug!(dir = %self.dir.display(), error = %e, "cannot remove scratch directory");
        }
        if let Some(lock) = self.lock.take() {
            let _ = lock.unlink();
        }
    }
}

/// Removes scratch directories whose owner is gone; returns how many.
/// With `all`, removes everything (the caller holds the store exclusively).
pub fn clean_stale(tmp_root: &Path, all: bool) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(tmp_root)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if all {
            remove_any(&path)?;
            removed += 1;
            continue;
        }
        let Some(stem) = name.strip_suffix(".lock") else {
            continue;
        };
        if let Some(lock) = FileLock::try_acquire(&path, LockMode::Exclusive)? {
            remove_any(&tmp_root.join(stem))?;
            lock.unlink()?;
            removed += 1;
        }
    }
    Ok(removed)
}
