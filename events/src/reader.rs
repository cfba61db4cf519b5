//! Replaying the journal. A [`Reader`] remembers the last `seq` it gave out
//! and where it is in `events.log`; each [`Reader::read`] returns what is
//! new: on its first call `events.log.1` then `events.log`, afterwards what
//! was appended since, and after a rotation (the path names another file)
//! the rest of the old descriptor, then the new file (and `events.log.1`
//! when it is not the file just finished: a second rotation came between).
//! Events at or below the cursor are skipped, so nothing is given twice.
//! Only complete lines are read; a line that is not an event is returned
//! once as [`Damaged`] and counted. Readers take no lock.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::journal::{JournalError, io_err};
use crate::{EVENTS_LOG, EVENTS_LOG_OLD, Event, events_dir};

/// A line that is not an event (a torn write, garbage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The file.
    pub file: PathBuf,
    /// Where the line starts in it.
    pub offset: u64,
    /// Its first bytes, lossily decoded.
    pub excerpt: String,
}

/// What a reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An event, in `seq` order.
    Event(Event),
    /// A damaged line, skipped.
    Damaged(Damaged),
}

/// The file being read.
#[derive(Debug)]
struct Current {
    file: File,
    ino: u64,
    /// Where the next unread line starts.
    offset: u64,
}

/// A reader of one store's journal.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    last_seq: u64,
    current: Option<Current>,
    /// The inode of the file last read to its end after a rotation.
    finished: Option<u64>,
    reported: HashSet<(u64, u64)>,
    damaged: u64,
}

impl Reader {
    /// A reader of the journal of the store at `store_root`, from the
    /// first event on. The journal need not exist yet.
    pub fn open(store_root: &Path) -> Reader {
        Reader::after(store_root, 0)
    }

    /// A reader that skips events up to `seq` (a cursor a client kept).
    pub fn after(store_root: &Path, seq: u64) -> Reader {
        Reader {
            dir: events_dir(store_root),
            last_seq: seq,
            current: None,
            finished: None,
            reported: HashSet::new(),
            damaged: 0,
        }
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `seq` of the last event given out (or the cursor started from).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// How many damaged lines were skipped so far.
    pub fn damaged(&self) -> u64 {
        self.damaged
    }

    /// Everything new since the last call (on the first, everything in
    /// both files after the cursor).
    pub fn read(&mut self) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        let log_path = self.dir.join(EVENTS_LOG);
        loop {
            let Some(mut cur) = self.current.take() else {
                // The current file first: if a rotation comes before the
                // old one is opened, that one is the same file.
                let Some(log) = open_existing(&log_path)? else {
                    self.read_old(&mut out)?;
                    return Ok(out);
                };
                self.read_old(&mut out)?;
                self.current = Some(log);
                continue;
            };
            // Looked at before reading: once renamed, nobody appends to it.
            let rotated = ino_of(&log_path)?.is_some_and(|ino| ino != cur.ino);
            self.read_lines(&mut cur, &log_path, rotated, &mut out)?;
            if !rotated {
                self.current = Some(cur);
                return Ok(out);
            }
            self.finished = Some(cur.ino);
        }
    }

    /// Reads `events.log.1` whole unless it is the file just finished.
    fn read_old(&mut self, out: &mut Vec<Entry>) -> Result<(), JournalError> {
        let path = self.dir.join(EVENTS_LOG_OLD);
        if let Some(mut old) = open_existing(&path)?
            && Some(old.ino) != self.finished
        {
            self.read_lines(&mut old, &path, true, out)?;
            // Never appended to again.
            self.finished = Some(old.ino);
        }
        Ok(())
    }

    /// Reads the complete lines of `cur` from its offset; with `to_end`, a
    /// last line without `\n` is damaged too (the file is finished).
    fn read_lines(
        &mut self,
        cur: &mut Current,
        path: &Path,
        to_end: bool,
        out: &mut Vec<Entry>,
    ) -> Result<(), JournalError> {
        cur.file
            .seek(SeekFrom::Start(cur.offset))
            .map_err(io_err("seek in", path))?;
        let mut data = Vec::new();
        cur.file
            .read_to_end(&mut data)
            .map_err(io_err("read", path))?;
        let mut start = 0;
        while let Some(n) = data[start..].iter().position(|&b| b == b'\n') {
            let line = &data[start..start + n];
            self.take(line, cur, path, out);
            start += n + 1;
            cur.offset += n as u64 + 1;
        }
        if to_end && start < data.len() {
            let line = &data[start..];
            self.take(line, cur, path, out);
            cur.offset += line.len() as u64;
        }
        Ok(())
    }

    fn take(&mut self, line: &[u8], cur: &Current, path: &Path, out: &mut Vec<Entry>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match Event::from_line(line) {
            Some(e) if e.seq > self.last_seq => {
                self.last_seq = e.seq;
                out.push(Entry::Event(e));
            }
            Some(_) => {}
            None => {
                if self.reported.insert((cur.ino, cur.offset)) {
                    self.damaged += 1;
                    let excerpt = String::from_utf8_lossy(&line[..line.len().min(80)]);
                    out.push(Entry::Damaged(Damaged {
                        file: path.to_path_buf(),
                        offset: cur.offset,
                        excerpt: excerpt.into_owned(),
                    }));
                }
            }
        }
    }
}

fn open_existing(path: &Path) -> Result<Option<Current>, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let ino = file.metadata().map_err(io_err("stat", path))?.ino();
    Ok(Some(Current {
        file,
        ino,
        offset: 0,
    }))
}

fn ino_of(path: &Path) -> Result<Option<u64>, JournalError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.ino())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}
