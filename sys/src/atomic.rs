//! Replacing a file atomically: the content goes to a temporary file in the
//! same directory, which is then renamed over the final name, so a reader
//! sees the old content or the whole new one, never part of it.
//!
//! [`Durability::Durable`] also fsyncs the file before the rename and the
//! directory after it, so the new content survives a crash (store records,
//! cached artifacts reused after a reboot); [`Durability::Volatile`] skips
//! both, for state whose loss in a crash is harmless (a running pod's `pid`
//! and `status/*` files, caches stage0 rebuilds anyway).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

/// Whether a replacement must survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file, rename, fsync the directory.
    Durable,
    /// Rename only: atomic for readers, but a crash may lose it.
    Volatile,
}

/// Writes `data` to `path` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_path(path, data, Durability::Durable)
}

/// Replaces `path` atomically without syncing: for data whose loss in a
/// crash is harmless.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_path(path, data, Durability::Volatile)
}

/// Replaces `path` (whose parent directory exists) atomically.
pub fn write_path(path: &Path, data: &[u8], durability: Durability) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    write_at(&dir, name, data, durability)
}

/// Replaces `name` in the directory `dir` atomically. The temporary file is
/// `.NAME.tmp-PID-N` beside it (one left by a crashed process of the same
/// PID is overwritten, never followed if a symlink), removed again if
/// anything fails.
pub fn write_at(
    dir: impl AsFd,
    name: impl AsRef<OsStr>,
    data: &[u8],
    durability: Durability,
) -> io::Result<()> {
    let dir = dir.as_fd();
    let name = name.as_ref();
    let tmp = temporary_name(name);
    let fd = rustix::fs::openat(
        dir,
        tmp.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut file = File::from(fd);
    let written = file.write_all(data).and_then(|()| match durability {
        Durability::Durable => file.sync_all(),
        Durability::Volatile => Ok(()),
    });
    drop(file);
    let renamed = written.and_then(|()| Ok(rustix::fs::renameat(dir, tmp.as_os_str(), dir, name)?));
    if let Err(e) = renamed {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
        return Err(e);
    }
    match durability {
        Durability::Durable => sync_fd(dir),
        Durability::Volatile => Ok(()),
    }
}

/// fsyncs the directory `dir`, so that renames into it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_fd(dir: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::fs::fsync(dir)?)
}

/// `.NAME.tmp-PID-N`: unique among the processes and threads writing the
/// same name at once.
fn temporary_name(name: &OsStr) -> OsString {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}-{n}", std::process::id()));
    tmp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_at_replaces_the_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = File::open(tmp.path()).unwrap();
        for durability in [Durability::Volatile, Durability::Durable] {
            write_at(&dir, "pid", b"12", durability).unwrap();
            write_at(&dir, "pid", b"3", durability).unwrap();
            assert_eq!(std::fs::read(tmp.path().join("pid")).unwrap(), b"3");
            assert_eq!(names(tmp.path()), ["pid"]);
        }
    }

    #[test]
    fn path_forms_write_durably_or_not() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        write_atomic(&a, b"one").unwrap();
        write_replace(&a, b"two").unwrap();
        write_path(&tmp.path().join("b"), b"", Durability::Durable).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"two");
        assert_eq!(names(tmp.path()), ["a", "b"]);
        assert!(write_atomic(Path::new("/"), b"x").is_err());
        sync_dir(tmp.path()).unwrap();
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory in the way: the rename fails.
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("d/x"), b"").unwrap();
        assert!(write_atomic(&tmp.path().join("d"), b"x").is_err());
        assert_eq!(names(tmp.path()), ["d"]);
    }
}
