//! A detached, read-only view of a directory: `open_tree(OPEN_TREE_CLONE)`
//! plus `mount_setattr(MOUNT_ATTR_RDONLY | NOSUID | NODEV)`, attached
//! nowhere, so it is invisible and disappears with the last descriptor of
//! it. stage0 executes stage1 binaries through such a view
//! (`/proc/self/fd/N/NAME`), so nothing in a pod can reopen the binary for
//! writing through `/proc/<pid>/exe`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::mount::OpenTreeFlags;

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

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
