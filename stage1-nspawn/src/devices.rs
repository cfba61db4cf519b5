//! The host's devices, for a privileged app (CRI's `privileged: true`):
//! every character and block device under `/dev`, as OCI `linux.devices`
//! entries that libcontainer creates in the app's own `/dev` tmpfs. The
//! host's `/dev` itself is never bound in (its `pts`, `shm` and `mqueue`
//! are the host's), as containerd and CRI-O do.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{Value, json};

/// Directories of `/dev` that are not devices the app should get.
const SKIP: [&str; 4] = ["pts", "shm", "mqueue", "fd"];
/// How deep below `/dev` devices are looked for.
const DEPTH: usize = 3;

/// Every device node under `/dev`.
pub fn host() -> Vec<Value> {
    let mut out = Vec::new();
    walk(Path::new("/dev"), 0, &mut out);
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            let skipped = depth == 0 && SKIP.iter().any(|s| entry.file_name().to_str() == Some(*s));
            if !skipped && depth < DEPTH {
                walk(&path, depth + 1, out);
            }
            continue;
        }
        let typ = if kind.is_char_device() {
            "c"
        } else if kind.is_block_device() {
            "b"
        } else {
            continue;
        };
        let rdev = meta.rdev();
        out.push(json!({
            "path": path,
            "type": typ,
            "major": libc::major(rdev),
            "minor": libc::minor(rdev),
            "fileMode": meta.mode() & 0o777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_null_device_is_among_them() {
        let all = super::host();
        let null = all
            .iter()
            .find(|d| d["path"] == "/dev/null")
            .expect("/dev/null");
        assert_eq!(null["type"], "c");
        assert_eq!(
            (null["major"].as_u64(), null["minor"].as_u64()),
            (Some(1), Some(3))
        );
        assert!(
            !all.iter()
                .any(|d| d["path"].as_str().unwrap().starts_with("/dev/pts/"))
        );
    }
}
