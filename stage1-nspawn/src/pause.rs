//! `--pid=pod`: the pod's PID namespace is held by a tiny init of its own,
//! like Kubernetes' pause container, so apps join it and can exit in any
//! order (were the first app the namespace's init, its exit would kill the
//! others). The pause process is a clone of the supervisor, PID 1 of a new
//! PID namespace: chrooted into an empty directory, with no descriptors,
//! not dumpable, tied to the supervisor's life, it only reaps orphans until
//! it is told to go.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Starts the pause process; returns its PID (in our namespace). `empty`
/// is an empty directory it chroots into.
pub fn start(empty: &Path) -> std::io::Result<i32> {
    std::fs::create_dir_all(empty)?;
    let root = CString::new(empty.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a fork-like clone (no new stack, no CLONE_VM): the child gets
    // a copy of this single-threaded process and runs only `pause_main`,
    // which makes system calls and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        -1 => Err(std::io::Error::last_os_error()),
        0 => pause_main(&root),
        pid => Ok(pid as i32),
    }
}

/// The pause process: PID 1 of the pod's PID namespace.
fn pause_main(root: &CString) -> ! {
    // SAFETY: plain system calls on constants and on `root`, a valid C
    // string; the signal set is initialised before use. The process has a
    // private copy of the supervisor's memory and exits without unwinding.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
        libc::prctl(libc::PR_SET_NAME, c"rukt-pause".as_ptr());
        if libc::chroot(root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
            libc::_exit(1);
        }
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        // SIGCHLD and SIGTERM are blocked (inherited from the supervisor).
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigaddset(&mut set, libc::SIGTERM);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            if libc::sigwaitinfo(&set, &mut info) == libc::SIGTERM {
                libc::_exit(0);
            }
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        }
    }
}
