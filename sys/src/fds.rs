//! Descriptors a process must not pass on: stage0 closes everything but
//! stdio and the pod lock before it execs stage1, a stage1 before it execs
//! an app. [`close_fds_on_exec`] arranges that for a [`Command`],
//! [`cloexec_except`] for the current process's own exec, and
//! [`close_range_except`] closes them at once (in a forked child).
//! Also [`take_inherited`]: owning a descriptor named in the environment.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;

/// The descriptors from 3 on that are not kept, as `close_range(2)` ranges,
/// computed once so that applying them allocates nothing (between fork and
/// exec, only async-signal-safe calls are allowed).
#[derive(Debug, Clone)]
pub struct FdRanges {
    ranges: Vec<(u32, u32)>,
    keep: Vec<RawFd>,
    /// The soft `RLIMIT_NOFILE`: no descriptor is numbered this or more.
    /// For kernels before 5.11, which lack `CLOSE_RANGE_CLOEXEC`.
    limit: u32,
}

impl FdRanges {
    /// Every descriptor from 3 on but those in `keep` (stdio is always
    /// kept; negative numbers are ignored).
    pub fn except(keep: &[RawFd]) -> FdRanges {
        let mut kept: Vec<u32> = keep
            .iter()
            .filter_map(|fd| u32::try_from(*fd).ok())
            .filter(|fd| *fd >= 3)
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let mut ranges = Vec::with_capacity(kept.len() + 1);
        let mut from = 3u32;
        for fd in &kept {
            if *fd > from {
                ranges.push((from, fd - 1));
            }
            from = fd + 1;
        }
        if from != 0 {
            ranges.push((from, u32::MAX));
        }
        FdRanges {
            ranges,
            keep: keep.iter().copied().filter(|fd| *fd >= 0).collect(),
            limit: open_files_limit(),
        }
    }

