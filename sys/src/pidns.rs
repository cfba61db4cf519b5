//! A new PID namespace for the next children of a process, and back: the
//! kvm guest init starts a socket-activated app as PID 1 of a namespace of
//! its own (so `LISTEN_PID=1` is true, as under nspawn) while every other
//! child stays in the init's namespace.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Runs `spawn` with this thread's children going into a new PID
/// namespace (the first child is its PID 1), then puts later children back
/// in this thread's own namespace, whatever `spawn` returned.
pub fn with_children_in_new_pid_namespace<T>(spawn: impl FnOnce() -> T) -> io::Result<T> {
    let own = rustix::fs::open(
        "/proc/thread-self/ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: CLONE_NEWPID changes only which namespace this thread's future
    // children are created in; it shares or unshares no descriptor table,
    // which is what makes `unshare` unsafe in general (CLONE_FILES).
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWPID) }?;
    let out = spawn();
    // The namespace we are in: always allowed, and it must work, or every
    // later child would land in the new one.
    rustix::thread::move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::ProcessID))?;
    Ok(out)
}
