//! Mutable pods, as rkt's `rkt app add|start|stop|rm`: apps added to and
//! removed from a running pod. stage0 keeps the manifest true (each change
//! rewrites `pod` under the manifest lock and bumps its revision) and mounts
//! or unmounts the app's root; the engine's `app-*` entrypoints do the rest
//! inside the running pod.

use std::collections::HashSet;

use rukt_contract::{AppArgs, AppStopArgs, Entrypoint, Feature, PodManifest};
use rukt_images::fetch::{Fetcher, Progress};
use rukt_images::store::Store;

use crate::app_build::build_app;
use crate::features::{Unsupported, required_by_app};
use crate::pod::{ManifestLock, Pod, PodError};
use crate::prepare::{PrepareError, fetch_images, invalid};
use crate::run::{create_app_dirs, mount_app, unmount_app};
use crate::spec::AppSpec;
use crate::stage1::{Stage1, Stage1Error};
use crate::state::State;

/// Why an app verb failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Only a running pod has apps to change.
    #[error("pod {uuid} is {state}, not running")]
    NotRunning {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// Its state.
        state: State,
    },
    /// No app of that name.
    #[error("pod {uuid} has no app {app:?}")]
    NoApp {
        /// The pod.
        uuid: crate::id::PodUuid,
        /// The name.
        app: String,
    },
    /// The engine cannot do it.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// The stage1 is gone or unusable.
    #[error(transparent)]
    Stage1(#[from] Stage1Error),
    /// The new app could not be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The pod directory failed.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// stage1 could not be run.
    #[error("cannot run stage1 {entry} for app {app}")]
    Exec {
        /// The entrypoint.
        entry: &'static str,
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// stage1 ran and failed.
    #[error("stage1 {entry} failed for app {app} ({status})")]
    Failed {
        /// The entrypoint.
        entry: &'static str,
        /// The app.
        app: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
}

/// The running pod's stage1, which must support mutable pods (and `extra`).
fn mutable_stage1(
    pod: &Pod,
    manifest: &PodManifest,
    extra: impl IntoIterator<Item = Feature>,
) -> Result<Stage1, AppError> {
    let state = pod.state();
    if state != State::Running {
        return Err(AppError::NotRunning {
            uuid: pod.uuid,
            state,
        });
    }
    let stage1 = Stage1::for_pod(pod, manifest)?;
    stage1.require(std::iter::once(Feature::MutablePods).chain(extra))?;
    Ok(stage1)
}

fn call(
    stage1: &Stage1,
    pod: &Pod,
    entry: Entrypoint,
    app: &str,
    argv: Vec<std::ffi::OsString>,
) -> Result<(), AppError> {
    let status = stage1.call(pod, argv).map_err(|source| AppError::Exec {
        entry: entry.name(),
        app: app.to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(AppError::Failed {
            entry: entry.name(),
            app: app.to_string(),
            status,
        })
    }
}

/// `rukt app add`: fetches the image, adds the app to the running pod's
/// manifest, mounts its root and asks stage1 to add it (not to start it).
/// On failure the pod is as before. Returns the app's name.
pub fn add(
    store: &Store,
    fetcher: &Fetcher<'_>,
    pod: &Pod,
    spec: &AppSpec,
    progress: &dyn Progress,
    debug: bool,
) -> Result<String, AppError> {
    let manifest = pod.manifest()?;
    let read_only = |v: &str| manifest.volume(v).is_some_and(|v| v.read_only);
    let mut need = required_by_app(spec, read_only);
    // Adding one makes a pod of several apps.
    need.insert(Feature::MultipleApps);
    let stage1 = mutable_stage1(pod, &manifest, need)?;
    for (vol, _) in &spec.mounts {
        if manifest.volume(vol).is_none() {
            return Err(invalid(format!(
                "--mount names volume {vol:?}, which the pod does not have"
            ))
            .into());
        }
    }
    let (records, _pin) = fetch_images(store, fetcher, std::slice::from_ref(spec), progress)?;
    let app = {
        let lock = ManifestLock::exclusive(pod)?;
        let mut manifest = lock.read()?;
        let mut names: HashSet<String> = manifest.apps.iter().map(|a| a.name.clone()).collect();
        let mut app = build_app(store, spec, &records[0], &[], &manifest.volumes, &mut names)?;
        crate::app_build::settle_stop_signal(&mut app, spec, &stage1);
        let (own, mounts) = crate::app_build::host_mounts(&app.name, spec)?;
        // What an interrupted add of the same name left.
        manifest
            .volumes
            .retain(|v| !crate::app_build::owned_by(&v.name, &app.name));
        manifest.volumes.extend(own);
        app.mounts.extend(mounts);
        // What an interrupted add or rm of the same name left is not the new
        // app's: its old root and writes go first.
        unmount_app(pod, &app.name)?;
        let mounted = create_app_dirs(pod, &app.name).and_then(|()| mount_app(store, pod, &app));
        manifest.apps.push(app.clone());
        if let Err(e) = mounted.and_then(|()| lock.write(&mut manifest)) {
            let _ = unmount_app(pod, &app.name);
            return Err(e.into());
        }
        app
    };
    let args = AppArgs {
        debug,
        app: app.name.clone(),
        uuid: pod.uuid.to_string(),
    };
    if let Err(e) = call(
        &stage1,
        pod,
        Entrypoint::AppAdd,
        &app.name,
        args.to_argv(Entrypoint::AppAdd),
    ) {
        let _ = forget(pod, &app.name);
        return Err(e);
    }
    Ok(app.name)
}

/// `rukt app start`.
pub fn start(pod: &Pod, app: &str, debug: bool) -> Result<(), AppError> {
    call_app(pod, app, debug, Entrypoint::AppStart)
}

/// Runs `entry` (`app-start`, `app-rm`) for an app the pod has.
fn call_app(pod: &Pod, app: &str, debug: bool, entry: Entrypoint) -> Result<(), AppError> {
    let stage1 = existing_app(pod, app)?;
    let args = AppArgs {
        debug,
        app: app.to_string(),
        uuid: pod.uuid.to_string(),
    };
    call(&stage1, pod, entry, app, args.to_argv(entry))
}

/// `rukt app update` (CRI's UpdateContainerResources): the app's limits
/// replaced in the manifest, then applied by stage1 to the running app.
pub fn update(
    pod: &Pod,
    app: &str,
    resources: rukt_contract::Resources,
    debug: bool,
) -> Result<(), AppError> {
    let stage1 = existing_app(pod, app)?;
    stage1.require([Feature::Resources])?;
    {
        let lock = ManifestLock::exclusive(pod)?;
        let mut manifest = lock.read()?;
        if let Some(a) = manifest.apps.iter_mut().find(|a| a.name == app) {
            a.resources = resources;
        }
        lock.write(&mut manifest)?;
    }
    let args = AppArgs {
        debug,
        app: app.to_string(),
        uuid: pod.uuid.to_string(),
    };
    call(
        &stage1,
        pod,
        Entrypoint::AppUpdate,
        app,
        args.to_argv(Entrypoint::AppUpdate),
    )
}

/// `rukt app stop`.
pub fn stop(pod: &Pod, app: &str, opts: crate::stop::StopOptions) -> Result<(), AppError> {
    let stage1 = existing_app(pod, app)?;
    let args = AppStopArgs {
        debug: opts.debug,
        force: opts.force,
        timeout_secs: opts.timeout.as_secs(),
        app: app.to_string(),
        uuid: pod.uuid.to_string(),
    };
    call(&stage1, pod, Entrypoint::AppStop, app, args.to_argv())
}

/// `rukt app rm`: asks stage1 to remove the (stopped) app, then takes it out
/// of the manifest and unmounts its root.
pub fn rm(pod: &Pod, app: &str, debug: bool) -> Result<(), AppError> {
    call_app(pod, app, debug, Entrypoint::AppRm)?;
    forget(pod, app)
}

fn existing_app(pod: &Pod, app: &str) -> Result<Stage1, AppError> {
    let manifest = pod.manifest()?;
    let stage1 = mutable_stage1(pod, &manifest, [])?;
    if manifest.app(app).is_none() {
        return Err(AppError::NoApp {
            uuid: pod.uuid,
            app: app.to_string(),
        });
    }
    Ok(stage1)
}

/// Takes `app` out of the manifest and unmounts and removes its root, all
/// under the manifest lock, so that no `app add` of the same name can come
/// between.
fn forget(pod: &Pod, app: &str) -> Result<(), AppError> {
    let lock = ManifestLock::exclusive(pod)?;
    let mut manifest = lock.read()?;
    manifest.apps.retain(|a| a.name != app);
    manifest
        .volumes
        .retain(|v| !crate::app_build::owned_by(&v.name, app));
    lock.write(&mut manifest)?;
    unmount_app(pod, app)?;
    Ok(())
}
