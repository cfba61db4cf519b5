//! A reader of the event journal (`<store>/events/events.log{,.1}`, one JSON
//! object per line; the format is fixed in docs/api.md): replay after a
//! sequence number or from a time, then read what is appended, across a
//! rotation. It never takes the writers' lock: a line is read only once its
//! `\n` is there, and a line that is not a valid event is skipped and
//! counted. This is the service's one view of the journal (the events
//! crate's reader can replace it behind the same interface).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The journal's directory below the store root.
pub const EVENTS_DIR: &str = "events";
const CURRENT: &str = "events.log";
const PREVIOUS: &str = "events.log.1";

/// One event as the journal has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JournalEvent {
    /// Strictly increasing sequence number.
    pub seq: u64,
    /// RFC 3339 UTC.
    pub time: String,
    /// The same instant, ns since the epoch (0 when the line lacks it).
    #[serde(default)]
    pub time_ns: u64,
    /// `pod_started`, `app_exited`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The pod UUID or image ID.
    pub id: String,
    /// The pod's, app's or image's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The app, for app events.
    #[serde(default)]
    pub app: Option<String>,
    /// A related image.
    #[serde(default)]
    pub image: Option<String>,
    /// The exit code, for exits.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The app was OOM-killed.
    #[serde(default)]
    pub oom: Option<bool>,
    /// Anything else.
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// What one read gave.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events after the cursor, in order.
    pub events: Vec<JournalEvent>,
    /// Lines skipped as damaged.
    pub damaged: u64,
}

/// An open journal file and what of it was read.
struct Open {
    file: File,
    ino: u64,
    /// Bytes after the last `\n` read (a line being written).
    rest: Vec<u8>,
}

/// Reads the journal of one store from a cursor on.
pub struct Reader {
    dir: PathBuf,
    /// The highest seq handed out (or skipped as before the start).
    cursor: u64,
    /// Only events at or after this time, ns.
    since_ns: u64,
    current: Option<Open>,
}

fn open(path: &Path) -> io::Result<Option<Open>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let ino = file.metadata()?.ino();
    Ok(Some(Open {
        file,
        ino,
        rest: Vec::new(),
    }))
}

impl Reader {
    /// A reader of the journal of the store at `store_root` that hands out
    /// events with `seq > after_seq` and `time_ns >= since_ns`.
    pub fn new(store_root: &Path, after_seq: u64, since_ns: u64) -> Reader {
        Reader {
            dir: store_root.join(EVENTS_DIR),
            cursor: after_seq,
            since_ns,
            current: None,
        }
    }

    /// The highest seq handed out or passed over so far.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Every complete line not read yet. The first call replays the
    /// previous file, then the current one; later calls read what was
    /// appended and, once `events.log` was replaced, the rest of the old
    /// file and then the new one.
    pub fn read(&mut self) -> io::Result<Batch> {
        let mut batch = Batch::default();
        if self.current.is_none() {
            let current = open(&self.dir.join(CURRENT))?;
            // Rotated between the two opens: the previous file is the one
            // just opened as current, read once.
            if let Some(mut prev) = open(&self.dir.join(PREVIOUS))?
                && current.as_ref().is_none_or(|c| c.ino != prev.ino)
            {
                self.drain(&mut prev, &mut batch)?;
                self.finish(&mut prev, &mut batch);
            }
            self.current = current;
        }
        loop {
            let Some(mut cur) = self.current.take() else {
                self.current = open(&self.dir.join(CURRENT))?;
                if self.current.is_none() {
                    return Ok(batch);
                }
                continue;
            };
            self.drain(&mut cur, &mut batch)?;
            let now = std::fs::symlink_metadata(self.dir.join(CURRENT))
                .map(|m| m.ino())
                .ok();
            if now.is_some_and(|ino| ino != cur.ino) {
                // Replaced by a rotation: the old file is complete.
                self.drain(&mut cur, &mut batch)?;
                self.finish(&mut cur, &mut batch);
                self.current = open(&self.dir.join(CURRENT))?;
                continue;
            }
            self.current = Some(cur);
            return Ok(batch);
        }
    }

