//! Pod states and the directories that hold them, as in rkt:
//!
//! | directory | lock held | state |
//! |---|---|---|
//! | `embryo/` | - | being created |
//! | `prepare/` | yes / no | preparing / aborted prepare |
//! | `prepared/` | - | prepared |
//! | `run/` | yes / no | running / exited |
//! | `exited-garbage/` | yes / no | deleting / exited garbage |
//! | `garbage/` | - | garbage (never ran) |

use std::fmt;

/// A state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dir {
    /// `embryo/`: created, not yet locked and named.
    Embryo,
    /// `prepare/`: being prepared (locked) or an aborted prepare.
    Prepare,
    /// `prepared/`: ready for `run-prepared`.
    Prepared,
    /// `run/`: running (locked) or exited.
    Run,
    /// `exited-garbage/`: exited and marked by gc.
    ExitedGarbage,
    /// `garbage/`: never ran, marked by gc.
    Garbage,
}

impl Dir {
    /// All state directories, in lifecycle order.
    pub const ALL: [Dir; 6] = [
        Dir::Embryo,
        Dir::Prepare,
        Dir::Prepared,
        Dir::Run,
        Dir::ExitedGarbage,
        Dir::Garbage,
    ];

    /// The directory name.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Embryo => "embryo",
            Dir::Prepare => "prepare",
            Dir::Prepared => "prepared",
            Dir::Run => "run",
            Dir::ExitedGarbage => "exited-garbage",
            Dir::Garbage => "garbage",
        }
    }

    /// The state of a pod in this directory, given whether its lock is held.
    pub fn state(self, locked: bool) -> State {
        match (self, locked) {
            (Dir::Embryo, _) => State::Embryo,
            (Dir::Prepare, true) => State::Preparing,
            (Dir::Prepare, false) => State::AbortedPrepare,
            (Dir::Prepared, _) => State::Prepared,
            (Dir::Run, true) => State::Running,
            (Dir::Run, false) => State::Exited,
            (Dir::ExitedGarbage, true) => State::Deleting,
            (Dir::ExitedGarbage, false) => State::ExitedGarbage,
            (Dir::Garbage, _) => State::Garbage,
        }
    }
}

/// What a user sees in `rukt list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Being created.
    Embryo,
    /// Being prepared.
    Preparing,
    /// A prepare that died.
    AbortedPrepare,
    /// Ready to run.
    Prepared,
    /// Its stage1 holds the lock.
    Running,
    /// Ran and ended.
    Exited,
    /// Being removed.
    Deleting,
    /// Exited and marked for removal.
    ExitedGarbage,
    /// Never ran; marked for removal.
    Garbage,
}

impl State {
    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            State::Embryo => "embryo",
            State::Preparing => "preparing",
            State::AbortedPrepare => "aborted-prepare",
            State::Prepared => "prepared",
            State::Running => "running",
            State::Exited => "exited",
            State::Deleting => "deleting",
            State::ExitedGarbage => "exited-garbage",
            State::Garbage => "garbage",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
