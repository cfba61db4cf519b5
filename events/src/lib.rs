//! The event journal (`<store>/events/`, format in `docs/api.md`): one JSON
//! object per line, appended by whoever makes a change (stage0 when it
//! prepares a pod or stores or removes an image, a stage1's supervisor when
//! apps start and exit, gc when it removes a pod), each line one `write(2)`
//! under an exclusive `flock` of `events.lock`.
//!
//! - [`event`]: the [`Event`] and its [`EventType`];
//! - [`journal`]: the writers' side ([`Journal::append`]: sequence numbers,
//!   torn-line repair, rotation at the size cap) and [`record`], which only
//!   warns on failure, for callers an event must never fail;
//! - [`reader`]: replaying from a sequence number across `events.log.1` and
//!   `events.log`, skipping and reporting damaged lines ([`Reader`]);
//! - [`follow`]: waiting for what comes next ([`Follower`], inotify with a
//!   polling fallback);
//! - [`filter`]: which events a reader wants ([`Filter`]).
//!
//! Events are advisory: nothing is synced, and a writer killed mid-line
//! leaves at worst one damaged line that readers skip.

pub mod event;
pub mod filter;
pub mod follow;
pub mod journal;
pub mod reader;
mod tail;

pub use event::{Event, EventType};
pub use filter::{Filter, FilterError};
pub use follow::Follower;
pub use journal::{Journal, JournalError, last_seq, record};
pub use reader::{Damaged, Entry, Reader};

/// The journal's directory below the store root.
pub const EVENTS_DIR: &str = "events";
/// The current file.
pub const EVENTS_LOG: &str = "events.log";
/// The previous file, after a rotation.
pub const EVENTS_LOG_OLD: &str = "events.log.1";
/// The writers' lock; readers never take it.
pub const EVENTS_LOCK: &str = "events.lock";
/// The size at which `events.log` is rotated, by default (1 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 1 << 20;
/// Overrides [`DEFAULT_MAX_SIZE`] (bytes), for tests.
pub const ENV_MAX_SIZE: &str = "RUKT_EVENTS_MAX_SIZE";

/// The journal directory of the store at `store_root`.
pub fn events_dir(store_root: &std::path::Path) -> std::path::PathBuf {
    store_root.join(EVENTS_DIR)
}
