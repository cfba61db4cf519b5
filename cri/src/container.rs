//! Containers: one app of a sandbox's mutable pod each, made with
//! `rukt_pods::app` (add, start, stop, rm) and recorded in the pod
//! directory (`record.rs`) before the app is added, so a crash leaves a
//! container that lists, never an app nobody knows. States come from the
//! engine's files (`rukt_pods::app_status`). Stop and Remove are
//! idempotent; Status of an unknown id is NOT_FOUND.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rukt_images::fetch::{Fetcher, NoProgress, PullPolicy};
use rukt_images::reference::ImageRef;
use rukt_pods::app::AppError;
use rukt_pods::app_status::{AppInfo, AppState};
use rukt_pods::{Pod, State, StopOptions};
use rukt_proto::cri::v1 as cri;
use tonic::Status;

use crate::ctx::Ctx;
use crate::error::{chain, internal, invalid, not_found};
use crate::record::{self, ContainerPhase, ContainerRecord, Metadata, SandboxRecord};
use crate::sandbox::{self, now_ns};

/// An app library error as a status.
pub fn app_err(e: &AppError) -> Status {
    match e {
        AppError::NotRunning { .. } => Status::failed_precondition(chain(e)),
        AppError::NoApp { .. } => Status::not_found(chain(e)),
        AppError::Unsupported(_) => invalid(chain(e)),
        AppError::Prepare(rukt_pods::PrepareError::Invalid(_)) => invalid(chain(e)),
        _ => internal(e),
    }
}

/// A container: its sandbox's pod and record, and its own record.
pub struct Found {
    /// The pod.
    pub pod: Pod,
    /// The sandbox.
    pub sandbox: SandboxRecord,
    /// The container.
    pub rec: ContainerRecord,
}

/// Every container of every sandbox.
pub fn all(ctx: &Ctx) -> Result<Vec<Found>, Status> {
    let mut out = Vec::new();
    for (pod, sandbox) in sandbox::all(ctx)? {
        let recs = match record::read_containers(&pod) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping the containers of {}: {}", pod.uuid, chain(&e));
                continue;
            }
        };
        for rec in recs {
            out.push(Found {
                pod: pod.clone(),
                sandbox: sandbox.clone(),
                rec,
            });
        }
    }
    Ok(out)
}

/// The container `id` names (a unique prefix will do).
pub fn find(ctx: &Ctx, id: &str) -> Result<Option<Found>, Status> {
    if id.is_empty() {
        return Err(invalid("empty container id"));
    }
    let mut hits: Vec<Found> = all(ctx)?
        .into_iter()
        .filter(|f| f.rec.id.starts_with(id))
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(hits.pop()),
        _ => Err(invalid(format!("container id {id:?} is ambiguous"))),
    }
}

/// Where the container's log goes: `log_directory/log_path`, the path
/// relative and without `..` (an empty path: the pod's own log file).
pub fn log_file(log_directory: &str, log_path: &str) -> Result<Option<PathBuf>, Status> {
    if log_path.is_empty() {
        return Ok(None);
    }
    let rel = Path::new(log_path);
    let joined = if log_directory.is_empty() {
        if !rel.is_absolute() {
            return Err(invalid(format!(
                "log_path {log_path:?} is relative and the sandbox has no log_directory"
            )));
        }
        rel.to_path_buf()
    } else {
        if rel.is_absolute() {
            return Err(invalid(format!(
                "log_path {log_path:?} must be relative to the sandbox's log_directory"
            )));
        }
        Path::new(log_directory).join(rel)
    };
    let odd = |c: Component| matches!(c, Component::ParentDir | Component::CurDir);
    if !joined.is_absolute()
        || log_path
            .split('/')
            .any(|c| c == "." || c.is_empty() && log_path.ends_with('/'))
        || joined.components().any(odd)
    {
        return Err(invalid(format!(
            "log path {} is not allowed",
            joined.display()
        )));
    }
    if joined.file_name().is_none() {
        return Err(invalid(format!(
            "log path {} names no file",
            joined.display()
        )));
    }
    Ok(Some(joined))
}

