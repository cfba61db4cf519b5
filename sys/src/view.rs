//! A detached, read-only view of a directory: `open_tree(OPEN_TREE_CLONE)`
//! plus `mount_setattr(MOUNT_ATTR_RDONLY | NOSUID | NODEV)`, attached
//! nowhere, so it is invisible and disappears with the last descriptor of
//! it. stage0 executes stage1 binaries through such a view
//! (`/proc/self/fd/N/NAME`), so nothing in a pod can reopen the binary for
//! writing through `/proc/<pid>/exe`.
//!
//! Also a read-only tree of views ([`readonly_tree`]): a tmpfs holding
//! read-only binds of a few directories, made with a few system calls per
//! bind, which a container then binds whole (nspawn's `/sys/fs/cgroup` on
//! cgroup v1).

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{CWD, Mode};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags,
};

/// A read-only, nosuid, nodev view of `dir`, opened close-on-exec (execve
/// resolves `/proc/self/fd/N/NAME` before it closes such descriptors).
pub fn readonly_view(dir: &Path) -> std::io::Result<OwnedFd> {
    let view = rustix::mount::open_tree(
        rustix::fs::CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    set_attr(
        &view,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
    )?;
    Ok(view)
}

/// Mounts at `target`, an existing directory, a read-only tmpfs holding at
/// each `(name, source)` a read-only bind of the directory `source`; every
/// mount nosuid, nodev and noexec. The tree is made private once its top
/// is attached, before the binds (so they propagate nowhere, and a copy of
/// it in a container's mount namespace is independent of the host's: the
/// host may unmount it once the container is made). On an error, what was
/// mounted stays for the caller to unmount.
pub fn readonly_tree(target: &Path, binds: &[(&OsStr, &Path)]) -> std::io::Result<()> {
    let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs, "mode", "755")?;
    rustix::mount::fsconfig_create(&fs)?;
    let no_exec = MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    let top = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, no_exec)?;
    // The mount points, made while it is writable and attached nowhere.
    for (name, _) in binds {
        rustix::fs::mkdirat(&top, *name, Mode::from_raw_mode(0o755))?;
    }
    set_attr(&top, MOUNT_ATTR_RDONLY, 0)?;
    rustix::mount::move_mount(
        &top,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    rustix::mount::mount_change(target, MountPropagationFlags::PRIVATE)?;
    for (name, source) in binds {
        let bind = rustix::mount::open_tree(
            CWD,
            *source,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )?;
        set_attr(
            &bind,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            0,
        )?;
        rustix::mount::move_mount(
            &bind,
            "",
            CWD,
            target.join(name),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )?;
    }
    // The binds were peers of their sources (a bind of a shared mount is).
    rustix::mount::mount_change(
        target,
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )?;
    Ok(())
}

/// Makes the top mount of the detached tree `tree` (from
/// `open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`) read-only before it is
/// attached; mounts below it keep their own flags (a non-recursive
/// read-only bind, as `mount --bind -o remount,ro` makes).
pub fn make_top_readonly(tree: &OwnedFd) -> std::io::Result<()> {
    set_attr(tree, MOUNT_ATTR_RDONLY, 0)
}

fn set_attr(tree: &OwnedFd, set: u64, flags: libc::c_int) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr(2) reads `attr` (its size is passed) and the
    // empty C string; it changes only the detached mount `tree` refers to.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made in a mount namespace of the test thread's own (root only),
    /// below a shared mount, as on a systemd host.
    #[test]
    fn a_readonly_tree_shows_its_sources_and_propagates_nowhere() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (one, two, target) = (
            dir.path().join("one"),
            dir.path().join("two"),
            dir.path().join("t"),
        );
        for d in [&one, &two, &target] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(one.join("f"), "1").unwrap();
        std::fs::write(two.join("g"), "2").unwrap();
        let dir_path = dir.path().to_path_buf();
        let ours = std::thread::spawn(move || {
            // SAFETY: NEWNS (with the FS it implies) gives this thread a
            // mount namespace and fs_struct of its own; no descriptor
            // table is unshared, which is what makes unshare unsafe.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }.unwrap();
            rustix::mount::mount_change(
                "/",
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            )
            .unwrap();
            rustix::mount::mount_bind(&dir_path, &dir_path).unwrap();
            rustix::mount::mount_change(&dir_path, MountPropagationFlags::SHARED).unwrap();
            readonly_tree(
                &target,
                &[
                    (OsStr::new("a"), one.as_path()),
                    (OsStr::new("b"), two.as_path()),
                ],
            )
            .unwrap();
            assert_eq!(std::fs::read_to_string(target.join("a/f")).unwrap(), "1");
            assert_eq!(std::fs::read_to_string(target.join("b/g")).unwrap(), "2");
            let rofs = |r: std::io::Result<()>| r.unwrap_err().raw_os_error() == Some(libc::EROFS);
            assert!(rofs(std::fs::write(target.join("a/f"), "x")));
            assert!(rofs(std::fs::create_dir(target.join("c"))));
            // This thread's own table (the process's is another namespace's).
            let table = std::fs::read("/proc/thread-self/mountinfo").unwrap();
            crate::mountinfo::parse(&table)
                .into_iter()
                .filter(|m| m.mount_point.starts_with(&target))
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert_eq!(ours.len(), 3, "{ours:?}");
        for m in &ours {
            assert!(m.optional.is_empty(), "not private: {m:?}");
            for opt in ["ro", "nosuid", "nodev", "noexec"] {
                assert!(m.options.split(',').any(|o| o == opt), "{opt}: {m:?}");
            }
        }
        // Nothing of it in the process's own namespace.
        assert!(
            !crate::mountinfo::read()
                .unwrap()
                .iter()
                .any(|m| m.mount_point.starts_with(dir.path()))
        );
    }
}
