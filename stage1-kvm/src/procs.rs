//! The host processes a kvm pod starts (virtiofsd, qemu) are tied to it:
//! each gets `PR_SET_PDEATHSIG` = SIGKILL, so it dies with the stage1
//! process even after a `kill -9` of it, runs in a process group of its own
//! (a terminal's ^C reaches the stage1, which forwards it to the apps, not
//! the VMM), and is recorded in `stage1/pids` with its start time, so that
//! `stop --force` and `gc` can kill it by PID without ever killing a
//! recycled one.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

/// The record of started processes, in the stage1 directory.
pub const PIDS_FILE: &str = "pids";

/// Makes `cmd`'s process die with this one and leave our process group.
pub fn tie_to_us(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    cmd.process_group(0);
    // SAFETY: the closure only makes async-signal-safe system calls (prctl,
    // getppid) between fork and exec; prctl(PR_SET_PDEATHSIG) takes a signal
    // number and nothing else.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We died before the prctl took effect: do not outlive us.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::other("the stage1 process is gone"));
            }
            Ok(())
        });
    }
}

/// A process's start time (clock ticks since boot), field 22 of its
/// `/proc/<pid>/stat`.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    rukt_sys::procstat::fields_after_comm(stat)?
        .nth(19)?
        .parse()
        .ok()
}

/// Appends `name pid starttime` to `stage1/pids`.
pub fn record(stage1: &Path, name: &str, pid: u32) -> anyhow::Result<()> {
    let start = start_time(pid).unwrap_or(0);
    let path = stage1.join(PIDS_FILE);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!("{name} {pid} {start}\n"));
    // Not synced: after a host crash none of them is alive anyway.
    rukt_sys::atomic::write_replace(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The recorded processes still alive (same PID, same start time).
pub fn alive(stage1: &Path) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(stage1.join(PIDS_FILE)).unwrap_or_default();
    parse_records(&text)
        .into_iter()
        .filter(|(_, pid, start)| start_time(*pid) == Some(*start))
        .map(|(name, pid, _)| (name, pid))
        .collect()
}

fn parse_records(text: &str) -> Vec<(String, u32, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.to_string(),
                w.next()?.parse().ok()?,
                w.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// SIGKILLs every recorded process still alive (`name` only, if given) and
/// waits for them to be gone; how many were killed.
pub fn kill_recorded(stage1: &Path, name: Option<&str>) -> anyhow::Result<usize> {
    let victims: Vec<(String, u32)> = alive(stage1)
        .into_iter()
        .filter(|(n, _)| name.is_none_or(|want| want == n))
        .collect();
    for (n, pid) in &victims {
        let Some(p) = rustix::process::Pid::from_raw(*pid as i32) else {
            continue;
        };
        match rustix::process::kill_process(p, rustix::process::Signal::KILL) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot kill {n} (PID {pid})")),
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while victims.iter().any(|(_, pid)| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(victims.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat =
            "4242 (qemu (x) 1) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn records_parse_and_stale_ones_are_not_alive() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), "me", std::process::id()).unwrap();
        std::fs::write(
            dir.path().join(PIDS_FILE),
            format!(
                "{}gone {} 1\nbroken line\n",
                std::fs::read_to_string(dir.path().join(PIDS_FILE)).unwrap(),
                std::process::id()
            ),
        )
        .unwrap();
        assert_eq!(parse_records("a 1 2\nb x 3\n"), [("a".to_string(), 1, 2)]);
        assert_eq!(alive(dir.path()), [("me".to_string(), std::process::id())]);
    }
}
