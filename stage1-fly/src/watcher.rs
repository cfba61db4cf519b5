//! The exit-status watcher. Nobody in the pod waits for a fly app: it *is*
//! the process the caller started, and its parent is the caller. So before
//! becoming the app, `run` double-forks a small process that is not the
//! app's child (an app that reaps its children, or waits for all of them,
//! never sees it), which waits on a pidfd of the app and writes
//! `status/<app>` when the app has exited ([`crate::exitinfo`]), and the
//! app's and the pod's exit in the event journal.
//!
//! The watcher leaves the caller's session and terminal, ignores the usual
//! termination signals and keeps no descriptor but the pidfd and the status
//! directory: in particular not the pod lock, so the pod ends when the app
//! (and whatever inherited the lock from it) does. The status is therefore
//! written shortly *after* the lock is released.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use anyhow::{Context, bail};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::ForkResult;
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use rukt_contract::runtime::events::PodEvents;

use crate::exitinfo;

/// Starts the watcher of the app that will be this process after its exec:
/// `pidfd` refers to this process, `status_dir` is the pod's `status/`.
pub fn spawn(
    pidfd: BorrowedFd<'_>,
    status_dir: BorrowedFd<'_>,
    app: &str,
    events: &PodEvents,
) -> anyhow::Result<()> {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let devnull = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .context("cannot open /dev/null")?;
    // Blocked until the watcher has set its own dispositions, so that a ^C in
    // the meantime cannot kill it; restored here before the app runs.
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old))
        .context("cannot block signals")?;
    let started = fork_watcher(pidfd, status_dir, &devnull, (app, events), pid);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)
        .context("cannot restore the signal mask")?;
    started
}

/// Forks an intermediate child that forks the watcher and exits at once, so
/// the watcher is reparented to init (or the nearest subreaper).
fn fork_watcher(
    pidfd: BorrowedFd<'_>,
    status_dir: BorrowedFd<'_>,
    devnull: &OwnedFd,
    app: (&str, &PodEvents),
    pid: i32,
) -> anyhow::Result<()> {
    // SAFETY: `run` is single-threaded, so the child is a consistent copy of
    // this process and may run any code; it leaves only through `_exit`.
    match unsafe { nix::unistd::fork() }.context("cannot fork the exit status watcher")? {
        ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            // The caller ignores SIGCHLD: the child was reaped automatically.
            Err(nix::errno::Errno::ECHILD) => Ok(()),
            Ok(other) => bail!("cannot start the exit status watcher ({other:?})"),
            Err(e) => Err(e).context("cannot wait for the exit status watcher's parent"),
        },
        ForkResult::Child => {
            // SAFETY: as above, still single-threaded.
            let code = match unsafe { nix::unistd::fork() } {
                Ok(ForkResult::Child) => watch(pidfd, status_dir, devnull, app, pid),
                Ok(ForkResult::Parent { .. }) => 0,
                Err(_) => 1,
            };
            // SAFETY: `_exit` ends this copy without running anything of the
            // parent's (no destructors, atexit handlers or stdio flushes).
            unsafe { libc::_exit(code) }
        }
    }
}

/// The watcher itself: detach, wait for the app to exit, record its status.
fn watch(
    pidfd: BorrowedFd<'_>,
    status_dir: BorrowedFd<'_>,
    devnull: &OwnedFd,
    (app, events): (&str, &PodEvents),
    pid: i32,
) -> ! {
    // Above the standard descriptors, which are about to be replaced.
    let (Ok(pidfd), Ok(status_dir)) = (
        rustix::io::fcntl_dupfd_cloexec(pidfd, 3),
        rustix::io::fcntl_dupfd_cloexec(status_dir, 3),
    ) else {
        // SAFETY: see `fork_watcher`.
        unsafe { libc::_exit(1) }
    };
    detach(devnull, &[pidfd.as_raw_fd(), status_dir.as_raw_fd()]);
    wait_readable(pidfd.as_fd());
    if let Some(status) = exitinfo::wait_status(pidfd.as_fd(), pid) {
        let code = rukt_contract::exit_code_from_wait_status(status);
        let _ = rukt_contract::runtime::write_atomic(&status_dir, app, code.to_string().as_bytes());
        // A fly pod is its one app: it is over when the app is.
        events.app_exited(app, code, None);
        events.pod_exited(code, None);
    }
    // SAFETY: see `fork_watcher`.
    unsafe { libc::_exit(0) }
}

/// A new session, termination signals ignored, `/dev/null` as stdin, stdout
/// and stderr, every other descriptor but `keep` closed (the pod lock among
/// them), and `/` as working directory (not the pod directory).
fn detach(devnull: &OwnedFd, keep: &[RawFd]) {
    let _ = nix::unistd::setsid();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGPIPE,
        Signal::SIGQUIT,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { nix::sys::signal::signal(signal, SigHandler::SigIgn) };
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = nix::unistd::dup2_stdin(devnull);
    let _ = nix::unistd::dup2_stdout(devnull);
    let _ = nix::unistd::dup2_stderr(devnull);
    // SAFETY: the descriptors closed belong to the forked copy of `run`'s
    // stack, which is never unwound: this process leaves through `_exit`.
    let _ = unsafe { rukt_sys::fds::close_range_except(keep) };
    let _ = rustix::process::chdir("/");
}

/// Blocks until the pidfd is readable: the process has exited.
fn wait_readable(pidfd: BorrowedFd<'_>) {
    loop {
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) if !fds[0].revents().is_empty() => return,
            Ok(_) | Err(Errno::INTR) => continue,
            Err(_) => return,
        }
    }
}
