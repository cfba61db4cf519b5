//! Waiting for a pod's log files to change, for `rukt logs -f`: an inotify
//! watch on the pod's `logs/` directory wakes the follower as soon as the
//! supervisor appends, rotates or creates a file, instead of a fixed poll.
//! The wait still ends after a timeout, so the follower notices the pod's
//! exit (a released lock fires no event); where inotify is unavailable (no
//! instances left) it degrades to sleeping for that timeout.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// A watch on one logs directory.
pub struct LogWatch {
    fd: Option<OwnedFd>,
}

impl LogWatch {
    /// Watches `dir` for writes, new files and renames into it.
    pub fn new(dir: &Path) -> LogWatch {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                let flags = WatchFlags::MODIFY | WatchFlags::CREATE | WatchFlags::MOVED_TO;
                inotify::add_watch(fd, dir, flags).is_ok()
            });
        if fd.is_none() {
            tracing::debug!("no inotify watch on {}; polling", dir.display());
        }
        LogWatch { fd }
    }

    /// Returns once something changed in the directory, or after `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let Some(fd) = &self.fd else {
            return std::thread::sleep(timeout);
        };
        let ts = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        let _ = rustix::event::poll(&mut fds, Some(&ts));
        // The events themselves do not matter: the follower rereads.
        let mut buf = [0u8; 4096];
        while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn wakes_on_a_write_long_before_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.log");
        std::fs::write(&file, "").unwrap();
        let watch = LogWatch::new(dir.path());
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(&file, "line\n").unwrap();
        });
        let start = Instant::now();
        watch.wait(Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        writer.join().unwrap();
    }
}
