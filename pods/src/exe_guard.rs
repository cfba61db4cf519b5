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
//! A process keeps one view per directory for its life ([`views`]):
//! closing the last descriptor of a detached mount unmounts it, and the
//! unmount waits for an RCU grace period (1.8-3.9 ms measured in
//! `rukt-cri`, on every stage1 call of a CRI request). The view shows the
//! directory as it is now, so a binary replaced in it is run as replaced.
//!
//! Scripts (`#!`) are run as they are: the interpreter would have to reopen
//! the view by a descriptor that no longer exists after exec.

use std::collections::HashMap;
use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// A `Command` for a stage1 binary, executing it from a read-only view when
/// possible. Keep it alive until the command has been spawned or exec'd.
pub struct Stage1Command {
    cmd: Command,
    _view: Option<Arc<OwnedFd>>,
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

/// A detached read-only bind mount of the directory of `path` (this
/// process's one for that directory), and the file's name in it.
fn readonly_view(path: &Path) -> std::io::Result<(Arc<OwnedFd>, &std::ffi::OsStr)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::ErrorKind::InvalidInput.into());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = std::fs::canonicalize(dir)?;
    let now = rustix::fs::stat(&dir)?;
    let mut views = views().lock().unwrap_or_else(|e| e.into_inner());
    // Still the directory at that path (not one removed and made again,
    // as a reinstall may do while `rukt-cri` runs).
    if let Some(view) = views.get(&dir)
        && rustix::fs::fstat(&**view)
            .is_ok_and(|v| (v.st_dev, v.st_ino) == (now.st_dev, now.st_ino))
    {
        return Ok((view.clone(), name));
    }
    let view = Arc::new(rukt_sys::view::readonly_view(&dir)?);
    views.insert(dir, view.clone());
    Ok((view, name))
}

/// The views this process made, by directory, kept until it exits (see
/// the module doc).
fn views() -> &'static Mutex<HashMap<PathBuf, Arc<OwnedFd>>> {
    static VIEWS: OnceLock<Mutex<HashMap<PathBuf, Arc<OwnedFd>>>> = OnceLock::new();
    VIEWS.get_or_init(Mutex::default)
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
    fn a_directory_gets_one_view_for_the_process() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("true");
        std::fs::copy("/bin/true", &bin).unwrap();
        let first = command(&bin);
        let second = command(&bin);
        assert!(
            first
                .get_program()
                .to_string_lossy()
                .starts_with("/proc/self/fd/")
        );
        assert_eq!(first.get_program(), second.get_program());
        // A binary put in the directory later runs through the same view.
        std::fs::copy("/bin/false", dir.path().join("false")).unwrap();
        let status = command(&dir.path().join("false")).status().unwrap();
        assert_eq!(status.code(), Some(1));
        // The directory removed and made again: a new view of the new one.
        let path = dir.path().to_path_buf();
        dir.close().unwrap();
        std::fs::create_dir(&path).unwrap();
        std::fs::copy("/bin/true", &bin).unwrap();
        let again = command(&bin);
        assert_ne!(first.get_program(), again.get_program());
        assert!(command(&bin).status().unwrap().success());
        std::fs::remove_dir_all(&path).unwrap();
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
