//! Version 2: the writer of an app's log file ([`crate::app_log`]), shared
//! by the engines that enforce [`crate::Feature::AppLogs`]. It turns what
//! the supervisor read from an app's stdout or stderr into CRI entries
//! ([`crate::logfmt`]), timestamped at read, and appends them with one
//! `write` per read. It rotates by size (`<app>.log` → `<app>.log.1` → …,
//! keeping [`LogOptions::max_files`] files), reopens on request (after an
//! outside rotation), and never blocks or fails the app: when the disk is
//! full the entries are dropped and counted, and the file is cut back to
//! its last whole entry.
//!
//! The calls a logging supervisor makes per read or per rotation (the
//! clock, `write`, `rename`, `unlink`, `open`) go through rustix's direct
//! system calls and vDSO rather than libc's wrappers: each libc function
//! touched while the app logs keeps 64 KiB of libc mapped in the
//! supervisor (fault-around), which `bench/logs.sh` counts in its RSS.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode, OFlags};

use crate::logfmt::{LogOptions, Stream, encode};

/// One app's log file.
#[derive(Debug)]
pub struct AppLog {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    options: LogOptions,
    buf: Vec<u8>,
    dropped: u64,
}

impl AppLog {
    /// Opens (appending) the log of `app` in the pod directory `pod_dir`,
    /// creating `logs/` (0750) and the file (0640).
    pub fn open(pod_dir: &Path, app: &str, options: LogOptions) -> std::io::Result<AppLog> {
        let dir = pod_dir.join(crate::LOGS_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)?;
        let mut log = AppLog {
            path: pod_dir.join(crate::app_log(app)),
            file: None,
            size: 0,
            options,
            buf: Vec::new(),
            dropped: 0,
        };
        log.file = Some(log.open_file()?);
        Ok(log)
    }

    /// Opens the log of `app` of the pod at `pod_dir`: its own
    /// [`crate::App::log_file`], never rotated here, or `logs/<app>.log`.
    pub fn for_app(
        pod_dir: &Path,
        app: &crate::App,
        options: LogOptions,
    ) -> std::io::Result<AppLog> {
        let Some(path) = &app.log_file else {
            return AppLog::open(pod_dir, &app.name, options);
        };
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)?;
        }
        let mut log = AppLog {
            path: path.clone(),
            file: None,
            size: 0,
            options: LogOptions {
                max_size: u64::MAX,
                ..options
            },
            buf: Vec::new(),
            dropped: 0,
        };
        log.file = Some(log.open_file()?);
        Ok(log)
    }

    /// Opens the live file (close-on-exec, as std opens every file: no app
    /// inherits it).
    fn open_file(&mut self) -> std::io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC;
        let file = File::from(rustix::fs::open(
            &self.path,
            flags,
            Mode::from_raw_mode(0o640),
        )?);
        self.size = rustix::fs::fstat(&file)?.st_size.max(0) as u64;
        Ok(file)
    }

    /// Appends `data`, just read from the app's `stream`: one write per
    /// file it goes into (a rotation can fall between its entries).
    pub fn record(&mut self, stream: Stream, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode(now(), stream, data, &mut buf);
        if self.size + buf.len() as u64 <= self.options.max_size {
            // The common case: no rotation falls inside this read.
            self.append(&buf, data.len());
            self.buf = buf;
            return;
        }
        let (mut start, mut end) = (0, 0);
        for e in memchr::memchr_iter(b'\n', &buf).map(|i| i + 1) {
            if self.size + (e - start) as u64 > self.options.max_size
                && self.size + (end - start) as u64 > 0
            {
                self.append(&buf[start..end], data.len());
                self.rotate();
                start = end;
            }
            end = e;
        }
        self.append(&buf[start..end], data.len());
        self.buf = buf;
    }

    /// Writes whole entries; counts `read` bytes as dropped if it cannot.
    fn append(&mut self, entries: &[u8], read: usize) {
        if entries.is_empty() {
            return;
        }
        if self.file.is_none() {
            self.file = self.open_file().ok();
        }
        let Some(file) = &mut self.file else {
            self.dropped += read as u64;
            return;
        };
        match rustix::io::write(&*file, entries).map_err(std::io::Error::from) {
            Ok(n) if n == entries.len() => self.size += n as u64,
            other => {
                // A whole entry or none: cut a short write back.
                if let Ok(n) = other
                    && n > 0
                {
                    let _ = file.set_len(self.size);
                }
                if self.dropped == 0 {
                    tracing::warn!(
                        "cannot write to {}: {}; dropping the app's output until it can",
                        self.path.display(),
                        other
                            .err()
                            .map_or("short write".to_string(), |e| e.to_string())
                    );
                }
                self.dropped += read as u64;
            }
        }
    }

    /// Bytes of the app's output that could not be written.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Closes and opens the file again (after something else moved it).
    pub fn reopen(&mut self) {
        self.file = None;
        match self.open_file() {
            Ok(f) => self.file = Some(f),
            Err(e) => tracing::warn!("cannot reopen {}: {e}", self.path.display()),
        }
    }

    /// Moves the live file to `.1` (and each older one up by one, the
    /// oldest removed) and starts a new one; with one file, empties it.
    fn rotate(&mut self) {
        let keep = self.options.max_files.max(1);
        if keep == 1 {
            if let Some(f) = &self.file
                && f.set_len(0).is_ok()
            {
                self.size = 0;
            }
            return;
        }
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = rustix::fs::unlink(numbered(keep - 1));
        for n in (1..keep - 1).rev() {
            let _ = rustix::fs::rename(numbered(n), numbered(n + 1));
        }
        if let Err(e) = rustix::fs::rename(&self.path, numbered(1)) {
            tracing::warn!("cannot rotate {}: {e}", self.path.display());
        }
        self.reopen();
    }
}

