//! ListPods and InspectPod: the pods of the store, read without locks
//! (`rukt_pods::inspect`). What the pod's files say is cached per UUID and
//! re-read only when the pod's [`Stamp`] moved (or changed too recently to
//! trust a timestamp's granularity); the state, PID and cgroup are
//! recomputed on every call from the directory and `/proc/locks`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rukt_pods::inspect::{HeldLocks, Snapshot, Stamp, cgroup_of};
use rukt_pods::{Pod, PodError, PodUuid, Pods, State};
use rukt_proto::v1 as pb;
use tonic::Status;

/// A snapshot whose stamp is newer than this (ns) before it was read is
/// read again next time: a change within one timestamp tick is invisible.
const RACY_NS: i128 = 1_000_000_000;

struct Cached {
    snap: Arc<Snapshot>,
    read_at: i128,
}

/// The pods of one store, with their snapshots cached.
pub struct PodCache {
    pods: Pods,
    cache: Mutex<HashMap<PodUuid, Cached>>,
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn ns(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// rukt's state as the API's enum.
pub fn pod_state(s: State) -> pb::PodState {
    match s {
        State::Embryo => pb::PodState::Embryo,
        State::Preparing => pb::PodState::Preparing,
        State::AbortedPrepare => pb::PodState::AbortedPrepare,
        State::Prepared => pb::PodState::Prepared,
        State::Running => pb::PodState::Running,
        State::Exited => pb::PodState::Exited,
        State::Deleting => pb::PodState::Deleting,
        State::ExitedGarbage => pb::PodState::ExitedGarbage,
        State::Garbage => pb::PodState::Garbage,
    }
}

/// An error of the pods library as a gRPC status.
pub fn pod_status(e: PodError) -> Status {
    match e {
        PodError::Unknown(_) => Status::not_found(e.to_string()),
        PodError::Ambiguous { .. } => Status::invalid_argument(e.to_string()),
        e => Status::internal(e.to_string()),
    }
}

/// A UUID or prefix as a client may give it.
pub fn check_pod_id(id: &str) -> Result<(), Status> {
    let ok =
        !id.is_empty() && id.len() <= 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "{id:?} is not a pod UUID or prefix"
        )))
    }
}

/// Checks every filter; a malformed one is INVALID_ARGUMENT.
fn check_filters(filters: &[pb::PodFilter]) -> Result<(), Status> {
    for f in filters {
        f.ids.iter().try_for_each(|id| check_pod_id(id))?;
        for s in &f.states {
            match pb::PodState::try_from(*s) {
                Ok(pb::PodState::Undefined) | Err(_) => {
                    return Err(Status::invalid_argument(format!("{s} is not a pod state")));
                }
                Ok(_) => {}
            }
        }
        for id in &f.image_ids {
            crate::images::check_image_id(id)?;
        }
        for c in f.cgroups.iter().chain(&f.pod_sub_cgroups) {
            if !c.starts_with('/') {
                return Err(Status::invalid_argument(format!(
                    "cgroup {c:?} is not an absolute path"
                )));
            }
        }
        let empty = |v: &[String]| v.iter().any(String::is_empty);
        if empty(&f.app_names) || empty(&f.network_names) || empty(&f.stage1s) {
            return Err(Status::invalid_argument("a filter has an empty name"));
        }
    }
    Ok(())
}

fn any_or_empty<T>(wanted: &[T], hit: impl Fn(&T) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(hit)
}

fn matches(f: &pb::PodFilter, p: &pb::Pod) -> bool {
    let under = |parent: &str, child: &str| {
        child == parent
            || child
                .strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('/') || parent.ends_with('/'))
    };
    any_or_empty(&f.ids, |id| p.id.starts_with(id.as_str()))
        && any_or_empty(&f.states, |s| *s == p.state)
        && any_or_empty(&f.app_names, |n| p.apps.iter().any(|a| &a.name == n))
        && any_or_empty(&f.image_ids, |i| {
            p.apps
                .iter()
                .any(|a| crate::images::id_matches(&a.image_id, i))
        })
        && any_or_empty(&f.network_names, |n| {
            p.networks.iter().any(|x| &x.name == n)
        })
        && any_or_empty(&f.cgroups, |c| !p.cgroup.is_empty() && &p.cgroup == c)
        && any_or_empty(&f.pod_sub_cgroups, |c| {
            !p.cgroup.is_empty() && under(&p.cgroup, c)
        })
        && any_or_empty(&f.stage1s, |s| &p.stage1 == s)
}

