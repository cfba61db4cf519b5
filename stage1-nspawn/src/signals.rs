//! The supervisor's signals and its one wait: the signals it handles are
//! blocked and read from a signalfd, polled together with the terminal
//! descriptors of an interactive pod, so nothing runs in a signal handler
//! and no child exit can be missed between a check and a wait.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

/// Signals forwarded to the apps.
pub const FORWARDED: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// What woke the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A child changed state.
    Child,
    /// A signal to pass on.
    Forward(i32),
    /// The terminal was resized (SIGWINCH).
    Resize,
    /// Reopen the log files (SIGUSR1).
    Reopen,
    /// The extra descriptor at this index is ready.
    Ready(usize),
    /// The timeout passed.
    Timeout,
}

fn handled() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset only writes to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGWINCH, libc::SIGUSR1]
            .iter()
            .chain(&FORWARDED)
        {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// The blocked signals, readable as a descriptor.
pub struct Signals(OwnedFd);

impl Signals {
    /// Blocks the handled signals in this (single-threaded) process and
    /// opens a signalfd for them.
    pub fn block() -> std::io::Result<Signals> {
        let set = handled();
        // SAFETY: `set` is initialised; the old mask is not asked for.
        if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: signalfd(2) reads `set`; -1 asks for a new descriptor.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Signals(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Waits up to `timeout` (forever for `None`) for a signal or for one of
    /// `extra` to be readable (or hung up).
    pub fn wait(&self, timeout: Option<Duration>, extra: &[BorrowedFd<'_>]) -> Wake {
        // A pending signal makes the signalfd readable: poll first, read it
        // only then (one system call less per wake-up while apps log).
        loop {
            let mut fds = vec![PollFd::new(&self.0, PollFlags::IN)];
            fds.extend(extra.iter().map(|fd| PollFd::new(fd, PollFlags::IN)));
            let ts = timeout.map(|t| Timespec {
                tv_sec: t.as_secs() as _,
                tv_nsec: t.subsec_nanos() as _,
            });
            match rustix::event::poll(&mut fds, ts.as_ref()) {
                Ok(0) => return Wake::Timeout,
                Ok(_) => {
                    if !fds[0].revents().is_empty()
                        && let Some(wake) = self.take()
                    {
                        return wake;
                    }
                    if let Some(i) = fds[1..].iter().position(|f| !f.revents().is_empty()) {
                        return Wake::Ready(i);
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::warn!("poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// One pending signal, if any.
    fn take(&self) -> Option<Wake> {
        // SAFETY: signalfd_siginfo is plain data; all zeroes is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: we read at most `size` bytes into `info`.
        let n = unsafe {
            libc::read(
                self.0.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n != size as isize {
            return None;
        }
        Some(match info.ssi_signo as i32 {
            libc::SIGCHLD => Wake::Child,
            libc::SIGWINCH => Wake::Resize,
            libc::SIGUSR1 => Wake::Reopen,
            s => Wake::Forward(s),
        })
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Sends `signal` to `pid`; a process already gone is not an error.
pub fn send(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid, signal) };
}
