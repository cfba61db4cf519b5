//! Small durable-write helpers: write to a temporary name, fsync, rename,
//! fsync the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `data` to `path` atomically and durably.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, true)
}

/// Replaces `path` atomically (temp file, rename) without syncing: for data
/// whose loss in a crash is harmless.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, data, false)
}

/// Writes a temp file beside `path` and renames it over `path`; with
/// `sync`, the file and then the directory are fsynced.
fn replace(path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, path)?;
    if sync { sync_dir(dir) } else { Ok(()) }
}

/// fsyncs a directory so that renames into it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes a file or a whole tree; a missing path is not an error.
pub fn remove_any(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let r = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Bytes used by regular files under `path` (not following symlinks).
pub fn tree_size(path: &Path) -> io::Result<u64> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok(if meta.is_file() { meta.len() } else { 0 });
    }
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        total += tree_size(&entry?.path())?;
    }
    Ok(total)
}
