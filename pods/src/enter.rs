//! Entering a running app: pick the app, read the pod's PID, and exec the
//! stage1 `enter` entrypoint, which runs the command confined like the app
//! (or start it as a child: [`spawn`]).

use rukt_contract::EnterArgs;

use crate::id::PodUuid;
use crate::pod::{Pod, PodError};
use crate::stage1::Stage1;
use crate::state::State;

/// What to run where.
#[derive(Debug, Clone, Default)]
pub struct EnterRequest {
    /// The app; may be left out when the pod has only one.
    pub app: Option<String>,
    /// The command and its arguments; empty runs a shell.
    pub command: Vec<String>,
    /// Pass `--debug` to stage1.
    pub debug: bool,
}

/// Why a pod cannot be entered.
#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    /// Only running pods have apps to enter.
    #[error("pod {uuid} is {state}, not running")]
    NotRunning {
        /// The pod.
        uuid: PodUuid,
        /// Its state.
        state: State,
    },
    /// No app of that name.
    #[error("pod {uuid} has no app {app:?}")]
    NoApp {
        /// The pod.
        uuid: PodUuid,
        /// The name asked for.
        app: String,
    },
    /// Several apps and none named.
    #[error("pod {uuid} has several apps; pick one with --app ({})", apps.join(", "))]
    WhichApp {
        /// The pod.
        uuid: PodUuid,
        /// Its apps.
        apps: Vec<String>,
    },
    /// stage1 has not written the pod's PID (yet).
    #[error("pod {uuid} has no valid pid file yet")]
    NoPid {
        /// The pod.
        uuid: PodUuid,
    },
    /// The manifest is unreadable.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The pod's stage1 is gone or unusable.
    #[error(transparent)]
    Stage1(#[from] crate::stage1::Stage1Error),
    /// stage1 could not be executed.
    #[error("cannot execute stage1 {}", path.display())]
    Exec {
        /// The stage1.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Execs stage1 `enter`; returns only on failure.
pub fn enter(pod: &Pod, req: &EnterRequest) -> EnterError {
    match prepare_enter(pod, req) {
        Ok((stage1, args)) => EnterError::Exec {
            path: stage1.info().path.clone(),
            source: stage1.exec(pod, args.to_argv(), &[], Vec::new()),
        },
        Err(e) => e,
    }
}

/// Starts stage1 `enter` as a child in its own process group, with
/// `stdio` as its stdin, stdout and stderr, for a caller that waits for it
/// itself (with a deadline: CRI ExecSync kills the group when it passes).
pub fn spawn(
    pod: &Pod,
    req: &EnterRequest,
    stdio: [std::process::Stdio; 3],
) -> Result<std::process::Child, EnterError> {
    let (stage1, args) = prepare_enter(pod, req)?;
    stage1
        .spawn(pod, args.to_argv(), stdio)
        .map_err(|source| EnterError::Exec {
            path: stage1.info().path.clone(),
            source,
        })
}

fn prepare_enter(pod: &Pod, req: &EnterRequest) -> Result<(Stage1, EnterArgs), EnterError> {
    let state = pod.state();
    if state != State::Running {
        return Err(EnterError::NotRunning {
            uuid: pod.uuid,
            state,
        });
    }
    let manifest = pod.manifest()?;
    let app = match &req.app {
        Some(a) => manifest.app(a).ok_or_else(|| EnterError::NoApp {
            uuid: pod.uuid,
            app: a.clone(),
        })?,
        None => match manifest.apps.as_slice() {
            [one] => one,
            apps => {
                return Err(EnterError::WhichApp {
                    uuid: pod.uuid,
                    apps: apps.iter().map(|a| a.name.clone()).collect(),
                });
            }
        },
    };
    let pid = std::fs::read_to_string(pod.path.join(rukt_contract::PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(EnterError::NoPid { uuid: pod.uuid })?;
    let args = EnterArgs {
        debug: req.debug,
        pid,
        app: app.name.clone(),
        uuid: pod.uuid.to_string(),
        command: req.command.clone(),
    };
    Ok((Stage1::for_pod(pod, &manifest)?, args))
}
