//! Running a stage1 binary so that nothing in a pod can overwrite it through
//! `/proc/<pid>/exe` (the CVE-2019-5736 class: a pod process that opens the
//! runtime's executable by that link and writes to it once it is no longer
//! busy). stage1 is executed from a detached, read-only bind mount of its
//! binary's directory: every process that runs it, and every app init
//! libcontainer clones from it, has an `exe` on a read-only mount, where
//! opening for writing fails with EROFS (`/proc/<pid>/exe` reads
//! `/<binary name>`). The mount is attached nowhere, so it is invisible and
//! disappears with the last process using it; making one costs two system
//! calls (no copy, unlike a sealed memfd).
//!
//! Scripts (`#!`) are run as they are: the interpreter would have to reopen
//! the view by a descriptor that no longer exists after exec.

use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A `Command` for a stage1 binary, executing it from a read-only view when
/// possible. Keep it alive until the command has been spawned or exec'd.
pub struct Stage1Command {
    cmd: Command,
    _view: Option<OwnedFd>,
}

impl Deref for Stage1Command {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl DerefMut for Stage1Command {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

/// The command running `path`, guarded when it is a binary.
pub fn command(path: &Path) -> Stage1Command {
    if !is_script(path) {
        match readonly_view(path) {
            Ok((view, name)) => {
                let mut cmd = Command::new(
                    Path::new(&format!("/proc/self/fd/{}", view.as_raw_fd())).join(name),
                );
                // Its name only: a pod sees the supervisor's argv (in
                // `ps` with `--pid=pod` or `host`), not a host path.
                cmd.arg0(name);
                return Stage1Command {
                    cmd,
                    _view: Some(view),
                };
            }
            Err(e) => tracing::warn!(
                "cannot make a read-only view of {} ({e}); running it unguarded",
                path.display()
            ),
        }
    }
    Stage1Command {
        cmd: Command::new(path),
        _view: None,
    }
}

fn is_script(path: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"#!")
}

/// A detached read-only bind mount of the directory of `path`, and the
/// file's name in it.
fn readonly_view(path: &Path) -> std::io::Result<(OwnedFd, &std::ffi::OsStr)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::ErrorKind::InvalidInput.into());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    Ok((rukt_sys::view::readonly_view(dir)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an attacker in a pod does: keep a handle on the running binary
    /// through `/proc/<pid>/exe`, then reopen it for writing once it is no
    /// longer busy. The outcome of that reopening.
    fn reopen_for_writing(mut child: std::process::Child) -> Result<OwnedFd, rustix::io::Errno> {
        let exe = rustix::fs::open(
            format!("/proc/{}/exe", child.id()),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        child.wait().unwrap();
        rustix::fs::open(
            format!("/proc/self/fd/{}", exe.as_raw_fd()),
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
    }

    #[test]
    fn binaries_run_from_a_readonly_view() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        // A copy, so that a failing guard cannot damage the system's sleep.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("sleep");
        std::fs::copy("/bin/sleep", &bin).unwrap();
        let guarded = command(&bin).arg("0.3").spawn().unwrap();
        assert_eq!(
            reopen_for_writing(guarded).err(),
            Some(rustix::io::Errno::ROFS)
        );
        // Unguarded, the same steps succeed: the test can fail.
        let unguarded = Command::new(&bin).arg("0.3").spawn().unwrap();
        assert!(reopen_for_writing(unguarded).is_ok());
    }

    #[test]
    fn scripts_run_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh\necho ok\n").unwrap();
        assert!(is_script(&script));
        assert!(!is_script(Path::new("/bin/sh")));
    }
}
