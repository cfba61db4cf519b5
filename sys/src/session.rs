//! Starting a command in a session of its own, as a daemon-less runtime's
//! long-lived children must be (`rukt cri`'s pod supervisors): no
//! controlling terminal, no process group shared with the caller, so that
//! neither a terminal's hang-up nor a signal to the caller's group reaches
//! them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd` call setsid(2) between fork and exec.
pub fn setsid_on_exec(cmd: &mut Command) {
    // SAFETY: the hook runs between fork and exec and makes only the
    // async-signal-safe setsid(2) call; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_leads_a_session_of_its_own() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "ps -o sid= -p $$; echo $$"]);
        setsid_on_exec(&mut cmd);
        let out = cmd.output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines().map(|l| l.trim().to_string());
        let (sid, pid) = (lines.next().unwrap(), lines.next().unwrap());
        assert_eq!(sid, pid, "{text}");
    }
}