/// The stored image `spec` names, as a reference `app add` can use.
fn stored_image(ctx: &Ctx, spec: &str) -> Result<(ImageRef, String), Status> {
    let store = ctx.store();
    let index = store.index().map_err(|e| internal(&e))?;
    let id = crate::images::resolve(&index, spec)?.ok_or_else(|| {
        Status::not_found(format!("image {spec:?} is not in the store; pull it first"))
    })?;
    let rec = index
        .images
        .values()
        .find(|r| r.id == id)
        .expect("resolved from this index");
    let image = ImageRef::parse(&rec.name).map_err(|e| internal(&e))?;
    Ok((image, id.to_string()))
}

/// `CreateContainer`: the container's id.
pub fn create(
    ctx: &Ctx,
    sandbox_id: &str,
    config: &cri::ContainerConfig,
) -> Result<String, Status> {
    let (pod, sandbox) =
        sandbox::find(ctx, sandbox_id)?.ok_or_else(|| not_found("sandbox", sandbox_id))?;
    if sandbox::state(&pod, &sandbox) != cri::PodSandboxState::SandboxReady {
        return Err(Status::failed_precondition(format!(
            "sandbox {sandbox_id} is not ready"
        )));
    }
    let meta = config
        .metadata
        .as_ref()
        .ok_or_else(|| invalid("the container config has no metadata"))?;
    let image_spec = config
        .image
        .as_ref()
        .map(|i| i.image.as_str())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid("the container config names no image"))?;
    let app = crate::convert::app_name(meta)?;
    if pod
        .manifest()
        .map_err(|e| internal(&e))?
        .app(&app)
        .is_some()
    {
        return Err(Status::already_exists(format!(
            "sandbox {sandbox_id} already has a container {:?} attempt {}",
            meta.name, meta.attempt
        )));
    }
    let (image, image_ref) = stored_image(ctx, image_spec)?;
    let log = log_file(&sandbox.log_directory, &config.log_path)?;
    let c = crate::convert::container(config, image, image_spec, &app, log.clone())?;
    if let Some(parent) = log.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(parent).map_err(|e| internal(&e))?;
    }
    let rec = ContainerRecord {
        version: record::VERSION,
        id: record::new_container_id(),
        sandbox_id: sandbox.id.clone(),
        metadata: Metadata {
            name: meta.name.clone(),
            attempt: meta.attempt,
            ..Metadata::default()
        },
        image: image_spec.to_string(),
        image_ref,
        labels: config.labels.clone().into_iter().collect(),
        annotations: config.annotations.clone().into_iter().collect(),
        created_at: now_ns(),
        started_at: 0,
        log_path: log.map(|p| p.display().to_string()).unwrap_or_default(),
        mounts: c.mounts,
        app: app.clone(),
        phase: ContainerPhase::Created,
    };
    record::write_container(&pod, &rec).map_err(|e| internal(&e))?;
    let store = ctx.store();
    let fetcher = Fetcher::new(
        &store,
        rukt_images::fetch::FetchOptions {
            pull_policy: PullPolicy::Never,
            ..ctx.fetch_options()
        },
    )
    .map_err(|e| internal(&e))?;
    if let Err(e) = rukt_pods::app::add(&store, &fetcher, &pod, &c.app, &NoProgress, ctx.debug) {
        let _ = record::remove_container(&pod, &rec.id);
        return Err(app_err(&e));
    }
    tracing::info!(container = %rec.id, sandbox = %sandbox.id, app, "container created");
    Ok(rec.id)
}