    /// Reads `f` to its end, parsing every complete line.
    fn drain(&mut self, f: &mut Open, batch: &mut Batch) -> io::Result<()> {
        let mut data = std::mem::take(&mut f.rest);
        f.file.read_to_end(&mut data)?;
        let keep = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        f.rest = data.split_off(keep);
        for line in data.split(|b| *b == b'\n') {
            if !line.is_empty() {
                self.line(line, batch);
            }
        }
        Ok(())
    }

    /// A rotated-away file never gets its last line completed: damaged.
    fn finish(&mut self, f: &mut Open, batch: &mut Batch) {
        if !f.rest.is_empty() {
            f.rest.clear();
            batch.damaged += 1;
        }
    }

    fn line(&mut self, line: &[u8], batch: &mut Batch) {
        match serde_json::from_slice::<JournalEvent>(line) {
            Ok(e) => {
                if e.seq <= self.cursor {
                    return;
                }
                self.cursor = e.seq;
                if e.time_ns >= self.since_ns {
                    batch.events.push(e);
                }
            }
            Err(err) => {
                tracing::warn!(
                    "event journal {}: skipped a damaged line after seq {}: {err}",
                    self.dir.display(),
                    self.cursor
                );
                batch.damaged += 1;
            }
        }
    }
}

/// The newest seq in the journal of the store at `store_root` (0: none).
pub fn last_seq(store_root: &Path) -> io::Result<u64> {
    let mut r = Reader::new(store_root, 0, u64::MAX);
    r.read()?;
    Ok(r.cursor())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(seq: u64, ns: u64) -> String {
        format!(
            "{{\"seq\":{seq},\"time\":\"t\",\"time_ns\":{ns},\"type\":\"pod_started\",\"id\":\"p{seq}\"}}\n"
        )
    }

    fn append(dir: &Path, name: &str, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(EVENTS_DIR).join(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn seqs(b: &Batch) -> Vec<u64> {
        b.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn replays_both_files_then_follows_a_rotation_and_skips_damage() {
        let store = tempfile::tempdir().unwrap();
        let s = store.path();
        std::fs::create_dir(s.join(EVENTS_DIR)).unwrap();
        append(s, PREVIOUS, &(line(1, 10) + &line(2, 20)));
        append(
            s,
            CURRENT,
            &(line(3, 30) + "{not json\n" + &line(4, 40) + "{\"seq\":5"),
        );
        let mut r = Reader::new(s, 1, 0);
        let b = r.read().unwrap();
        assert_eq!(seqs(&b), [2, 3, 4]);
        assert_eq!(b.damaged, 1);
        // The torn line is completed; then a rotation and a new file.
        append(
            s,
            CURRENT,
            ",\"time\":\"t\",\"type\":\"pod_exited\",\"id\":\"x\"}\n",
        );
        std::fs::rename(
            s.join(EVENTS_DIR).join(CURRENT),
            s.join(EVENTS_DIR).join(PREVIOUS),
        )
        .unwrap();
        append(s, CURRENT, &line(6, 60));
        let b = r.read().unwrap();
        assert_eq!(seqs(&b), [5, 6]);
        assert_eq!(b.damaged, 0);
        assert!(r.read().unwrap().events.is_empty());
        assert_eq!(last_seq(s).unwrap(), 6);
        let mut since = Reader::new(s, 0, 50);
        assert_eq!(seqs(&since.read().unwrap()), [6]);
    }

    #[test]
    fn no_journal_is_no_events() {
        let store = tempfile::tempdir().unwrap();
        let mut r = Reader::new(store.path(), 0, 0);
        assert!(r.read().unwrap().events.is_empty());
        assert_eq!(last_seq(store.path()).unwrap(), 0);
    }
}