    /// Marks the descriptors close-on-exec (they stay usable until an exec
    /// succeeds) and clears close-on-exec on the kept ones. Allocates
    /// nothing: fit for a `pre_exec` hook.
    pub fn close_on_exec(&self) -> io::Result<()> {
        for &(first, last) in &self.ranges {
            match close_range(first, last, libc::CLOSE_RANGE_CLOEXEC) {
                Ok(()) => {}
                // Before Linux 5.11: one fcntl per possible number.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    mark_cloexec_one_by_one(first, last.min(self.limit.saturating_sub(1)));
                }
                Err(e) => return Err(e),
            }
        }
        for &fd in &self.keep {
            // SAFETY: F_SETFD only changes the flags of the descriptor (an
            // error if it is not open); nothing is closed or duplicated.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Closes the descriptors now. Allocates nothing.
    ///
    /// # Safety
    ///
    /// Nothing in this process may use or close any of them afterwards:
    /// `File`s or `OwnedFd`s owning them must never be dropped, as in a
    /// forked child that leaves with `_exit`.
    pub unsafe fn close(&self) -> io::Result<()> {
        for &(first, last) in &self.ranges {
            close_range(first, last, 0)?;
        }
        Ok(())
    }
}

/// Sets close-on-exec on every open descriptor from `first` to `last`;
/// numbers that are not open are skipped. Allocates nothing.
fn mark_cloexec_one_by_one(first: u32, last: u32) {
    for fd in first..=last {
        // SAFETY: F_SETFD on a plain number only sets that descriptor's flag
        // (EBADF, ignored, where none is open); nothing is closed.
        unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// The soft limit on open descriptors (1024 if it cannot be read).
fn open_files_limit() -> u32 {
    match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => u32::MAX,
    }
}

fn close_range(first: u32, last: u32, flags: u32) -> io::Result<()> {
    // SAFETY: close_range(2) takes plain numbers. With CLOSE_RANGE_CLOEXEC it
    // only sets flags; without, [`FdRanges::close`]'s caller vouches that no
    // owner of a closed descriptor uses it again.
    let r = unsafe { libc::close_range(first, last, flags as libc::c_int) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `cmd`'s child close every descriptor from 3 on except `keep`,
/// whose close-on-exec flag is cleared so they survive: a `pre_exec` hook
/// marks the others close-on-exec, so the exec itself closes them (and
/// `Command` can still report a failed exec through its own pipe).
pub fn close_fds_on_exec(cmd: &mut Command, keep: Vec<RawFd>) {
    let ranges = FdRanges::except(&keep);
    // SAFETY: the hook runs between fork and exec, where only
    // async-signal-safe calls are allowed: it makes close_range(2) and
    // fcntl(2) calls over the precomputed ranges and allocates nothing.
    unsafe {
        cmd.pre_exec(move || ranges.close_on_exec());
    }
}

/// Marks every descriptor from 3 on except `keep` close-on-exec, and clears
/// the flag on `keep`: this process's next exec passes on only those.
pub fn cloexec_except(keep: &[RawFd]) -> io::Result<()> {
    FdRanges::except(keep).close_on_exec()
}

/// Closes every descriptor from 3 on except `keep`, now. It allocates
/// (the ranges), so in a child forked from a multi-threaded process compute
/// [`FdRanges::except`] before the fork and call [`FdRanges::close`].
///
/// # Safety
///
/// As [`FdRanges::close`]: no owner of a closed descriptor may use or drop
/// it afterwards (a forked child that leaves with `_exit`).
pub unsafe fn close_range_except(keep: &[RawFd]) -> io::Result<()> {
    // SAFETY: passed on to our caller, as documented above.
    unsafe { FdRanges::except(keep).close() }
}

/// Takes ownership of descriptor `fd`, inherited from the parent and named
/// in the environment (stage0's `RUKT_LOCK_FD`): checks it is open and not
/// stdio, and that it was not taken before.
pub fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    static TAKEN: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{fd} {why}"));
    if fd < 3 {
        return Err(invalid("is not an inherited descriptor"));
    }
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    if taken.contains(&fd) {
        return Err(invalid("was already taken"));
    }
    // SAFETY: F_GETFD only queries the descriptor table; on a number that is
    // not an open descriptor it fails with EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(invalid("is not open"));
    }
    taken.push(fd);
    // SAFETY: the descriptor is open (checked above) and was inherited for
    // the caller: the parent named it for us, nothing else in this process
    // opened it, and this function hands it out once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::process::Stdio;

    #[test]
    fn ranges_skip_stdio_and_kept_descriptors() {
        let r = FdRanges::except(&[7, 3, 5, 6, 1, -1, 7]);
        assert_eq!(r.ranges, [(4, 4), (8, u32::MAX)]);
        assert_eq!(FdRanges::except(&[]).ranges, [(3, u32::MAX)]);
        assert_eq!(FdRanges::except(&[4]).ranges, [(3, 3), (5, u32::MAX)]);
    }

    /// A descriptor numbered `min` or more, open without close-on-exec (as a
    /// leaked one would be); high, so `ls` does not reuse its number.
    fn leaked(min: RawFd) -> OwnedFd {
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let fd = rustix::io::fcntl_dupfd_cloexec(&null, min).unwrap();
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).unwrap();
        fd
    }

    fn child_fds(cmd: &mut Command) -> Vec<RawFd> {
        let out = cmd
            .args(["-c", "ls /proc/self/fd"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    }

    #[test]
    fn a_child_sees_only_stdio_and_the_kept_descriptor() {
        let (leak, keep, cloexec) = (leaked(100), leaked(110), leaked(120));
        rustix::io::fcntl_setfd(&cloexec, rustix::io::FdFlags::CLOEXEC).unwrap();
        // Without the hook, the leak is inherited (the test would prove
        // nothing otherwise).
        assert!(child_fds(&mut Command::new("sh")).contains(&leak.as_raw_fd()));

        let mut cmd = Command::new("sh");
        close_fds_on_exec(&mut cmd, vec![keep.as_raw_fd(), cloexec.as_raw_fd()]);
        let fds = child_fds(&mut cmd);
        assert!(!fds.contains(&leak.as_raw_fd()), "{fds:?}");
        assert!(fds.contains(&keep.as_raw_fd()), "{fds:?}");
        // Kept even though it was close-on-exec here.
        assert!(fds.contains(&cloexec.as_raw_fd()), "{fds:?}");
        // stdio, the two kept, and the one `ls` opens on /proc/self/fd.
        assert_eq!(fds.len(), 6, "{fds:?}");
        // Ours are untouched.
        for fd in [&leak, &keep] {
            assert!(
                !rustix::io::fcntl_getfd(fd)
                    .unwrap()
                    .contains(rustix::io::FdFlags::CLOEXEC)
            );
        }
    }

    /// Marked, not closed: a program named through a descriptor that is not
    /// kept (stage0 execs stage1 through `/proc/self/fd/N/...`) still runs.
    #[test]
    fn exec_through_a_descriptor_that_is_not_kept() {
        let bin = std::fs::File::open("/bin").unwrap();
        let mut cmd = Command::new(format!("/proc/self/fd/{}/sh", bin.as_raw_fd()));
        close_fds_on_exec(&mut cmd, Vec::new());
        let fds = child_fds(&mut cmd);
        // stdio and the one `ls` opens: `bin` is gone after the exec.
        assert_eq!(fds.len(), 4, "{fds:?}");
    }

    /// The path taken on kernels without `CLOSE_RANGE_CLOEXEC`.
    #[test]
    fn the_fallback_marks_what_is_open_and_skips_the_rest() {
        let (a, b) = (leaked(140), leaked(142));
        mark_cloexec_one_by_one(140, 145);
        for fd in [&a, &b] {
            assert!(
                rustix::io::fcntl_getfd(fd)
                    .unwrap()
                    .contains(rustix::io::FdFlags::CLOEXEC)
            );
        }
        assert!(open_files_limit() >= 3);
    }

    #[test]
    fn a_failed_exec_is_still_reported() {
        let mut cmd = Command::new("/nonexistent/rukt-sys-test");
        close_fds_on_exec(&mut cmd, Vec::new());
        let e = cmd.status().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn take_inherited_checks_the_descriptor() {
        let fd = leaked(130);
        let raw = fd.as_raw_fd();
        std::mem::forget(fd);
        let owned = take_inherited(raw).unwrap();
        assert_eq!(owned.as_raw_fd(), raw);
        assert!(take_inherited(raw).is_err());
        assert!(take_inherited(1).is_err());
        drop(owned);
        assert!(take_inherited(-5).is_err());
    }
}
