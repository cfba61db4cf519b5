//! Small file helpers of the store: removing a file or a tree, measuring a
//! tree. The atomic (and durable) writes are `rukt-sys`'s, re-exported here.

use std::fs;
use std::io;
use std::path::Path;

pub use rukt_sys::atomic::{sync_dir, write_atomic, write_replace};

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