impl PodCache {
    /// The pods of the store at `store_root`.
    pub fn new(store_root: &std::path::Path) -> PodCache {
        PodCache {
            pods: Pods::at(store_root),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The pods library's view of the store.
    pub fn pods(&self) -> &Pods {
        &self.pods
    }

    /// Every pod matching `filters` (OR'ed; none: every pod).
    pub fn list(&self, filters: &[pb::PodFilter], detail: bool) -> Result<Vec<pb::Pod>, Status> {
        check_filters(filters)?;
        let all = self.pods.all().map_err(pod_status)?;
        let locks = HeldLocks::read().map_err(|e| Status::internal(format!("/proc/locks: {e}")))?;
        let now = now_ns();
        let mut out = Vec::with_capacity(all.len());
        let mut cache = self.cache.lock().expect("pod cache poisoned");
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        for pod in &all {
            seen.insert(pod.uuid);
            let Some(snap) = snapshot(&mut cache, pod, now) else {
                continue;
            };
            let p = to_proto(pod, &snap, &locks, detail);
            if filters.is_empty() || filters.iter().any(|f| matches(f, &p)) {
                out.push(p);
            }
        }
        // Pods gone from the store leave the cache.
        cache.retain(|uuid, _| seen.contains(uuid));
        Ok(out)
    }

    /// One pod by UUID or unique prefix, with its manifest.
    pub fn inspect(&self, id: &str) -> Result<pb::Pod, Status> {
        check_pod_id(id)?;
        let pod = self.pods.find(id).map_err(pod_status)?;
        let locks = HeldLocks::read().map_err(|e| Status::internal(format!("/proc/locks: {e}")))?;
        let mut cache = self.cache.lock().expect("pod cache poisoned");
        let snap = snapshot(&mut cache, &pod, now_ns())
            .ok_or_else(|| Status::not_found(format!("pod {} is gone", pod.uuid)))?;
        Ok(to_proto(&pod, &snap, &locks, true))
    }

    /// The pod a UUID or unique prefix names (for GetLogs).
    pub fn find(&self, id: &str) -> Result<Pod, Status> {
        check_pod_id(id)?;
        self.pods.find(id).map_err(pod_status)
    }
}

/// The pod's snapshot, from the cache when its stamp did not move.
fn snapshot(cache: &mut HashMap<PodUuid, Cached>, pod: &Pod, now: i128) -> Option<Arc<Snapshot>> {
    let stamp = Stamp::of(pod).ok()?;
    if let Some(c) = cache.get(&pod.uuid)
        && c.snap.stamp == stamp
        && c.read_at - stamp.newest() > RACY_NS
    {
        return Some(c.snap.clone());
    }
    let snap = Arc::new(Snapshot::read(pod, stamp));
    cache.insert(
        pod.uuid,
        Cached {
            snap: snap.clone(),
            read_at: now,
        },
    );
    Some(snap)
}

/// The state of `pod` now, without a lock (for GetLogs' follow).
pub fn state_now(pod: &Pod) -> State {
    let locks = HeldLocks::read().unwrap_or_default();
    Stamp::of(pod).map_or(State::Garbage, |s| s.state(&locks))
}

fn to_proto(pod: &Pod, snap: &Snapshot, locks: &HeldLocks, detail: bool) -> pb::Pod {
    let state = snap.stamp.state(locks);
    let running = state == State::Running;
    let pid = snap.pid.filter(|_| running);
    let apps = snap
        .manifest
        .iter()
        .flat_map(|m| m.apps.iter().zip(&snap.exits))
        .map(|(a, exit)| pb::App {
            name: a.name.clone(),
            image: a.image.name.clone(),
            image_id: a.image.id.clone(),
            state: match (exit, running) {
                (Some(_), _) => pb::AppState::Exited,
                (None, true) => pb::AppState::Running,
                (None, false) => pb::AppState::Undefined,
            } as i32,
            exit_code: exit.as_ref().map(|e| e.code),
            exit_reason: exit
                .as_ref()
                .and_then(|e| e.reason.clone())
                .unwrap_or_default(),
            finished_at: ns(exit.as_ref().map(|e| e.at)),
        })
        .collect();
    let networks = snap
        .networks
        .iter()
        .map(|n| {
            let addr = |v6: bool| {
                n.ips
                    .iter()
                    .map(|ip| ip.split('/').next().unwrap_or(ip))
                    .find(|a| a.contains(':') == v6)
                    .unwrap_or_default()
                    .to_string()
            };
            pb::Network {
                name: n.name.clone(),
                ipv4: addr(false),
                ipv6: addr(true),
                ips: n.ips.clone(),
                interface: n.interface.clone(),
            }
        })
        .collect();
    pb::Pod {
        id: pod.uuid.to_string(),
        pid: pid.map_or(0, |p| p as i32),
        state: pod_state(state) as i32,
        apps,
        networks,
        manifest: if detail {
            snap.manifest_json.clone().unwrap_or_default()
        } else {
            Vec::new()
        },
        stage1: snap
            .manifest
            .as_ref()
            .map(|m| m.stage1.flavor.clone())
            .unwrap_or_default(),
        cgroup: pid.and_then(cgroup_of).unwrap_or_default(),
        created_at: ns(snap.created),
        started_at: ns(snap.started),
        gc_marked_at: ns(snap.gc_marked),
        exit_code: snap.exit_code().filter(|_| !running),
    }
}
