//! The states of a pod's apps, for `rukt app list|status` and `rukt cri`:
//! from the manifest and the files stage1 writes (`status/<app>`, its
//! `.reason`, and in a mutable pod `status/<app>.started`), as CRI sees a
//! container: created (added, not started), running, exited (with its
//! code, reason and time). Times are the files' mtimes, to the nanosecond.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use rukt_contract::PodManifest;
use serde::Serialize;

use crate::app::AppError;
use crate::pod::Pod;
use crate::state::State;

/// An app's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    /// Added to a mutable pod, not started.
    Created,
    /// Started and not exited.
    Running,
    /// Exited (its code is known when stage1 recorded it).
    Exited,
}

impl std::fmt::Display for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AppState::Created => "created",
            AppState::Running => "running",
            AppState::Exited => "exited",
        })
    }
}

/// One app of a pod.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// Its name.
    pub name: String,
    /// The image it was referenced by.
    pub image: String,
    /// The image's ID (config digest).
    pub image_id: String,
    /// Its state.
    pub state: AppState,
    /// Its exit code, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it ended, beyond the code (`oom-killed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was added (its root's mount point was made), ns since the epoch.
    pub created_ns: i64,
    /// When it started, ns since the epoch (0: not known or not started).
    pub started_ns: i64,
    /// When it exited, ns since the epoch (0: not exited).
    pub finished_ns: i64,
}

fn ns(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn ctime_ns(m: &std::fs::Metadata) -> i64 {
    let t = SystemTime::UNIX_EPOCH
        + Duration::from_secs(m.ctime().max(0) as u64)
        + Duration::from_nanos(m.ctime_nsec().max(0) as u64);
    ns(Some(t))
}

/// Every app of the pod, in the manifest's order.
pub fn list(pod: &Pod) -> Result<Vec<AppInfo>, AppError> {
    let manifest = pod.manifest()?;
    let running = pod.state() == State::Running;
    Ok(manifest
        .apps
        .iter()
        .map(|a| info(pod, &manifest, &a.name, running))
        .collect())
}

/// The app `app` of the pod.
pub fn status(pod: &Pod, app: &str) -> Result<AppInfo, AppError> {
    let manifest = pod.manifest()?;
    if manifest.app(app).is_none() {
        return Err(AppError::NoApp {
            uuid: pod.uuid,
            app: app.to_string(),
        });
    }
    Ok(info(pod, &manifest, app, pod.state() == State::Running))
}

fn info(pod: &Pod, manifest: &PodManifest, name: &str, pod_running: bool) -> AppInfo {
    let app = manifest.app(name).expect("the caller checked");
    let file = |rel: String| pod.path.join(rel);
    let status = std::fs::metadata(file(rukt_contract::app_status(name))).ok();
    let exit_code = std::fs::read_to_string(file(rukt_contract::app_status(name)))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let started = std::fs::metadata(file(rukt_contract::app_started(name))).ok();
    let state = match (&status, &started) {
        (Some(_), _) => AppState::Exited,
        _ if !pod_running => AppState::Exited,
        (None, None) if manifest.mutable => AppState::Created,
        _ => AppState::Running,
    };
    let pid_file = std::fs::metadata(pod.path.join(rukt_contract::PID_FILE)).ok();
    let started_at = match (&started, manifest.mutable) {
        (Some(m), _) => m.modified().ok(),
        // The apps of a pod that is not mutable start with the pod.
        (None, false) => pid_file.and_then(|m| m.modified().ok()),
        (None, true) => None,
    };
    AppInfo {
        name: name.to_string(),
        image: app.image.name.clone(),
        image_id: app.image.id.clone(),
        state,
        exit_code,
        reason: std::fs::read_to_string(file(rukt_contract::app_status_reason(name)))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        created_ns: std::fs::metadata(pod.path.join(rukt_contract::APPS_DIR).join(name))
            .map_or(0, |m| ctime_ns(&m)),
        started_ns: ns(started_at),
        finished_ns: ns(status.and_then(|m| m.modified().ok())),
    }
}
