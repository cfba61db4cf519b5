//! `ExecSync`: a command in a running container through its engine's
//! `enter` entrypoint, started as a child process of `rukt-cri` in its own
//! process group. Output is read concurrently, each stream capped at 16
//! MiB (the rest is drained and dropped: CVE-2022-1708); past the timeout
//! the whole group is killed and the RPC fails with DEADLINE_EXCEEDED, as
//! kubelet expects of a probe that timed out. A command that exits
//! non-zero is an OK reply carrying its exit code.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use rukt_pods::Pod;
use rukt_pods::enter::EnterRequest;
use tonic::Status;

use crate::error::chain;

/// Cap on each of stdout and stderr.
pub const MAX_OUTPUT: usize = 16 << 20;

/// What the command did.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Its stdout, at most [`MAX_OUTPUT`] bytes.
    pub stdout: Vec<u8>,
    /// Its stderr, at most [`MAX_OUTPUT`] bytes.
    pub stderr: Vec<u8>,
    /// Its exit code (128+N for signal N).
    pub exit_code: i32,
}

/// Reads `r` to its end, keeping the first `cap` bytes.
fn read_capped(mut r: impl Read, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    out
}

/// Whether `child` exits within `timeout` (`None`: it is waited for): its
/// exit wakes a poll on its pidfd at once (a probe's latency is the
/// command's, not a polling interval's).
fn exits_within(child: &Child, timeout: Option<Duration>) -> std::io::Result<bool> {
    let Some(timeout) = timeout else {
        return Ok(true);
    };
    let pid = rustix::process::Pid::from_child(child);
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ts = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits for `child` at most `timeout` (`None`: no limit), collecting
/// its output; past it, kills its process group and returns `None`.
pub fn collect(mut child: Child, timeout: Option<Duration>) -> std::io::Result<Option<Outcome>> {
    let out = child
        .stdout
        .take()
        .map(|o| std::thread::spawn(move || read_capped(o, MAX_OUTPUT)));
    let err = child
        .stderr
        .take()
        .map(|e| std::thread::spawn(move || read_capped(e, MAX_OUTPUT)));
    let status = if exits_within(&child, timeout)? {
        Some(child.wait()?)
    } else {
        kill_group(&child);
        let _ = child.wait();
        None
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let Some(status) = status else {
        // The readers end once every holder of the pipes is dead.
        return Ok(None);
    };
    let (stdout, stderr) = (join(out), join(err));
    use std::os::unix::process::ExitStatusExt;
    let exit_code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Some(Outcome {
        stdout,
        stderr,
        exit_code,
    }))
}

fn kill_group(child: &Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Runs `cmd` in `app` of `pod`; `timeout` 0 means none.
pub fn exec_sync(
    pod: &Pod,
    app: &str,
    cmd: Vec<String>,
    timeout: Duration,
    debug: bool,
) -> Result<Outcome, Status> {
    if cmd.is_empty() {
        return Err(crate::error::invalid("ExecSync needs a command"));
    }
    let req = EnterRequest {
        app: Some(app.to_string()),
        command: cmd,
        debug,
    };
    let child = rukt_pods::enter::spawn(pod, &req, [Stdio::null(), Stdio::piped(), Stdio::piped()])
        .map_err(|e| match e {
            rukt_pods::enter::EnterError::NotRunning { .. } => {
                Status::failed_precondition(chain(&e))
            }
            e => Status::internal(chain(&e)),
        })?;
    let limit = (!timeout.is_zero()).then_some(timeout);
    match collect(child, limit).map_err(|e| Status::internal(format!("exec: {e}")))? {
        Some(o) => Ok(o),
        None => Err(Status::deadline_exceeded(format!(
            "command timed out after {}s and was killed",
            timeout.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn sh(script: &str) -> Child {
        std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn exit_codes_and_output_are_kept() {
        let o = collect(sh("echo out; echo err >&2; exit 3"), None)
            .unwrap()
            .unwrap();
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
        assert_eq!(o.exit_code, 3);
    }

    #[test]
    fn output_is_capped_and_drained() {
        let o = collect(
            sh("head -c 17000000 /dev/zero; echo done >&2"),
            Some(Duration::from_secs(60)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.stdout.len(), MAX_OUTPUT);
        assert_eq!(o.stderr, b"done\n");
        assert_eq!(o.exit_code, 0);
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let start = std::time::Instant::now();
        let o = collect(
            sh(&format!("sleep 30 & echo $! > {}; wait", pidfile.display())),
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(o.is_none());
        assert!(start.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone too (reaped by init, or a zombie at worst).
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "sleep survived: {state}"
        );
    }
}
