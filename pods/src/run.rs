//! Starting a pod: mount each app's root filesystem, hand the pod lock to
//! stage1 on an inherited descriptor, and exec the stage1 `run`
//! entrypoint. On success this never returns: the caller's process becomes
//! the pod.
//!
//! What stage1 inherits is exactly what the contract names: stdio, the pod
//! lock (`RUKT_LOCK_FD`) and, for an engine that hands them on, socket
//! activation's descriptors (`LISTEN_FDS`, from fd 3) and `NOTIFY_SOCKET`,
//! and for one that takes it over, the cgroup warm-up writer started right
//! before the exec (`RUKT_CGROUP_WARM_PID`, [`rukt_sys::warm`]). Any other
//! descriptor the caller leaked is closed by the exec.

use std::os::fd::{AsRawFd, RawFd};

use rukt_contract::{
    APPS_DIR, App, ENV_CGROUP_WARM_PID, ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID,
    ENV_LOCK_FD, ENV_NOTIFY_SOCKET, Feature, ListenFds, OVERLAY_DIR, PodManifest, RunArgs,
};
use rukt_images::store::{FileLock, LockMode, Store};
use rukt_sys::cgroupfs::Layout;
use rukt_sys::warm::Writer;

use crate::features::Unsupported;
use crate::images::AppImage;
use crate::mount::{mount_overlay, unmount_below};
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::prepare::Preparing;
use crate::stage1::{Stage1, Stage1Error};
use crate::state::Dir;

/// How to run a pod, beyond what its manifest says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Pass `--debug` to stage1.
    pub debug: bool,
    /// Give the app the caller's terminal.
    pub interactive: bool,
    /// Socket activation's descriptors this process was given, checked
    /// ([`inherited_listen_fds`]); handed on to an engine that takes them.
    pub listen_fds: Option<ListenFds>,
    /// Measure the apps' start into the TPM event log (`crate::measure`).
    pub tpm: Option<crate::measure::Measurer>,
}

/// Why a pod did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pod directory, its lock or its mounts failed.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The pod's stage1 is gone or unusable.
    #[error(transparent)]
    Stage1(#[from] Stage1Error),
    /// The stage1 would not do what the run asks.
    #[error(transparent)]
    Unsupported(#[from] Unsupported),
    /// Measurement is required and failed (nothing was started).
    #[error("the pod's start could not be measured into the TPM (--tpm=required)")]
    Measure(#[source] crate::measure::MeasureError),
}

/// `LISTEN_FDS` names descriptors that are not open.
#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV_LISTEN_FDS}={count} names descriptors that are not open ({closed:?}); ignoring socket activation"
)]
pub struct ClosedListenFds {
    /// What `LISTEN_FDS` said.
    pub count: u32,
    /// The descriptors that are not open.
    pub closed: Vec<RawFd>,
}

/// The descriptors socket activation gave this process (`LISTEN_PID` is
/// ours), if every one of them is open. Call it first thing, before the
/// process opens anything: a descriptor `LISTEN_FDS` names but the caller
/// did not pass would otherwise be whatever this process opened at that
/// number (the pod lock, say) and be handed to stage1 as a socket.
pub fn inherited_listen_fds() -> Result<Option<ListenFds>, ClosedListenFds> {
    let Some(fds) = ListenFds::from_env() else {
        return Ok(None);
    };
    let closed: Vec<RawFd> = fds
        .fds()
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_err())
        .collect();
    if closed.is_empty() {
        Ok(Some(fds))
    } else {
        Err(ClosedListenFds {
            count: fds.count,
            closed,
        })
    }
}

/// Runs a pod just prepared by this process (`rukt run`). Returns only on
/// failure.
pub fn run_preparing(
    pods: &Pods,
    store: &Store,
    preparing: Preparing,
    opts: RunOptions,
) -> RunError {
    if let Err(e) = preparing.stage1.require(run_needs(&opts)) {
        return e.into();
    }
    let measured = measure_start(
        store,
        &preparing.pod,
        &preparing.manifest,
        &preparing.stage1,
        &opts,
    );
    if let Err(e) = measured {
        // Required and failed: leave nothing behind.
        if let Err(err) = crate::remove::remove_pod_dir(&preparing.pod.path) {
            tracing::warn!("cannot remove pod {}: {err}", preparing.pod.uuid);
        }
        let uuid = preparing.pod.uuid.to_string();
        crate::events::prepare_aborted(store.root(), &uuid, &e);
        return e;
    }
    let pod = match pods.move_to(&preparing.pod, Dir::Run) {
        Ok(pod) => pod,
        Err(e) => return e.into(),
    };
    exec_stage1(
        store,
        &pod,
        preparing.lock,
        &preparing.manifest,
        &preparing.stage1,
        opts,
    )
}

