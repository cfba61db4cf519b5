//! Removing a pod directory without ever crossing into another mount: if
//! anything is still mounted inside (a host volume bind, `/dev`, `/proc`),
//! removal stops instead of deleting host files through it. Mounts are told
//! apart by their mount ID (`statx` `STATX_MNT_ID`), which also catches bind
//! mounts from the same filesystem that `st_dev` cannot.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags};

/// Removes `path` and everything below it within the same mount.
pub fn remove_pod_dir(path: &Path) -> io::Result<()> {
    let dir = match rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(d) => d,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mnt = mount_id(&dir, "")?;
    clear(&dir, mnt, path)?;
    std::fs::remove_dir(path)
}

fn mount_id(dir: impl AsFd, name: &str) -> io::Result<u64> {
    let flags = if name.is_empty() {
        AtFlags::EMPTY_PATH
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    let st = rustix::fs::statx(dir, name, flags, StatxFlags::MNT_ID)?;
    Ok(st.stx_mnt_id)
}

fn clear(dir: &OwnedFd, mnt: u64, shown: &Path) -> io::Result<()> {
    let mut entries = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            entries.push(String::from_utf8_lossy(name).into_owned());
        }
    }
    for name in entries {
        let child = shown.join(&name);
        let refuse = || {
            io::Error::other(format!(
                "{} is a mount point; refusing to remove through it",
                child.display()
            ))
        };
        if mount_id(dir, &name)? != mnt {
            return Err(refuse());
        }
        let st = rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = rustix::fs::openat(
                dir,
                name.as_str(),
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            if mount_id(&sub, "")? != mnt {
                return Err(refuse());
            }
            clear(&sub, mnt, &child)?;
            rustix::fs::unlinkat(dir, name.as_str(), AtFlags::REMOVEDIR)?;
        } else {
            rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_plain_tree() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("pod");
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", p.join("a/link")).unwrap();
        remove_pod_dir(&p).unwrap();
        assert!(!p.exists());
        assert!(Path::new("/etc/passwd").exists());
    }
}
