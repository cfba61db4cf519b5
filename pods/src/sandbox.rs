//! `rukt app sandbox`: a mutable pod started with no apps (its network,
//! namespaces, cgroup and supervisor), to which apps are then added with
//! [`crate::app`]. The CLI runs it in the foreground as `rukt run` does
//! (the process becomes the pod, for a systemd unit); [`start_detached`]
//! starts its supervisor in a session of its own and returns once it is
//! ready, for long-lived callers such as `rukt cri`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Child;
use std::time::{Duration, Instant};

use rukt_contract::{ENV_LOCK_FD, READY_FILE, RunArgs};

use crate::pod::{Pod, PodError, Pods};
use crate::prepare::Preparing;
use crate::state::Dir;

/// Where a detached supervisor's stderr goes, in the pod directory.
pub const SUPERVISOR_LOG: &str = "supervisor.log";

/// Why a sandbox did not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The pod directory or its move failed.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The pod was not prepared as a mutable pod.
    #[error("pod {0} is not a mutable pod")]
    NotMutable(crate::id::PodUuid),
    /// The supervisor could not be started.
    #[error("cannot start the supervisor of pod {uuid}")]
    Spawn {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The supervisor ended before the pod was ready.
    #[error("the supervisor of pod {uuid} failed ({status}): {log}")]
    Failed {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// How it exited.
        status: std::process::ExitStatus,
        /// What it said.
        log: String,
    },
    /// The pod was not ready in time (it was stopped).
    #[error("pod {uuid} was not ready within {within:?}")]
    NotReady {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// The limit.
        within: Duration,
    },
}

/// A started sandbox: the running pod and its supervisor, a child of the
/// caller's that the caller must reap (`rukt cri` waits for it in the
/// background; a caller that exits leaves it to init).
pub struct Sandbox {
    /// The pod, in `run/`.
    pub pod: Pod,
    /// Its supervisor.
    pub supervisor: Child,
}

/// Starts the supervisor of the mutable pod `preparing` (prepared with
/// [`crate::PodSpec::mutable`] and no apps) detached from the caller: its
/// own session, stdin and stdout on `/dev/null`, stderr appended to
/// [`SUPERVISOR_LOG`] in the pod directory (its warnings, and with
/// `debug` its debug log; a mutable pod's apps' output is in their own
/// logs). Returns once the pod is ready; if the supervisor fails or is not
/// ready `within`, it is killed and the error says what it said last.
pub fn start_detached(
    pods: &Pods,
    preparing: Preparing,
    debug: bool,
    within: Duration,
) -> Result<Sandbox, SandboxError> {
    let Preparing {
        pod,
        lock,
        manifest,
        stage1,
    } = preparing;
    if !manifest.mutable {
        return Err(SandboxError::NotMutable(pod.uuid));
    }
    let pod = pods.move_to(&pod, Dir::Run)?;
    let spawn_err = |source| SandboxError::Spawn {
        uuid: pod.uuid,
        source,
    };
    let log_path = pod.path.join(SUPERVISOR_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(spawn_err)?;
    let lock_fd = lock.file().as_raw_fd();
    let args = RunArgs {
        debug,
        interactive: false,
        uuid: pod.uuid.to_string(),
    };
    let env = [(ENV_LOCK_FD, lock_fd.to_string())];
    // Watched before the supervisor can write the ready file: its arrival
    // wakes the wait below at once (polling cost up to its interval, 20 ms,
    // on every sandbox start).
    let watch = rukt_sys::watch::DirWatch::new(&pod.path).ok();
    let mut child = stage1
        .spawn_detached(&pod, args.to_argv(), &env, vec![lock_fd], log)
        .map_err(spawn_err)?;
    // The supervisor holds the lock now (the same open file).
    drop(lock);
    let ready = pod.path.join(READY_FILE);
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_micros(500);
    loop {
        if ready.exists() {
            return Ok(Sandbox {
                pod,
                supervisor: child,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(SandboxError::Failed {
                uuid: pod.uuid,
                status,
                log: last_words(&std::fs::read(&log_path).unwrap_or_default()),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SandboxError::NotReady {
                uuid: pod.uuid,
                within,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match &watch {
            // Any change in the pod directory wakes it; the child's exit
            // is looked at every 20 ms.
            Some(w) => {
                let _ = w.wait(Some(left.min(Duration::from_millis(20))));
            }
            None => {
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// The supervisor's last line, or that it said nothing.
fn last_words(said: &[u8]) -> String {
    let text = String::from_utf8_lossy(said);
    text.trim()
        .lines()
        .last()
        .map_or_else(|| "no output".to_string(), str::to_string)
}
