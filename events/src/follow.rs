//! Following the journal: a [`Follower`] gives the events a [`Reader`]
//! finds, and when there are none waits for the journal's directory to
//! change (an inotify watch, [`rukt_sys::watch::DirWatch`]) before reading
//! again. Without a watch (no directory yet, or inotify refused) it polls
//! every [`POLL`]; with one it still reads every [`RESCAN`], in case a
//! notification was lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rukt_sys::watch::DirWatch;

use crate::journal::JournalError;
use crate::reader::{Entry, Reader};

/// How often a follower without an inotify watch reads again.
pub const POLL: Duration = Duration::from_millis(20);
/// How often a follower with one reads again anyway.
pub const RESCAN: Duration = Duration::from_secs(1);

/// A reader that waits for what comes next.
#[derive(Debug)]
pub struct Follower {
    reader: Reader,
    watch: Option<DirWatch>,
    queue: VecDeque<Entry>,
}

impl Follower {
    /// Follows from where `reader` is (its first read replays).
    pub fn new(reader: Reader) -> Follower {
        Follower {
            reader,
            watch: None,
            queue: VecDeque::new(),
        }
    }

    /// The reader (its cursor and damage count).
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The next entry, waiting for one until `deadline` (`None`: for
    /// ever); `None` once the deadline has passed with nothing new.
    pub fn next(&mut self, deadline: Option<Instant>) -> Result<Option<Entry>, JournalError> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            // Watching before reading: a line appended after the read wakes
            // the wait below.
            if self.watch.is_none() {
                self.watch = DirWatch::new(self.reader.dir()).ok();
            }
            self.queue.extend(self.reader.read()?);
            if !self.queue.is_empty() {
                continue;
            }
            let mut wait = if self.watch.is_some() { RESCAN } else { POLL };
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                wait = wait.min(left);
            }
            match &self.watch {
                Some(w) => {
                    if w.wait(Some(wait)).is_err() {
                        self.watch = None;
                    }
                }
                None => std::thread::sleep(wait),
            }
        }
    }
}