/// The wall clock, read through the vDSO (as `SystemTime::now`, without
/// libc's wrapper).
fn now() -> SystemTime {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    UNIX_EPOCH + Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfmt::Entry;

    fn entries(path: &Path) -> Vec<(Stream, bool, Vec<u8>)> {
        std::fs::read(path)
            .unwrap()
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let e = Entry::parse(l).unwrap();
                (e.stream, e.full, e.message.to_vec())
            })
            .collect()
    }

    #[test]
    fn records_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions {
            max_size: 200,
            max_files: 3,
        };
        let mut log = AppLog::open(dir.path(), "web", opts).unwrap();
        log.record(Stream::Stdout, b"out\n");
        log.record(Stream::Stderr, b"err\npart");
        let live = dir.path().join("logs/web.log");
        assert_eq!(
            entries(&live),
            [
                (Stream::Stdout, true, b"out".to_vec()),
                (Stream::Stderr, true, b"err".to_vec()),
                (Stream::Stderr, false, b"part".to_vec()),
            ]
        );
        for i in 0..20 {
            log.record(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        // One read larger than a file: split between files at entries.
        let many: String = (20..30).map(|i| format!("line {i}\n")).collect();
        log.record(Stream::Stdout, many.as_bytes());
        assert!(std::fs::metadata(&live).unwrap().len() <= 200);
        assert!(dir.path().join("logs/web.log.1").exists());
        assert!(dir.path().join("logs/web.log.2").exists());
        assert!(!dir.path().join("logs/web.log.3").exists());
        let last = entries(&live);
        assert_eq!(last.last().unwrap().2, b"line 29");
        for f in ["logs/web.log", "logs/web.log.1", "logs/web.log.2"] {
            assert!(
                std::fs::metadata(dir.path().join(f)).unwrap().len() <= 200,
                "{f}"
            );
        }
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn a_full_disk_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AppLog::open(dir.path(), "a", LogOptions::default()).unwrap();
        // /dev/full fails every write with ENOSPC.
        log.file = Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
        log.record(Stream::Stdout, b"lost\n");
        assert_eq!(log.dropped(), 5);
    }
}
