//! The writers' side. [`Journal::append`] takes an exclusive `flock` on
//! `events.lock`, repairs a torn last line (a writer killed mid-write left
//! no `\n`: one is written first, so the fragment becomes one damaged line),
//! numbers the event 1 + the last valid line's `seq` (of `events.log`, else
//! of `events.log.1`), rotates `events.log` to `events.log.1` once it has
//! reached the size cap, and appends the line with one `write(2)` on an
//! `O_APPEND` descriptor. Nothing is synced: events are advisory.
//!
//! The directory is made mode 2750 with the store root's group, the files
//! 0640, so a reader in that group (the API service's `rukt`) can read them
//! and nobody but root can write.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rukt_sys::lock::{LockMode, flock};

use crate::{
    DEFAULT_MAX_SIZE, ENV_MAX_SIZE, EVENTS_LOCK, EVENTS_LOG, EVENTS_LOG_OLD, Event, events_dir,
};

/// The journal directory's mode: group-readable, setgid so its files keep
/// its group.
pub const DIR_MODE: u32 = 0o2750;
/// The files' mode.
pub const FILE_MODE: u32 = 0o640;
/// The longest line a writer appends.
pub const MAX_LINE: usize = 64 << 10;

/// Why an event could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The event does not fit in one line of at most [`MAX_LINE`] bytes.
    #[error("the event is {0} bytes long; at most {MAX_LINE} fit in the journal")]
    TooLong(usize),
}

pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The journal of one store, for appending.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    max_size: u64,
}

impl Journal {
    /// The journal of the store at `store_root`, its directory created if
    /// missing. The size cap is [`DEFAULT_MAX_SIZE`], or
    /// `RUKT_EVENTS_MAX_SIZE` bytes.
    pub fn open(store_root: &Path) -> Result<Journal, JournalError> {
        let dir = events_dir(store_root);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, Permissions::from_mode(DIR_MODE))
                    .map_err(io_err("set the mode of", &dir))?;
                // The store's group (`rukt` where the service is installed).
                let gid = std::fs::metadata(store_root)
                    .map_err(io_err("stat", store_root))?
                    .gid();
                std::os::unix::fs::chown(&dir, None, Some(gid))
                    .map_err(io_err("set the group of", &dir))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &dir)(e)),
        }
        let max_size = std::env::var(ENV_MAX_SIZE)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_SIZE);
        Ok(Journal { dir, max_size })
    }

    /// The same journal with a size cap of `bytes` (tests that rotate often).
    pub fn with_max_size(mut self, bytes: u64) -> Journal {
        self.max_size = bytes;
        self
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `event`, numbered and stamped now; returns it as written.
    pub fn append(&self, mut event: Event) -> Result<Event, JournalError> {
        let lock_path = self.dir.join(EVENTS_LOCK);
        let lock = open_file(&lock_path, false)?;
        flock(&lock, LockMode::Exclusive, true).map_err(io_err("lock", &lock_path))?;
        let log_path = self.dir.join(EVENTS_LOG);
        let mut log = open_file(&log_path, true)?;
        let mut size = log.metadata().map_err(io_err("stat", &log_path))?.len();
        if size > 0 && !ends_with_newline(&log, size).map_err(io_err("read", &log_path))? {
            tracing::warn!("{}: repairing a torn last line", log_path.display());
            log.write_all(b"\n").map_err(io_err("write", &log_path))?;
            size += 1;
        }
        let old_path = self.dir.join(EVENTS_LOG_OLD);
        let last = last_seq_in(Some(&log), &log_path, &old_path)?;
        if size >= self.max_size {
            std::fs::rename(&log_path, &old_path).map_err(io_err("rotate", &log_path))?;
            log = open_file(&log_path, true)?;
        }
        event.seq = last + 1;
        event.stamp(SystemTime::now());
        let line = event.to_line();
        if line.len() > MAX_LINE {
            return Err(JournalError::TooLong(line.len()));
        }
        // One write(2): a regular file takes it whole (short only when the
        // disk is full, and then the next writer repairs the line).
        log.write_all(&line).map_err(io_err("write", &log_path))?;
        drop(lock);
        Ok(event)
    }
}

/// Opens (creating with [`FILE_MODE`]) a journal file; `append` for the log.
fn open_file(path: &Path, append: bool) -> Result<File, JournalError> {
    let mut opts = OpenOptions::new();
    opts.read(true).mode(FILE_MODE);
    if append {
        opts.append(true);
    } else {
        opts.write(true);
    }
    match opts.clone().create_new(true).open(path) {
        Ok(f) => {
            // Whatever the umask said.
            f.set_permissions(Permissions::from_mode(FILE_MODE))
                .map_err(io_err("set the mode of", path))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            opts.open(path).map_err(io_err("open", path))
        }
        Err(e) => Err(io_err("create", path)(e)),
    }
}

fn ends_with_newline(file: &File, size: u64) -> io::Result<bool> {
    let mut b = [0u8; 1];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut b, size - 1)?;
    Ok(b[0] == b'\n')
}

/// Appends `event` to the journal of the store at `store_root`, for a
/// caller an event must never fail: a failure is logged as a warning.
/// Returns the event as written.
pub fn record(store_root: &Path, event: Event) -> Option<Event> {
    let kind = event.kind;
    match Journal::open(store_root).and_then(|j| j.append(event)) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(
                event = %kind,
                error = &e as &dyn std::error::Error,
                "cannot record an event in the journal"
            );
            None
        }
    }
}

/// The seq of the last complete event in `log` (the live file, if there is
/// one), else in the rotated file at `old_path`; 0 for an empty journal.
fn last_seq_in(log: Option<&File>, log_path: &Path, old_path: &Path) -> Result<u64, JournalError> {
    if let Some(log) = log
        && let Some(seq) = crate::tail::last_seq(log).map_err(io_err("read", log_path))?
    {
        return Ok(seq);
    }
    match File::open(old_path) {
        Ok(old) => Ok(crate::tail::last_seq(&old)
            .map_err(io_err("read", old_path))?
            .unwrap_or(0)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io_err("open", old_path)(e)),
    }
}

/// The seq of the store's last event (0 when there is none), read from the
/// end of the journal without its lock: what a reader starting "from now"
/// skips.
pub fn last_seq(store_root: &Path) -> Result<u64, JournalError> {
    let dir = events_dir(store_root);
    let (log_path, old_path) = (dir.join(EVENTS_LOG), dir.join(EVENTS_LOG_OLD));
    let log = match File::open(&log_path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("open", &log_path)(e)),
    };
    last_seq_in(log.as_ref(), &log_path, &old_path)
}
