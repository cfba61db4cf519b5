//! The wait status of a process that has exited, read through its pidfd by
//! a process that is not its parent (the watcher).
//!
//! Two sources, tried in turn until one answers:
//! - the `PIDFD_GET_INFO` ioctl with `PIDFD_INFO_EXIT` (Linux ≥ 6.15), which
//!   has the status once the process has been reaped by its parent;
//! - the `exit_code` field of `/proc/<pid>/stat` while it is a zombie (not
//!   yet reaped), trusted only if the pidfd shows the process still unreaped
//!   after the read, so the PID cannot have been reused meanwhile.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::ioctl::{Updater, opcode};

/// `struct pidfd_info` of `<linux/pidfd.h>`, version 0 (64 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const _: () = assert!(size_of::<PidfdInfo>() == 64);

/// `PIDFD_GET_INFO = _IOWR(0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: rustix::ioctl::Opcode = opcode::read_write::<PidfdInfo>(0xFF, 11);
/// Ask for (and, in the answer, have) the exit status.
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// Waits for the wait status of `pid` (whose pidfd is `pidfd`, already
/// readable: the process has exited), retrying with a growing delay until
/// its parent reaps it. `None` if no source can tell.
pub fn wait_status(pidfd: BorrowedFd<'_>, pid: i32) -> Option<i32> {
    const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    let mut ioctl_works = true;
    loop {
        // Reaped before the ioctl: whatever it answers is final.
        let reaped = reaped(pidfd);
        if ioctl_works {
            match ioctl_exit_status(pidfd) {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                // Kernels before 6.13 (no ioctl) or 6.15 (no exit info).
                Err(Errno::NOTTY | Errno::INVAL) => ioctl_works = false,
                // Reaped, and the kernel kept no exit info.
                Err(Errno::SRCH) => ioctl_works = false,
                Err(_) => {}
            }
        }
        if let Some(status) = zombie_status(pidfd, pid) {
            return Some(status);
        }
        let hopeless = match reaped {
            Some(reaped) => reaped,
            // Cannot tell: keep asking only a source that may still answer.
            None => !ioctl_works,
        };
        if hopeless || start.elapsed() > GIVE_UP_AFTER {
            return None;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// The exit status from `PIDFD_GET_INFO`, once the kernel has it.
fn ioctl_exit_status(pidfd: BorrowedFd<'_>) -> Result<Option<i32>, Errno> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO takes a pointer to a `struct pidfd_info`, which
    // `PidfdInfo` reproduces (its size is encoded in the opcode and checked
    // above); the kernel writes at most that many bytes into it.
    unsafe {
        rustix::ioctl::ioctl(pidfd, Updater::<PIDFD_GET_INFO, PidfdInfo>::new(&mut info))?;
    }
    Ok((info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code))
}

/// The exit status in `/proc/<pid>/stat` if `pid` is a zombie, checked to
/// be our process: it must still be unreaped after the read.
fn zombie_status(pidfd: BorrowedFd<'_>, pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (state, status) = parse_stat(&stat)?;
    (state == 'Z' && reaped(pidfd) == Some(false)).then_some(status)
}

/// Whether the process of `pidfd` has been reaped: its fdinfo shows
/// `Pid: -1` then. `None` if unknown.
fn reaped(pidfd: BorrowedFd<'_>) -> Option<bool> {
    let fd = pidfd.as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    Some(fdinfo_pid(&info)? <= 0)
}

/// The `Pid:` of a pidfd's fdinfo.
fn fdinfo_pid(fdinfo: &str) -> Option<i64> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// State (field 3) and `exit_code` (field 52) of a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let mut fields = rukt_sys::procstat::fields_after_comm(stat)?;
    let state = fields.next()?.chars().next()?;
    // Field 3 was the state; field 52 is 49 further.
    let status = fields.nth(48)?.parse().ok()?;
    Some((state, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zombie's stat line (Linux 6.x, 52 fields), whose command name has
    /// spaces and a parenthesis, exited with `_exit(3)`.
    fn zombie_stat(exit_code: i32) -> String {
        let mut fields = vec!["1234".to_string(), "(a) b (c)".to_string(), "Z".to_string()];
        fields.extend((4..=51).map(|n| n.to_string()));
        fields.push(exit_code.to_string());
        fields.join(" ") + "\n"
    }

    #[test]
    fn reads_state_and_exit_code_from_stat() {
        assert_eq!(parse_stat(&zombie_stat(0x300)), Some(('Z', 0x300)));
        assert_eq!(parse_stat(&zombie_stat(9)), Some(('Z', 9)));
        assert_eq!(parse_stat("1 (sh) S 0 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_the_pid_of_a_pidfd() {
        assert_eq!(
            fdinfo_pid("pos:\t0\nflags:\t02000002\nPid:\t42\nNSpid:\t42\n"),
            Some(42)
        );
        assert_eq!(fdinfo_pid("pos:\t0\nPid:\t-1\n"), Some(-1));
        assert_eq!(fdinfo_pid("pos:\t0\n"), None);
    }

    #[test]
    fn stat_status_converts_like_a_wait_status() {
        let (_, status) = parse_stat(&zombie_stat(3 << 8)).unwrap();
        assert_eq!(rukt_contract::exit_code_from_wait_status(status), 3);
        let (_, status) = parse_stat(&zombie_stat(15)).unwrap();
        assert_eq!(rukt_contract::exit_code_from_wait_status(status), 143);
    }

    /// A child of ours that exits with 42 and that we do not reap: the
    /// watcher's situation before the parent reaps, seen through real
    /// kernel interfaces.
    #[test]
    fn status_of_an_unreaped_child() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exit 42"])
            .spawn()
            .unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
        let mut poll = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        rustix::event::poll(&mut poll, None).unwrap();
        let status = wait_status(pidfd.as_fd(), child.id() as i32);
        assert_eq!(
            status.map(rukt_contract::exit_code_from_wait_status),
            Some(42)
        );
        child.wait().unwrap();
        // Reaped now: the ioctl answers on Linux ≥ 6.15, and nothing else can.
        let after = wait_status(pidfd.as_fd(), child.id() as i32);
        if kernel_at_least(6, 15) {
            assert_eq!(after, Some(0x2a00));
        } else {
            assert_eq!(after, None);
        }
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        found >= (major, minor)
    }
}
