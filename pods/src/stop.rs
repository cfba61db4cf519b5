//! Stopping a running pod: ask its stage1 (`stop` entrypoint), then check
//! that the pod's lock was released, since processes that inherited the lock
//! keep a pod alive after its app is gone (as in rkt's fly).

use std::time::Duration;

use rukt_contract::StopArgs;

use crate::pod::{Pod, PodError};
use crate::stage1::Stage1;
use crate::state::State;

/// How to stop.
#[derive(Debug, Clone, Copy)]
pub struct StopOptions {
    /// Kill at once instead of asking.
    pub force: bool,
    /// How long stage1 waits after asking before it kills.
    pub timeout: Duration,
    /// Pass `--debug` to stage1.
    pub debug: bool,
}

/// What became of a pod asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// It is stopped (or had already exited).
    Stopped,
    /// stage1 stopped its apps but something that inherited the pod lock
    /// keeps it running.
    StillRunning,
}

/// Why a pod could not be stopped.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The pod is not running and never will be without `run-prepared`.
    #[error("pod {uuid} is {state}, not running")]
    NotRunning {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// Its state.
        state: State,
    },
    /// Its manifest is unreadable.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// Its stage1 is gone or unusable.
    #[error(transparent)]
    Stage1(#[from] crate::stage1::Stage1Error),
    /// stage1 could not be run.
    #[error("cannot run stage1 stop for pod {uuid}")]
    Exec {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// stage1 ran and failed.
    #[error("stage1 could not stop pod {uuid} ({status})")]
    Failed {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// How stage1 exited.
        status: std::process::ExitStatus,
    },
}

/// How long a pod may hold its lock after stage1 said it stopped it.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Stops `pod` if it runs; an exited pod is already stopped.
pub fn stop(pod: &Pod, opts: StopOptions) -> Result<StopOutcome, StopError> {
    match pod.state() {
        State::Running => {}
        State::Exited | State::ExitedGarbage => return Ok(StopOutcome::Stopped),
        state => {
            return Err(StopError::NotRunning {
                uuid: pod.uuid,
                state,
            });
        }
    }
    let manifest = pod.manifest()?;
    let args = StopArgs {
        debug: opts.debug,
        force: opts.force,
        timeout_secs: opts.timeout.as_secs(),
        uuid: pod.uuid.to_string(),
    };
    let status = Stage1::for_pod(pod, &manifest)?
        .call(pod, args.to_argv())
        .map_err(|source| StopError::Exec {
            uuid: pod.uuid,
            source,
        })?;
    if !status.success() {
        return Err(StopError::Failed {
            uuid: pod.uuid,
            status,
        });
    }
    Ok(if released(pod) {
        StopOutcome::Stopped
    } else {
        StopOutcome::StillRunning
    })
}

/// Whether the pod's lock is released within [`RELEASE_WAIT`].
fn released(pod: &Pod) -> bool {
    let step = Duration::from_millis(5);
    for _ in 0..RELEASE_WAIT.as_millis() / step.as_millis() {
        if pod.state() != State::Running {
            return true;
        }
        std::thread::sleep(step);
    }
    false
}
