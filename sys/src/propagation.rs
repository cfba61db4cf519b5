//! Mount propagation across namespaces, for volumes that ask for it
//! (`propagation=shared|slave|private`): making a host directory a shared
//! mount so binds of it are its peers, and changing the propagation of
//! mounts inside another process's mount namespace (a container libcontainer
//! created, before it starts).

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountPropagationFlags;
use rustix::thread::LinkNameSpaceType;

/// Makes `source` a shared mount: as it is if it is a mount point already,
/// else bound recursively onto itself first (so the host's own submounts
/// stay visible at the source; that one mount is added to the host and
/// stays, like the mounts apps make there, as rkt's). A bind of it is then
/// its peer: mounts made below either appear at both.
pub fn make_shared(source: &Path) -> io::Result<()> {
    if !crate::mountinfo::is_mount_point(source)? {
        rustix::mount::mount_bind_recursive(source, source)?;
    }
    rustix::mount::mount_change(source, MountPropagationFlags::SHARED)?;
    Ok(())
}

/// How a mount's propagation is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Receives from its master, sends nothing back (recursively).
    Slave,
    /// Neither receives nor sends (recursively).
    Private,
}

/// Applies each `(path, change)` inside the mount namespace of process
/// `pid` (paths resolved from that namespace's root), then returns this
/// thread to its own namespace and working directory. The caller must be
/// single-threaded (setns of a mount namespace refuses a shared `fs`).
pub fn change_in_namespace_of(pid: u32, changes: &[(String, Change)]) -> io::Result<()> {
    let own = rustix::fs::open(
        "/proc/thread-self/ns/mnt",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let cwd = rustix::fs::open(
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let theirs = rustix::fs::open(
        format!("/proc/{pid}/ns/mnt"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::thread::move_into_link_name_space(theirs.as_fd(), Some(LinkNameSpaceType::Mount))?;
    let applied = changes.iter().try_for_each(|(path, change)| {
        let flags = match change {
            Change::Slave => MountPropagationFlags::DOWNSTREAM,
            Change::Private => MountPropagationFlags::PRIVATE,
        } | MountPropagationFlags::REC;
        rustix::mount::mount_change(path.as_str(), flags)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
    });
    // Back home whatever happened: this process's paths are relative to it.
    rustix::thread::move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::Mount))?;
    rustix::process::fchdir(&cwd)?;
    applied
}
