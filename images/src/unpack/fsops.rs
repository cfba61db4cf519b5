//! Directory operations relative to directory fds that never follow a
//! symlink: the unpacker, `image extract` and user lookup build on them.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub(crate) fn mkdir(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(
        parent,
        name,
        Mode::from_raw_mode(0o755),
    )?)
}

/// Opens the directory `rel` under `dir` without following any symlink.
pub fn open_beneath(dir: impl AsFd, rel: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        dir,
        rel,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// Removes whatever `name` is in `parent` (a whole tree for a directory).
pub fn remove_existing(parent: &OwnedFd, name: &[u8]) -> io::Result<()> {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            let dir = open_beneath(parent, name)?;
            clear_dir(&dir)?;
            Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
        }
        Ok(_) => Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?),
    }
}

/// Removes everything inside the directory `dir`, never following symlinks.
pub fn clear_dir(dir: &OwnedFd) -> io::Result<()> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_existing(dir, &n)?;
    }
    Ok(())
}
