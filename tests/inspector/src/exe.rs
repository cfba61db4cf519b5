//! `try-write-exe`: can a process's executable be opened for writing through
//! `/proc/PID/exe` (the runc CVE-2019-5736 class)? Both while the process runs (when the
//! kernel may answer `ETXTBSY`) and, through an `O_PATH` descriptor kept from before, after it
//! has exited: only a read-only mount refuses then (unless another process still executes the
//! same file, which keeps `ETXTBSY`); so the mount's read-only flag is reported too. Nothing
//! is ever written.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sys;

/// Whether process `pid` has exited (gone, or a zombie whose memory and executable are
/// released).
fn exited(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Probes `/proc/PID/exe` now and, if `wait` is not zero, once more after the process has
/// exited (waiting at most `wait`; `holding` is printed on `out` once the descriptor is
/// open, so a caller knows when it may end the process). Returns
/// `{exe, open_path, mount_ro, now, exited, after_exit}`.
pub fn try_write_exe(pid: u32, wait: Duration, out: &mut impl Write) -> io::Result<Value> {
    let link = format!("/proc/{pid}/exe");
    let exe = fs::read_link(&link)
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let fd = match sys::open(Path::new(&link), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) => return Ok(json!({ "exe": exe, "open_path": sys::error_name(&e) })),
    };
    let reopen = format!("/proc/self/fd/{fd}");
    let mount_ro = sys::fd_mount_read_only(fd).ok();
    let now = sys::write_probe(Path::new(&reopen));
    let mut after_exit = None;
    let mut gone = false;
    if !wait.is_zero() {
        writeln!(out, "holding")?;
        out.flush()?;
        let deadline = Instant::now() + wait;
        while !exited(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        gone = exited(pid);
        if gone {
            after_exit = Some(sys::write_probe(Path::new(&reopen)));
        }
    }
    sys::close(fd);
    Ok(json!({
        "exe": exe,
        "open_path": "ok",
        "mount_ro": mount_ro,
        "now": now,
        "exited": gone,
        "after_exit": after_exit,
    }))
}
