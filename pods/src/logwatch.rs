//! Waiting for a pod's log files to change, for `rukt logs -f`: a watch on
//! the pod's `logs/` directory ([`rukt_sys::watch::DirWatch`]) wakes the
//! follower as soon as the supervisor appends, rotates or creates a file,
//! instead of a fixed poll. The wait still ends after a timeout, so the
//! follower notices the pod's exit (a released lock fires no event); where
//! inotify is unavailable (no instances left) it degrades to sleeping for
//! that timeout.

use std::path::Path;
use std::time::Duration;

use rukt_sys::watch::DirWatch;

/// A watch on one logs directory.
pub struct LogWatch {
    watch: Option<DirWatch>,
}

impl LogWatch {
    /// Watches `dir`.
    pub fn new(dir: &Path) -> LogWatch {
        let watch = DirWatch::new(dir)
            .inspect_err(|e| tracing::debug!("no watch on {}: {e}; polling", dir.display()))
            .ok();
        LogWatch { watch }
    }

    /// Returns once something changed in the directory, or after `timeout`.
    pub fn wait(&self, timeout: Duration) {
        match &self.watch {
            Some(w) if w.wait(Some(timeout)).is_ok() => {}
            _ => std::thread::sleep(timeout),
        }
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
