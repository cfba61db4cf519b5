//! Garbage collection of pods, mark and sweep as in rkt, and `rukt rm`.
//!
//! Mark: exited pods (`run/`, lock free) move to `exited-garbage/`; aborted
//! prepares and embryos to `garbage/`; prepared pods older than
//! `--expire-prepared` to `garbage/`. Sweep: `exited-garbage/` pods marked
//! longer ago than the grace period, and everything in `garbage/`, are
//! destroyed: stage1's gc entrypoint, then the pod's run directory is
//! removed, then every mount below the pod is undone, then the directory
//! is removed without crossing a mount.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use rukt_contract::GcArgs;
use rukt_images::store::LockMode;
use tracing::{debug, warn};

use crate::id::PodUuid;
use crate::mount::unmount_below;
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::remove::remove_pod_dir;
use crate::stage1::Stage1;
use crate::state::{Dir, State};

/// Embryos younger than this are being created, not abandoned.
const EMBRYO_AGE: Duration = Duration::from_secs(600);

/// How `rukt gc` behaves.
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// Exited pods are removed this long after being marked.
    pub grace_period: Duration,
    /// Prepared pods older than this are marked.
    pub expire_prepared: Duration,
    /// Mark, do not sweep.
    pub mark_only: bool,
    /// Pass `--debug` to stage1.
    pub debug: bool,
}

/// What one gc run did.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Pods marked as garbage.
    pub marked: Vec<PodUuid>,
    /// Pods removed.
    pub removed: Vec<PodUuid>,
    /// Pods that could not be removed, with why.
    pub failed: Vec<(PodUuid, PodError)>,
}

/// Runs gc over every pod.
pub fn gc(pods: &Pods, opts: GcOptions) -> Result<GcReport, PodError> {
    let mut report = GcReport::default();
    let now = SystemTime::now();
    for pod in pods.all()? {
        let target = match pod.dir {
            Dir::Run => Dir::ExitedGarbage,
            Dir::Prepare => Dir::Garbage,
            // An embryo is unlocked for a moment between its mkdir and its
            // lock; only old ones are leftovers of a crash.
            Dir::Embryo if older_than(&pod, ".", EMBRYO_AGE, now) => Dir::Garbage,
            Dir::Prepared
                if older_than(&pod, rukt_contract::POD_MANIFEST, opts.expire_prepared, now) =>
            {
                Dir::Garbage
            }
            _ => continue,
        };
        // Hold the lock while moving so a starting run-prepared cannot race.
        let Some(lock) = pod.try_lock(LockMode::Exclusive)? else {
            continue;
        };
        match pods.move_to(&pod, target) {
            Ok(_) => report.marked.push(pod.uuid),
            Err(e) => {
                debug!(uuid = %pod.uuid, error = &e as &dyn std::error::Error, "lost a race marking a pod")
            }
        }
        drop(lock);
    }
    if opts.mark_only {
        return Ok(report);
    }
    for pod in pods.all()? {
        let due = match pod.dir {
            Dir::ExitedGarbage => older_than_ctime(&pod, opts.grace_period, now),
            Dir::Garbage => true,
            _ => false,
        };
        if !due {
            continue;
        }
        match destroy(&pod, opts.debug) {
            Ok(true) => report.removed.push(pod.uuid),
            Ok(false) => {}
            Err(e) => {
                report.failed.push((pod.uuid, e));
            }
        }
    }
    Ok(report)
}

fn older_than(pod: &Pod, file: &str, age: Duration, now: SystemTime) -> bool {
    std::fs::metadata(pod.path.join(file))
        .and_then(|m| m.modified())
        .map(|t| now.duration_since(t).unwrap_or_default() >= age)
        .unwrap_or(true)
}

fn older_than_ctime(pod: &Pod, age: Duration, now: SystemTime) -> bool {
    std::fs::metadata(&pod.path)
        .map(|m| {
            let marked = SystemTime::UNIX_EPOCH + Duration::from_secs(m.ctime().max(0) as u64);
            now.duration_since(marked).unwrap_or_default() >= age
        })
        .unwrap_or(false)
}

