//! Opening a path inside an app's root as if that root were `/`:
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so that neither `..`
//! nor an absolute symlink in an image can lead out of it (fly's mount
//! targets, the kvm guest init's). The unpacker's `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, which refuses symlinks rather than resolving them
//! in the root, is a different thing and stays in `rukt-images`.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::path::Arg;

/// Opens `path` inside `root` with `flags` (`O_CLOEXEC` is added), retrying
/// on `EAGAIN` (a concurrent rename elsewhere on the system).
pub fn open_in_root(
    root: impl AsFd,
    path: impl Arg + Copy,
    flags: OFlags,
) -> Result<OwnedFd, Errno> {
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    loop {
        match rustix::fs::openat2(&root, path, flags | OFlags::CLOEXEC, Mode::empty(), how) {
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/marker"), b"in").unwrap();
        std::fs::write(tmp.path().join("marker"), b"out").unwrap();
        symlink("/etc", root.join("link")).unwrap();
        let root =
            rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for path in ["/etc/marker", "/link/marker", "../../../etc/marker"] {
            let fd = open_in_root(&root, path, OFlags::RDONLY).unwrap();
            let text = std::io::read_to_string(std::fs::File::from(fd)).unwrap();
            assert_eq!(text, "in", "{path}");
        }
        // `..` stops at the root: there is no marker there.
        assert_eq!(
            open_in_root(&root, "../marker", OFlags::RDONLY).unwrap_err(),
            Errno::NOENT
        );
        assert_eq!(
            open_in_root(&root, "/proc/self/root", OFlags::PATH).unwrap_err(),
            Errno::NOENT
        );
    }
}