/// `StartContainer`.
pub fn start(ctx: &Ctx, id: &str) -> Result<(), Status> {
    let f = find(ctx, id)?.ok_or_else(|| not_found("container", id))?;
    if f.rec.phase == ContainerPhase::Started {
        return Err(Status::failed_precondition(format!(
            "container {id} was started already"
        )));
    }
    rukt_pods::app::start(&f.pod, &f.rec.app, ctx.debug).map_err(|e| app_err(&e))?;
    let started = rukt_pods::app_status::status(&f.pod, &f.rec.app)
        .map(|i| i.started_ns)
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or_else(now_ns);
    record::update_container(&f.pod, &f.rec.id, |r| {
        r.phase = ContainerPhase::Started;
        r.started_at = started;
    })
    .map_err(|e| internal(&e))?;
    Ok(())
}

/// The app's state as the engine's files say, `None` when the pod no
/// longer has it.
fn app_info(f: &Found) -> Option<AppInfo> {
    rukt_pods::app_status::status(&f.pod, &f.rec.app).ok()
}

/// `StopContainer`: the stop signal, then SIGKILL after `timeout`;
/// repeatable, and OK for an unknown or exited container.
pub fn stop(ctx: &Ctx, id: &str, timeout: Duration) -> Result<(), Status> {
    let Some(f) = find(ctx, id)? else {
        return Ok(());
    };
    stop_found(ctx, &f, timeout)
}

fn stop_found(ctx: &Ctx, f: &Found, timeout: Duration) -> Result<(), Status> {
    if f.pod.state() != State::Running {
        return Ok(());
    }
    match app_info(f).map(|i| i.state) {
        Some(AppState::Running) => {}
        _ => return Ok(()),
    }
    let opts = StopOptions {
        force: timeout.is_zero(),
        timeout,
        debug: ctx.debug,
    };
    match rukt_pods::app::stop(&f.pod, &f.rec.app, opts) {
        Ok(()) => Ok(()),
        // It ended meanwhile.
        Err(_) if app_info(f).is_none_or(|i| i.state != AppState::Running) => Ok(()),
        Err(e) => Err(app_err(&e)),
    }
}

/// `RemoveContainer`: killed if it runs, taken out of the pod, its record
/// removed; OK for an unknown container.
pub fn remove(ctx: &Ctx, id: &str) -> Result<(), Status> {
    let Some(f) = find(ctx, id)? else {
        return Ok(());
    };
    stop_found(ctx, &f, Duration::ZERO)?;
    if f.pod.state() == State::Running && app_info(&f).is_some() {
        match rukt_pods::app::rm(&f.pod, &f.rec.app, ctx.debug) {
            Ok(()) | Err(AppError::NoApp { .. }) | Err(AppError::NotRunning { .. }) => {}
            Err(e) => return Err(app_err(&e)),
        }
    }
    record::remove_container(&f.pod, &f.rec.id).map_err(|e| internal(&e))
}

