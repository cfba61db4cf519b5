//! Paths inside an app's root filesystem, opened without ever leaving it.
//!
//! Every lookup is `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on a
//! descriptor of the root: `..` and absolute symlinks stop at the app's root
//! as they would after a chroot, and `/proc/<pid>/root`-style magic links
//! (the host's `/proc` is mounted in there) are refused. Mounts then go onto
//! `/proc/self/fd/<N>` of the descriptor, never onto a path the host would
//! resolve again.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// What a mount target must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (the source is a directory or a file system).
    Dir,
    /// Anything but a directory (the source is a file).
    File,
}

impl Kind {
    /// The kind of target a bind of an object of type `ty` needs.
    pub fn of(ty: FileType) -> Kind {
        if ty == FileType::Directory {
            Kind::Dir
        } else {
            Kind::File
        }
    }
}

/// The path of a descriptor for `mount(2)`: `/proc/self/fd/<N>`.
pub fn fd_path(fd: impl AsFd) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

/// Opens `path` (absolute, as the app sees it) inside `root`, creating it if
/// missing: directories for every missing component, then a directory or an
/// empty file for the last one. Returns an `O_PATH` descriptor of it.
pub fn open_or_create(root: BorrowedFd<'_>, path: &str, kind: Kind) -> std::io::Result<OwnedFd> {
    let components = components(path);
    let Some((last, parents)) = components.split_last() else {
        return open(root, "/", Kind::Dir);
    };
    let mut parent = open(root, "/", Kind::Dir)?;
    let mut prefix = String::new();
    for name in parents {
        prefix = format!("{prefix}/{name}");
        parent = ensure(root, &parent, &prefix, name, Kind::Dir)?;
    }
    ensure(root, &parent, &format!("{prefix}/{last}"), last, kind)
}

/// Opens the existing `path` inside `root`: after a mount, this reaches the
/// mount's root where the descriptor used to mount reaches what it covers.
pub fn open(root: BorrowedFd<'_>, path: &str, kind: Kind) -> std::io::Result<OwnedFd> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if kind == Kind::Dir {
        flags |= OFlags::DIRECTORY;
    }
    Ok(rukt_sys::resolve::open_in_root(root, path, flags)?)
}

/// Opens `prefix` (whose last component is `name`, in `parent`), creating
/// `name` in `parent` first if it does not exist.
fn ensure(
    root: BorrowedFd<'_>,
    parent: &OwnedFd,
    prefix: &str,
    name: &str,
    kind: Kind,
) -> std::io::Result<OwnedFd> {
    match open(root, prefix, kind) {
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {}
        r => return r,
    }
    let created = match kind {
        Kind::Dir => rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)),
        Kind::File => rustix::fs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match created {
        // EEXIST: created meanwhile, or a dangling symlink, which the open
        // below reports as missing.
        Ok(()) | Err(Errno::EXIST) => open(root, prefix, kind),
        Err(e) => Err(e.into()),
    }
}

/// The components of `path` that name something: no empty ones, no `.`.
/// `..` stays; the kernel resolves it, stopping at the root.
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    #[test]
    fn splits_paths_into_components() {
        assert_eq!(components("/a//b/./c/"), ["a", "b", "c"]);
        assert_eq!(components("/../x"), ["..", "x"]);
        assert!(components("/").is_empty());
        assert!(components("").is_empty());
    }

    fn root_fd(dir: &std::path::Path) -> OwnedFd {
        rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn creates_missing_directories_and_files_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = root_fd(tmp.path());
        open_or_create(root.as_fd(), "/a/b/c", Kind::Dir).unwrap();
        assert!(tmp.path().join("a/b/c").is_dir());
        open_or_create(root.as_fd(), "/etc/conf", Kind::File).unwrap();
        assert!(tmp.path().join("etc/conf").is_file());
        // Existing targets are opened as they are.
        open_or_create(root.as_fd(), "a/b", Kind::Dir).unwrap();
        let e = open_or_create(root.as_fd(), "/etc/conf", Kind::Dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        // `/abs` points at a path that exists both on the host and in the
        // root: the root's is the one used.
        let inside = rootfs.join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        symlink(outside.path(), rootfs.join("abs")).unwrap();
        symlink("../../../../..", rootfs.join("rel")).unwrap();
        let root = root_fd(&rootfs);

        open_or_create(root.as_fd(), "/abs/x", Kind::Dir).unwrap();
        open_or_create(root.as_fd(), "/rel/y", Kind::Dir).unwrap();
        open_or_create(root.as_fd(), "/../../z", Kind::File).unwrap();
        assert!(inside.join("x").is_dir());
        assert!(!outside.path().join("x").exists());
        assert!(rootfs.join("y").is_dir());
        assert!(rootfs.join("z").is_file());
        assert!(!tmp.path().join("z").exists());
    }

    #[test]
    fn dangling_symlinks_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        symlink(outside.path(), tmp.path().join("dangling")).unwrap();
        let root = root_fd(tmp.path());
        let e = open_or_create(root.as_fd(), "/dangling/x", Kind::Dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert!(!outside.path().join("x").exists());
    }

    #[test]
    fn magic_links_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/proc/self/root", tmp.path().join("host")).unwrap();
        std::fs::create_dir_all(tmp.path().join("proc/self")).unwrap();
        let root = root_fd(tmp.path());
        // Inside the root, /proc/self/root is a plain (missing) path.
        let e = open(root.as_fd(), "/host", Kind::Dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // The real magic link is refused outright, even as the first step.
        let proc_root = root_fd(Path::new("/proc/self"));
        let e = open(proc_root.as_fd(), "/root", Kind::Dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }
}