/// Removes a pod that nobody uses: stage1 gc, unmount, remove. `Ok(false)`
/// when another process holds it.
pub fn destroy(pod: &Pod, debug: bool) -> Result<bool, PodError> {
    let Some(_lock) = pod.try_lock(LockMode::Exclusive)? else {
        return Ok(false);
    };
    let ran = pod.path.join(rukt_contract::PID_FILE).exists() || pod.dir == Dir::ExitedGarbage;
    // A stage1 that released everything itself needs no second look.
    let released = pod.path.join(rukt_contract::RELEASED_FILE).exists();
    if ran
        && !released
        && let Ok(m) = pod.manifest()
    {
        let args = GcArgs {
            debug,
            uuid: pod.uuid.to_string(),
        };
        match Stage1::for_pod(pod, &m).map(|s| s.call(pod, args.to_argv())) {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => {
                warn!(uuid = %pod.uuid, status = %s, "stage1 gc failed; unmounting what it left")
            }
            Ok(Err(e)) => {
                warn!(uuid = %pod.uuid, error = &e as &dyn std::error::Error, "cannot run stage1 gc; unmounting what it left")
            }
            Err(e) => {
                warn!(uuid = %pod.uuid, error = &e as &dyn std::error::Error, "cannot use the pod's stage1; unmounting what it left")
            }
        }
    }
    // A pod prepared but never run (or whose stage1 gc failed) may still
    // hold host port reservations.
    if let Some(store) = rukt_contract::store_of_pod(&pod.path)
        && let Err(e) = rukt_net::ports::release(store, &pod.uuid.to_string())
    {
        warn!(uuid = %pod.uuid, error = &e as &dyn std::error::Error, "cannot release the pod's host ports");
    }
    remove_run_dir(&pod.uuid.to_string())?;
    unmount_below(&pod.path).map_err(io_err("unmount below", &pod.path))?;
    remove_pod_dir(&pod.path).map_err(io_err("remove", &pod.path))?;
    if let Some(store) = rukt_contract::store_of_pod(&pod.path) {
        crate::events::garbage_collected(store, &pod.uuid.to_string());
    }
    Ok(true)
}

/// Removes the pod's run directory (`rukt_contract::pod_run_dir`), first,
/// so that a gc killed on the way finds the pod again. Anything still
/// mounted in it (a view a killed supervisor left) makes the removal stop
/// short; only then is it unmounted (reading the mount table costs more
/// than the removal) and removed again. Absent (after a reboot, or for an
/// engine that keeps none) is done.
fn remove_run_dir(uuid: &str) -> Result<(), PodError> {
    let dir = rukt_contract::pod_run_dir(uuid);
    if remove_pod_dir(&dir).is_ok() {
        return Ok(());
    }
    unmount_below(&dir).map_err(io_err("unmount below", &dir))?;
    remove_pod_dir(&dir).map_err(io_err("remove", &dir))
}

/// `rukt rm`: removes an exited or never-run pod now.
pub fn rm(pods: &Pods, pod: &Pod, debug: bool) -> Result<(), PodError> {
    let state = pod.state();
    let target = match state {
        State::Running | State::Preparing | State::Deleting | State::Embryo => {
            return Err(PodError::WrongState {
                uuid: pod.uuid,
                state,
                hint: "stop it first, or wait for it to end",
            });
        }
        State::Exited => Some(Dir::ExitedGarbage),
        State::Prepared | State::AbortedPrepare => Some(Dir::Garbage),
        State::ExitedGarbage | State::Garbage => None,
    };
    let pod = match target {
        Some(t) => {
            let Some(lock) = pod.try_lock(LockMode::Exclusive)? else {
                return Err(PodError::Busy(pod.uuid));
            };
            let moved = pods.move_to(pod, t)?;
            drop(lock);
            moved
        }
        None => pod.clone(),
    };
    if destroy(&pod, debug)? {
        Ok(())
    } else {
        Err(PodError::Busy(pod.uuid))
    }
}