fn map(m: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn metadata(m: &Metadata) -> cri::ContainerMetadata {
    cri::ContainerMetadata {
        name: m.name.clone(),
        attempt: m.attempt,
    }
}

/// What the CRI says of a container: state, exit code, reason, finish time.
struct Seen {
    state: cri::ContainerState,
    exit_code: i32,
    reason: String,
    started_at: i64,
    finished_at: i64,
}

fn seen(f: &Found) -> Seen {
    let Some(info) = app_info(f) else {
        return Seen {
            state: cri::ContainerState::ContainerUnknown,
            exit_code: 0,
            reason: String::new(),
            started_at: f.rec.started_at,
            finished_at: 0,
        };
    };
    let started_at = if info.started_ns > 0 {
        info.started_ns
    } else {
        f.rec.started_at
    };
    match info.state {
        AppState::Created => Seen {
            state: cri::ContainerState::ContainerCreated,
            exit_code: 0,
            reason: String::new(),
            started_at: 0,
            finished_at: 0,
        },
        AppState::Running => Seen {
            state: cri::ContainerState::ContainerRunning,
            exit_code: 0,
            reason: String::new(),
            started_at,
            finished_at: 0,
        },
        AppState::Exited => {
            let (exit_code, reason) = match (info.exit_code, info.reason.as_deref()) {
                (Some(c), Some("oom-killed")) => (c, "OOMKilled"),
                (Some(0), _) => (0, "Completed"),
                (Some(c), _) => (c, "Error"),
                // The pod ended without recording the app's end.
                (None, _) => (255, "Unknown"),
            };
            let finished_at = if info.finished_ns > 0 {
                info.finished_ns
            } else {
                started_at.max(f.rec.created_at)
            };
            Seen {
                state: cri::ContainerState::ContainerExited,
                exit_code,
                reason: reason.into(),
                started_at,
                finished_at,
            }
        }
    }
}

fn image_spec(rec: &ContainerRecord) -> cri::ImageSpec {
    cri::ImageSpec {
        image: rec.image.clone(),
        ..Default::default()
    }
}

/// `ContainerStatus`; NOT_FOUND for an unknown id.
pub fn status(ctx: &Ctx, id: &str, verbose: bool) -> Result<cri::ContainerStatusResponse, Status> {
    let f = find(ctx, id)?.ok_or_else(|| not_found("container", id))?;
    let s = seen(&f);
    let mut info = HashMap::new();
    if verbose {
        info.insert(
            "info".to_string(),
            serde_json::json!({
                "sandboxID": f.sandbox.id,
                "pod": f.pod.uuid.to_string(),
                "app": f.rec.app,
                "record": f.rec,
                "tty": f.pod.manifest().ok().and_then(|m| m.app(&f.rec.app).map(|a| a.tty)),
            })
            .to_string(),
        );
    }
    Ok(cri::ContainerStatusResponse {
        status: Some(cri::ContainerStatus {
            id: f.rec.id.clone(),
            metadata: Some(metadata(&f.rec.metadata)),
            state: s.state as i32,
            created_at: f.rec.created_at,
            started_at: s.started_at,
            finished_at: s.finished_at,
            exit_code: s.exit_code,
            image: Some(image_spec(&f.rec)),
            image_ref: f.rec.image_ref.clone(),
            image_id: f.rec.image_ref.clone(),
            reason: s.reason,
            message: String::new(),
            labels: map(&f.rec.labels),
            annotations: map(&f.rec.annotations),
            mounts: f
                .rec
                .mounts
                .iter()
                .map(|m| cri::Mount {
                    container_path: m.container_path.clone(),
                    host_path: m.host_path.clone(),
                    readonly: m.readonly,
                    propagation: m.propagation,
                    ..Default::default()
                })
                .collect(),
            log_path: f.rec.log_path.clone(),
            stop_signal: crate::signal::to_cri(
                f.pod
                    .manifest()
                    .ok()
                    .and_then(|m| m.app(&f.rec.app).and_then(|a| a.stop_signal.clone()))
                    .as_deref(),
            ),
            ..Default::default()
        }),
        info,
    })
}

/// `ListContainers`.
pub fn list(
    ctx: &Ctx,
    filter: Option<&cri::ContainerFilter>,
) -> Result<Vec<cri::Container>, Status> {
    let mut out = Vec::new();
    for f in all(ctx)? {
        if let Some(flt) = filter {
            if !flt.id.is_empty() && !f.rec.id.starts_with(&flt.id) {
                continue;
            }
            if !flt.pod_sandbox_id.is_empty() && !f.sandbox.id.starts_with(&flt.pod_sandbox_id) {
                continue;
            }
            if !sandbox::selected(&f.rec.labels, &flt.label_selector) {
                continue;
            }
        }
        let st = seen(&f).state;
        if filter
            .and_then(|x| x.state.as_ref())
            .is_some_and(|s| s.state != st as i32)
        {
            continue;
        }
        out.push(cri::Container {
            id: f.rec.id.clone(),
            pod_sandbox_id: f.sandbox.id.clone(),
            metadata: Some(metadata(&f.rec.metadata)),
            image: Some(image_spec(&f.rec)),
            image_ref: f.rec.image_ref.clone(),
            image_id: f.rec.image_ref.clone(),
            state: st as i32,
            created_at: f.rec.created_at,
            labels: map(&f.rec.labels),
            annotations: map(&f.rec.annotations),
        });
    }
    Ok(out)
}

/// `UpdateContainerResources`: the app's limits replaced in the manifest
/// and applied to its cgroup by the engine (`app-update`).
pub fn update_resources(
    ctx: &Ctx,
    id: &str,
    linux: Option<&cri::LinuxContainerResources>,
) -> Result<(), Status> {
    let f = find(ctx, id)?.ok_or_else(|| not_found("container", id))?;
    let (limits, _) = crate::convert::resources(linux)?;
    rukt_pods::app::update(&f.pod, &f.rec.app, limits, ctx.debug).map_err(|e| app_err(&e))
}

/// `ReopenContainerLog`: the nspawn supervisor reopens its log files on
/// SIGUSR1 (kubelet renamed the old one).
pub fn reopen_log(ctx: &Ctx, id: &str) -> Result<(), Status> {
    let f = find(ctx, id)?.ok_or_else(|| not_found("container", id))?;
    if seen(&f).state != cri::ContainerState::ContainerRunning {
        return Err(Status::failed_precondition(format!(
            "container {id} is not running"
        )));
    }
    // nspawn's supervisor and kvm's both reopen their log files on SIGUSR1.
    if !matches!(f.sandbox.handler.as_str(), "nspawn" | "kvm" | "") {
        return Err(Status::unimplemented(format!(
            "ReopenContainerLog is not served for the {} handler",
            f.sandbox.handler
        )));
    }
    let pid: i32 = std::fs::read_to_string(f.pod.path.join(rukt_contract::PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Status::failed_precondition(format!("pod {} has no pid", f.pod.uuid)))?;
    let pid = rustix::process::Pid::from_raw(pid).ok_or_else(|| Status::internal("invalid pid"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::USR1)
        .map_err(|e| Status::internal(format!("cannot signal the supervisor: {e}")))?;
    // The supervisor reopens between two of its waits: give it a moment
    // so the new file exists when we answer.
    if !f.rec.log_path.is_empty() {
        let p = Path::new(&f.rec.log_path);
        let start = std::time::Instant::now();
        while !p.exists() && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = ctx;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_containers_stop_and_remove_ok_and_their_status_is_not_found() {
        let d = tempfile::tempdir().unwrap();
        let ctx = Ctx::for_tests(d.path());
        let id = record::new_container_id();
        stop(&ctx, &id, Duration::from_secs(1)).unwrap();
        remove(&ctx, &id).unwrap();
        assert_eq!(
            status(&ctx, &id, false).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert_eq!(
            reopen_log(&ctx, &id).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert!(list(&ctx, None).unwrap().is_empty());
        let e = create(
            &ctx,
            &rukt_pods::PodUuid::new_random().to_string(),
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
    }

    #[test]
    fn log_paths_stay_under_the_log_directory() {
        assert_eq!(log_file("/var/log/pods/x", "").unwrap(), None);
        assert_eq!(
            log_file("/var/log/pods/x", "c/0.log").unwrap(),
            Some(PathBuf::from("/var/log/pods/x/c/0.log"))
        );
        for bad in ["../../etc/passwd", "/etc/passwd", "c/../../x"] {
            let e = log_file("/var/log/pods/x", bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
        }
        assert!(log_file("", "rel.log").is_err());
        assert_eq!(
            log_file("", "/var/log/a.log").unwrap(),
            Some(PathBuf::from("/var/log/a.log"))
        );
        assert!(log_file("/var/log/pods/x", ".").is_err());
    }
}
