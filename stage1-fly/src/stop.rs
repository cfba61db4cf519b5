//! `stop [--debug] [--force] [--timeout=SECONDS] UUID`: send the app its
//! stop signal (the manifest's `stop_signal`, else SIGTERM), SIGKILL it if
//! it is still there after the timeout (at once with `--force`), then wait
//! a little for the pod lock to be released. A real-time stop signal is
//! refused: rustix sends only the named signals, and fly's only other
//! way would be unsafe code for a corner case.
//!
//! Signals go through a pidfd opened while the pod lock was seen held, to
//! the PID in `pid` once it is seen chrooted into the app's root: a reused
//! PID is never signalled. As in rkt fly, processes the app started that
//! kept the lock descriptor keep the pod running after the app is gone;
//! fly has no cgroup to find them by, so `stop` does not kill them.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rukt_contract::{PID_FILE, StopArgs};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};
use tracing::debug;

use crate::pod;

/// How long a starting pod may take to write `pid` and chroot.
const STARTUP: Duration = Duration::from_secs(2);
/// How long to wait for a SIGKILLed app to die and the lock to go.
const AFTERMATH: Duration = Duration::from_secs(5);

/// Stops the pod; success if it is stopped or was not running.
pub fn stop(args: &StopArgs) -> anyhow::Result<()> {
    let pod = rukt_contract::runtime::load_manifest(&args.uuid)?;
    let app = pod::single_app(&pod)?;
    let stop_signal = stop_signal(app)?;
    if !rukt_contract::runtime::pod_is_running().context("cannot test the pod lock")? {
        debug!("the pod is not running");
        return Ok(());
    }
    let pid = read_pid()?;
    let raw = pid.as_raw_nonzero();
    let pidfd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => {
            debug!("the app (PID {raw}) has exited");
            return wait_for_lock();
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open a pidfd of PID {raw}")),
    };
    // If the lock was released meanwhile, that PID may belong to anyone now.
    if !rukt_contract::runtime::pod_is_running().context("cannot test the pod lock")? {
        return Ok(());
    }
    let root = pod::open_rootfs(app)?;
    wait_chrooted(pid, &root)?;

    if args.force {
        signal(pidfd.as_fd(), SIGKILL)?;
    } else {
        signal(pidfd.as_fd(), stop_signal)?;
        if !exited(pidfd.as_fd(), Duration::from_secs(args.timeout_secs)) {
            debug!("still running after {}s", args.timeout_secs);
            signal(pidfd.as_fd(), SIGKILL)?;
        }
    }
    exited(pidfd.as_fd(), AFTERMATH);
    wait_for_lock()
}

/// The PID in `pid`, waiting a little for a starting pod to write it.
fn read_pid() -> anyhow::Result<Pid> {
    let start = Instant::now();
    let text = loop {
        match std::fs::read_to_string(PID_FILE) {
            Ok(text) => break text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && start.elapsed() < STARTUP => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {PID_FILE}")),
        }
    };
    text.trim()
        .parse()
        .ok()
        .and_then(Pid::from_raw)
        .with_context(|| format!("invalid {PID_FILE}: {text:?}"))
}

/// Waits until `pid` is chrooted into the app's root (a starting app gets
/// there just after writing `pid`); an error if it does not.
fn wait_chrooted(pid: Pid, root: &OwnedFd) -> anyhow::Result<()> {
    let raw = pid.as_raw_nonzero().get() as u32;
    let start = Instant::now();
    loop {
        match pod::process_in_root(raw, root) {
            Ok(true) => return Ok(()),
            Ok(false) if start.elapsed() < STARTUP => std::thread::sleep(Duration::from_millis(20)),
            Ok(false) => bail!("process {raw} (from {PID_FILE}) is not running in the app's root"),
            // Exited since: the signals will find nobody, which is fine.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect process {raw}")),
        }
    }
}

const SIGKILL: (Signal, &str) = (Signal::KILL, "SIGKILL");

/// The app's stop signal and its name.
fn stop_signal(app: &rukt_contract::App) -> anyhow::Result<(Signal, &str)> {
    let Some(name) = app.stop_signal.as_deref() else {
        return Ok((Signal::TERM, "SIGTERM"));
    };
    rukt_contract::signal::number(name)
        .and_then(Signal::from_named_raw)
        .map(|s| (s, name))
        .with_context(|| format!("fly cannot send the app's stop signal {name} (a real-time signal); stop it with --force"))
}

/// Sends a signal; a process that is already gone is not an error.
fn signal(pidfd: BorrowedFd<'_>, (sig, name): (Signal, &str)) -> anyhow::Result<()> {
    debug!("sending {name}");
    match rustix::process::pidfd_send_signal(pidfd, sig) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot send {name} to the app")),
    }
}

/// Waits up to `timeout` for the process to exit; whether it did.
fn exited(pidfd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let left = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&left)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Waits a little for the lock to be released; a pod kept running by the
/// app's descendants is not an error (see the module comment).
fn wait_for_lock() -> anyhow::Result<()> {
    if !rukt_contract::runtime::wait_released(AFTERMATH).context("cannot test the pod lock")? {
        debug!("the app is gone but other processes still hold the pod lock");
    }
    Ok(())
}