/// Runs a prepared pod (`rukt run-prepared`). Returns only on failure.
pub fn run_prepared(pods: &Pods, store: &Store, pod: &Pod, opts: RunOptions) -> RunError {
    let start = || -> Result<(Pod, FileLock, PodManifest, Stage1), RunError> {
        if pod.dir != Dir::Prepared {
            return Err(PodError::WrongState {
                uuid: pod.uuid,
                state: pod.state(),
                hint: "only a prepared pod can be run with run-prepared",
            }
            .into());
        }
        let lock = pod
            .try_lock(LockMode::Exclusive)?
            .ok_or(PodError::Busy(pod.uuid))?;
        // It may have been moved (gc, another run-prepared) before we locked it.
        let Some(pod) = pods.refind(pod.uuid).filter(|p| p.dir == Dir::Prepared) else {
            return Err(PodError::NoLongerPrepared(pod.uuid).into());
        };
        let manifest = pod.manifest()?;
        let stage1 = Stage1::for_pod(&pod, &manifest)?;
        // The stage1 may have been replaced since the pod was prepared.
        stage1.require(
            manifest
                .features_asked()
                .into_iter()
                .chain(run_needs(&opts)),
        )?;
        // Required and failed: the pod stays prepared.
        measure_start(store, &pod, &manifest, &stage1, &opts)?;
        let pod = pods.move_to(&pod, Dir::Run)?;
        Ok((pod, lock, manifest, stage1))
    };
    match start() {
        Ok((pod, lock, manifest, stage1)) => {
            exec_stage1(store, &pod, lock, &manifest, &stage1, opts)
        }
        Err(e) => e,
    }
}

/// The `run` entrypoint's arguments for `pod`.
fn run_args(pod: &Pod, opts: &RunOptions) -> RunArgs {
    RunArgs {
        debug: opts.debug,
        interactive: opts.interactive,
        uuid: pod.uuid.to_string(),
    }
}

/// Measures the apps' start (stage1 and its argv) when asked to; an error
/// only when measurement is required.
fn measure_start(
    store: &Store,
    pod: &Pod,
    manifest: &PodManifest,
    stage1: &Stage1,
    opts: &RunOptions,
) -> Result<(), RunError> {
    let Some(m) = &opts.tpm else {
        return Ok(());
    };
    let cache = rukt_contract::cache_dir(store.root(), rukt_contract::STAGE0_CACHE);
    let argv = run_args(pod, opts).to_argv();
    crate::measure::apps_started(m, pod, manifest, stage1, &argv, &cache).map_err(RunError::Measure)
}

/// What running (rather than the pod) asks of the engine.
fn run_needs(opts: &RunOptions) -> impl Iterator<Item = Feature> + use<> {
    opts.interactive.then_some(Feature::Interactive).into_iter()
}

/// Mounts the apps' roots and execs stage1. The pod must be in `run/` and
/// locked by `lock`. Returns only on failure (the mounts are undone).
fn exec_stage1(
    store: &Store,
    pod: &Pod,
    lock: FileLock,
    manifest: &PodManifest,
    stage1: &Stage1,
    opts: RunOptions,
) -> RunError {
    // The cgroup grace period runs while stage1 loads (rukt_sys::warm); a
    // failed exec ends the writer (its drop), a done one hands it on.
    let warm = (!manifest.apps.is_empty() && stage1.enforces(Feature::CgroupWarmup))
        .then(|| Writer::start(Layout::detect()))
        .flatten();
    let apps = pod.path.join(APPS_DIR);
    if let Err(e) = manifest
        .apps
        .iter()
        .try_for_each(|app| mount_app(store, pod, app))
    {
        let _ = unmount_below(&apps);
        return e.into();
    }
    let lock_fd = lock.file().as_raw_fd();
    let (mut keep, mut env) = passed_on(stage1, opts.listen_fds.as_ref());
    if manifest.sd_notify == rukt_contract::sdnotify::SdNotify::Ignore {
        env.retain(|(k, _)| *k != ENV_NOTIFY_SOCKET);
    }
    keep.push(lock_fd);
    env.push((ENV_LOCK_FD, lock_fd.to_string()));
    if let Some(w) = &warm {
        env.push((ENV_CGROUP_WARM_PID, w.pid().to_string()));
    }
    let err = stage1.exec(pod, run_args(pod, &opts).to_argv(), &env, keep);
    // Still here: exec failed.
    drop(warm);
    let _ = unmount_below(&apps);
    drop(lock);
    PodError::Io {
        action: "execute stage1",
        path: stage1.info().path.clone(),
        source: err,
    }
    .into()
}

