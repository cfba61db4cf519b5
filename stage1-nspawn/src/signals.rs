//! The supervisor's signals: the ones it handles are blocked and taken
//! synchronously with `sigtimedwait`, so nothing runs in a handler and no
//! child exit can be missed between a check and a wait.

use std::time::Duration;

/// Signals forwarded to the apps.
pub const FORWARDED: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// What woke the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A child changed state.
    Child,
    /// A signal to pass on.
    Forward(i32),
    /// The timeout passed.
    Timeout,
}

fn set_of(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset only writes to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

fn handled() -> libc::sigset_t {
    set_of(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
}

/// Blocks the handled signals in this (single-threaded) process.
pub fn block() -> std::io::Result<()> {
    let set = handled();
    // SAFETY: `set` is initialised; the old mask is not asked for.
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout` (forever for `None`) for a handled signal.
pub fn wait(timeout: Option<Duration>) -> Wake {
    let set = handled();
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    loop {
        // SAFETY: `set` is initialised, `info` is written by the kernel, and
        // the timespec (if any) outlives the call.
        let signo = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            match &ts {
                Some(ts) => libc::sigtimedwait(&set, &mut info, ts),
                None => libc::sigwaitinfo(&set, &mut info),
            }
        };
        match signo {
            libc::SIGCHLD => return Wake::Child,
            s if FORWARDED.contains(&s) => return Wake::Forward(s),
            -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) => {
                return Wake::Timeout;
            }
            // EINTR (a stop/continue) or a spurious wake: wait again.
            _ => continue,
        }
    }
}

/// Sends `signal` to `pid`; a process already gone is not an error.
pub fn send(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid, signal) };
}
