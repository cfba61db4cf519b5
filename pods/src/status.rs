//! What `rukt list` and `rukt status` show: a pod's state from its
//! directory and lock, its times from file mtimes (as rkt: created is the
//! manifest's (its `created` field), started the pid file's, gc-marked the directory's ctime),
//! and each app's exit code from `status/<app>`.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

use rukt_contract::{NetworkResult, PodManifest};
use serde::Serialize;

use crate::id::PodUuid;
use crate::pod::{Pod, Pods};
use crate::state::{Dir, State};

/// One app's status.
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    /// App name.
    pub name: String,
    /// Image name.
    pub image: String,
    /// Exit code, once recorded.
    pub exit_code: Option<i32>,
    /// Why it ended, when stage1 knows more than the code (`oom-killed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When its exit was recorded (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(skip)]
    finished_at: Option<SystemTime>,
}

/// A pod's status.
#[derive(Debug, Clone, Serialize)]
pub struct PodStatus {
    /// UUID.
    pub uuid: PodUuid,
    /// State.
    pub state: State,
    /// The stage1 flavor.
    pub stage1: Option<String>,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
    /// Start time (RFC 3339).
    pub started: Option<String>,
    /// When gc marked it (RFC 3339).
    pub gc_marked: Option<String>,
    /// The pod's main PID, while known.
    pub pid: Option<u32>,
    /// Apps.
    pub apps: Vec<AppStatus>,
    /// What each network gave the pod, while it is attached.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkResult>,
}

impl PodStatus {
    /// rkt's spelling of the networks: `default:ip4=172.16.28.5,mynet:ip4=...`.
    pub fn networks_summary(&self) -> String {
        self.networks
            .iter()
            .flat_map(|n| {
                n.ips.iter().map(move |ip| {
                    let addr = ip.split('/').next().unwrap_or(ip);
                    let family = if addr.contains(':') { "ip6" } else { "ip4" };
                    format!("{}:{family}={addr}", n.name)
                })
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Reads a pod's status (never fails: what cannot be read is left out).
pub fn status(pod: &Pod) -> PodStatus {
    let state = pod.state();
    let manifest: Option<PodManifest> = pod.manifest().ok();
    let mtime = |rel: &str| {
        std::fs::metadata(pod.path.join(rel))
            .and_then(|m| m.modified())
            .ok()
    };
    let pid = std::fs::read_to_string(pod.path.join(rukt_contract::PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let gc_marked = matches!(pod.dir, Dir::ExitedGarbage | Dir::Garbage)
        .then(|| std::fs::metadata(&pod.path).ok())
        .flatten()
        .map(|m| SystemTime::UNIX_EPOCH + Duration::from_secs(m.ctime().max(0) as u64));
    let apps = manifest
        .as_ref()
        .map(|m| {
            m.apps
                .iter()
                .map(|a| {
                    let status = pod.path.join(rukt_contract::app_status(&a.name));
                    let finished_at = std::fs::metadata(&status).and_then(|m| m.modified()).ok();
                    AppStatus {
                        name: a.name.clone(),
                        image: a.image.name.clone(),
                        exit_code: std::fs::read_to_string(&status)
                            .ok()
                            .and_then(|s| s.trim().parse().ok()),
                        reason: std::fs::read_to_string(
                            pod.path.join(rukt_contract::app_status_reason(&a.name)),
                        )
                        .ok()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                        finished: finished_at.map(rfc3339),
                        finished_at,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    PodStatus {
        uuid: pod.uuid,
        state,
        stage1: manifest.as_ref().map(|m| m.stage1.flavor.clone()),
        // The manifest's own field: its mtime moves when a mutable pod's
        // apps change.
        created: manifest
            .as_ref()
            .map(|m| m.created.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| mtime(rukt_contract::POD_MANIFEST).map(rfc3339)),
        started: mtime(rukt_contract::PID_FILE).map(rfc3339),
        gc_marked: gc_marked.map(rfc3339),
        pid,
        apps,
        networks: std::fs::read(pod.path.join(rukt_contract::NET_INFO_FILE))
            .ok()
            .and_then(|d| NetworkResult::list_from_json(&d).ok())
            .unwrap_or_default(),
    }
}

/// The exit code `rukt run` and `status` report for a whole pod: that of
/// the app that failed first (non-zero, earliest recorded), else 0; `None`
/// while any is unknown.
pub fn pod_exit_code(st: &PodStatus) -> Option<i32> {
    if st.apps.iter().any(|a| a.exit_code.is_none()) {
        return None;
    }
    let first_failure = st
        .apps
        .iter()
        .filter(|a| a.exit_code != Some(0))
        .min_by_key(|a| a.finished_at);
    Some(first_failure.and_then(|a| a.exit_code).unwrap_or(0))
}

impl PodStatus {
    /// Whether the pod is over (its exit codes are, or will soon be, known).
    pub fn exited(&self) -> bool {
        matches!(
            self.state,
            State::Exited | State::ExitedGarbage | State::Deleting
        )
    }
}

/// After the lock is released, stage1's exit recorder may need a moment to
/// write the apps' exit codes.
const STATUS_GRACE: Duration = Duration::from_secs(3);

/// A pod that did not exit in time.
#[derive(Debug, thiserror::Error)]
#[error("pod {uuid} did not exit within {}", humantime::format_duration(*limit))]
pub struct WaitError {
    /// The pod.
    pub uuid: PodUuid,
    /// How long we waited.
    pub limit: Duration,
}

/// Waits for `pod` to exit and its exit codes to be written, at most `limit`
/// (`None`: forever); the pod as it then is.
pub fn wait(pods: &Pods, pod: &Pod, limit: Option<Duration>) -> Result<Pod, WaitError> {
    let start = Instant::now();
    let mut exited_at = None;
    loop {
        let current = pods.refind(pod.uuid).unwrap_or_else(|| pod.clone());
        let st = status(&current);
        let running = matches!(
            st.state,
            State::Running | State::Preparing | State::Prepared | State::Embryo
        );
        if !running {
            let at = *exited_at.get_or_insert_with(Instant::now);
            if st.apps.iter().all(|a| a.exit_code.is_some()) || at.elapsed() > STATUS_GRACE {
                return Ok(current);
            }
        }
        if let Some(limit) = limit
            && start.elapsed() >= limit
        {
            return Err(WaitError {
                uuid: pod.uuid,
                limit,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