/// The descriptors and variables of systemd's protocols that `stage1` gets:
/// socket activation's `listen` and `NOTIFY_SOCKET` if it hands them on
/// (stage1 keeps this process's PID, so `LISTEN_PID` stays true), nothing
/// otherwise, with a warning: a unit waiting for them would wait in vain.
fn passed_on(
    stage1: &Stage1,
    listen: Option<&ListenFds>,
) -> (Vec<RawFd>, Vec<(&'static str, String)>) {
    let mut keep = Vec::new();
    let mut env = Vec::new();
    if let Some(fds) = listen {
        if stage1.enforces(Feature::ListenFds) {
            keep.extend(fds.fds());
            env.push((ENV_LISTEN_FDS, fds.count.to_string()));
            env.push((ENV_LISTEN_FDNAMES, fds.names_value()));
            env.push((ENV_LISTEN_PID, std::process::id().to_string()));
        } else {
            tracing::warn!(
                "the {} stage1 does not hand on socket-activated descriptors; closing {}",
                stage1.info().flavor,
                fds.count
            );
        }
    }
    if let Some(socket) = std::env::var_os(ENV_NOTIFY_SOCKET) {
        match socket.into_string() {
            Ok(socket) if stage1.enforces(Feature::NotifySocket) => {
                env.push((ENV_NOTIFY_SOCKET, socket))
            }
            _ => tracing::warn!(
                "the {} stage1 does not notify systemd; not passing {ENV_NOTIFY_SOCKET} on",
                stage1.info().flavor
            ),
        }
    }
    (keep, env)
}

/// Creates the directories of `app` in `pod`: its root's mount point and
/// its overlay's upper and work directories.
pub(crate) fn create_app_dirs(pod: &Pod, app: &str) -> Result<(), PodError> {
    let overlay = pod.path.join(OVERLAY_DIR).join(app);
    for dir in [
        pod.path.join(rukt_contract::app_rootfs(app)),
        overlay.join("upper"),
        overlay.join("work"),
    ] {
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    }
    Ok(())
}

/// Mounts `app`'s root: an overlay of its image's layers over its own upper
/// directory.
pub(crate) fn mount_app(store: &Store, pod: &Pod, app: &App) -> Result<(), PodError> {
    let target = pod.path.join(rukt_contract::app_rootfs(&app.name));
    let overlay = pod.path.join(OVERLAY_DIR).join(&app.name);
    let mut lowers = AppImage::of(app).lowers(store);
    // overlayfs needs a lower layer.
    if lowers.is_empty() {
        let empty = overlay.join("empty");
        std::fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
        lowers.push(empty);
    }
    let (upper, work) = (overlay.join("upper"), overlay.join("work"));
    // Always writable here: stage1 creates its mount points, then makes
    // the root read-only itself when the app asks for it.
    mount_overlay(&target, &lowers, Some((upper.as_path(), work.as_path())))
        .map_err(io_err("mount the root filesystem at", &target))
}

/// Unmounts `app`'s root and removes its directories (an app taken out of
/// a running pod).
pub(crate) fn unmount_app(pod: &Pod, app: &str) -> Result<(), PodError> {
    let dir = pod.path.join(APPS_DIR).join(app);
    unmount_below(&dir).map_err(io_err("unmount", &dir))?;
    for d in [dir, pod.path.join(OVERLAY_DIR).join(app)] {
        crate::remove::remove_pod_dir(&d).map_err(io_err("remove", &d))?;
    }
    Ok(())
}
