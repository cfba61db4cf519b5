//! The event log file: CEL-JSON records in JSON-SEQ framing (RFC 7464,
//! `0x1E` JSON `\n`, as systemd's `tpm2-measure.log`), one log per boot.
//! Writers hold an exclusive `flock` on the log while they append, sync and
//! extend; a reader that wants a log consistent with the PCR takes it
//! shared. While a record is appended but not yet extended the file has its
//! sticky bit set (as systemd-pcrlock reads it): found set, a writer died
//! in between.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rukt_sys::lock::{FileLock, LockMode};

use crate::record::Record;

/// The default log, per boot (`/run` is cleared on boot; a stale log is
/// archived when the boot id changes anyway).
pub const DEFAULT_LOG: &str = "/run/rukt/tpm/measure.log";
/// The JSON-SEQ record separator.
const RS: u8 = 0x1E;
const MODE: u32 = 0o644;
const MODE_PENDING: u32 = 0o1644;

/// A log that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file.
    #[error("cannot {action} the TPM event log {}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The log.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record that is not JSON or not a record.
    #[error("record {index} of the TPM event log {} does not parse: {reason}", path.display())]
    Malformed {
        /// The log.
        path: PathBuf,
        /// Its position (from 0) in the file.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// The log at a path, locked.
#[derive(Debug)]
pub struct LockedLog {
    lock: FileLock,
    path: PathBuf,
}

impl LockedLog {
    /// Locks the log at `path` (created, with its directory, if missing).
    pub fn open(path: &Path, mode: LockMode) -> Result<LockedLog, LogError> {
        let io = |action| {
            move |source| LogError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        }
        let lock = FileLock::acquire(path, mode).map_err(io("lock"))?;
        Ok(LockedLog {
            lock,
            path: path.to_path_buf(),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> LogError + '_ {
        move |source| LogError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    fn read_all(&self) -> Result<Vec<u8>, LogError> {
        let mut f = self.lock.file();
        let mut data = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(self.io("read"))?;
        f.read_to_end(&mut data).map_err(self.io("read"))?;
        Ok(data)
    }

    /// Where a torn last record begins (no final newline while the log is
    /// marked pending), if there is one.
    fn torn_tail(&self, data: &[u8]) -> Result<Option<usize>, LogError> {
        if data.is_empty() || data.ends_with(b"\n") || !self.pending_marked()? {
            return Ok(None);
        }
        Ok(Some(data.iter().rposition(|b| *b == RS).unwrap_or(0)))
    }

    /// The first record's boot id and the last record's recnum, from the
    /// ends of the file only: the log grows with every pod, and a writer
    /// must not parse it whole each time. `None` when it is empty.
    pub fn ends(&self) -> Result<Option<(String, u64)>, LogError> {
        const WINDOW: u64 = 64 * 1024;
        let f = self.lock.file();
        let len = f.metadata().map_err(self.io("inspect"))?.len();
        if len == 0 {
            return Ok(None);
        }
        let read = |from: u64, n: u64| {
            let mut buf = vec![0; n as usize];
            f.read_exact_at(&mut buf, from).map(|()| buf)
        };
        let head = read(0, len.min(WINDOW)).map_err(self.io("read"))?;
        let tail_from = len.saturating_sub(WINDOW);
        let tail = read(tail_from, len - tail_from).map_err(self.io("read"))?;
        let first = head
            .iter()
            .position(|b| *b == b'\n')
            .map(|end| &head[..=end]);
        let last = tail.iter().rposition(|b| *b == RS).map(|i| &tail[i..]);
        let (first, last) = match (first, last) {
            (Some(first), Some(last)) => (
                parse(&self.path, first)?.pop(),
                parse(&self.path, last)?.pop(),
            ),
            // A record larger than the window: read it all.
            _ => {
                let mut all = self.records()?;
                (all.first().cloned(), all.pop())
            }
        };
        Ok(first.zip(last).map(|(f, l)| (f.content.boot_id, l.recnum)))
    }

    /// Every record, in file order.
    pub fn records(&self) -> Result<Vec<Record>, LogError> {
        parse(&self.path, &self.read_all()?)
    }

    /// Every record but a torn last one when the log is marked pending
    /// (its writer died while appending it, before it could extend it), and
    /// whether there was one.
    pub fn records_but_torn_tail(&self) -> Result<(Vec<Record>, bool), LogError> {
        let data = self.read_all()?;
        match self.torn_tail(&data)? {
            Some(keep) => Ok((parse(&self.path, &data[..keep])?, true)),
            None => Ok((parse(&self.path, &data)?, false)),
        }
    }

    /// Whether a writer died between appending a record and extending it.
    pub fn pending_marked(&self) -> Result<bool, LogError> {
        let m = self.lock.file().metadata().map_err(self.io("inspect"))?;
        Ok(m.permissions().mode() & 0o1000 != 0)
    }

    /// Cuts a torn last record (no newline: a writer died while appending
    /// it) when the log is marked pending, i.e. before that record could
    /// have been extended; `true` if it did.
    pub fn drop_torn_tail(&self) -> Result<bool, LogError> {
        if !self.pending_marked()? {
            return Ok(false);
        }
        let Some(keep) = self.torn_tail(&self.read_all()?)? else {
            return Ok(false);
        };
        let f: &File = self.lock.file();
        f.set_len(keep as u64).map_err(self.io("truncate"))?;
        f.sync_all().map_err(self.io("sync"))?;
        Ok(true)
    }

    /// Appends `record` and syncs it, marking the log pending until
    /// [`LockedLog::extended`].
    pub fn append(&self, record: &Record) -> Result<(), LogError> {
        let mut f: &File = self.lock.file();
        f.set_permissions(std::fs::Permissions::from_mode(MODE_PENDING))
            .map_err(self.io("mark"))?;
        f.seek(SeekFrom::End(0)).map_err(self.io("append to"))?;
        f.write_all(&record.to_seq())
            .map_err(self.io("append to"))?;
        f.sync_all().map_err(self.io("sync"))
    }

    /// Clears the pending mark: the last record is in the PCR.
    pub fn extended(&self) -> Result<(), LogError> {
        self.lock
            .file()
            .set_permissions(std::fs::Permissions::from_mode(MODE))
            .map_err(self.io("mark"))
    }

    /// Moves this log to `archive`, leaving the path free for a new one.
    /// The lock is released (the next writer locks the new file).
    pub fn archive(self, archive: &Path) -> Result<(), LogError> {
        if let Some(dir) = archive.parent() {
            std::fs::create_dir_all(dir).map_err(self.io("create the archive of"))?;
        }
        std::fs::rename(&self.path, archive).map_err(self.io("archive"))?;
        if let Some(dir) = self.path.parent() {
            rukt_sys::atomic::sync_dir(dir).map_err(self.io("sync the directory of"))?;
        }
        Ok(())
    }
}

/// Reads a log without locking it (for a copy, an archive or an export).
pub fn read(path: &Path) -> Result<Vec<Record>, LogError> {
    let data = std::fs::read(path).map_err(|source| LogError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &data)
}

/// Parses JSON-SEQ `data`.
pub fn parse(path: &Path, data: &[u8]) -> Result<Vec<Record>, LogError> {
    let malformed = |index, reason: String| LogError::Malformed {
        path: path.to_path_buf(),
        index,
        reason,
    };
    if !data.is_empty() && data[0] != RS {
        return Err(malformed(
            0,
            "the log does not start with a record separator".into(),
        ));
    }
    data.split(|b| *b == RS)
        .skip(1)
        .enumerate()
        .map(|(i, chunk)| {
            if chunk.last() != Some(&b'\n') {
                return Err(malformed(i, "truncated (no newline)".into()));
            }
            serde_json::from_slice(chunk).map_err(|e| malformed(i, e.to_string()))
        })
        .collect()
}

/// The kernel's boot id.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::HashAlg;
    use crate::record::{Content, EventKind, Fields};

    #[test]
    fn appends_and_reads_json_seq() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/measure.log");
        let log = LockedLog::open(&path, LockMode::Exclusive).unwrap();
        assert!(log.records().unwrap().is_empty());
        assert_eq!(log.ends().unwrap(), None);
        for n in 0..3 {
            let c = Content::new(EventKind::PodGc, "b".into(), n, Fields::default());
            log.append(&Record::new(n, 15, &[HashAlg::Sha256], c))
                .unwrap();
            assert!(log.pending_marked().unwrap());
            log.extended().unwrap();
        }
        assert!(!log.pending_marked().unwrap());
        let recs = log.records().unwrap();
        assert_eq!(recs.iter().map(|r| r.recnum).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(log.ends().unwrap(), Some(("b".to_string(), 2)));
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data[0], 0x1E);
        // A torn last record is reported, not skipped.
        let torn = &data[..data.len() - 3];
        assert!(matches!(
            parse(&path, torn),
            Err(LogError::Malformed { index: 2, .. })
        ));
    }
}
