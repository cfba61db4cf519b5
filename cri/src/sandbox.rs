//! Pod sandboxes: RunPodSandbox prepares an app-less mutable pod from the
//! config (`convert::pod_spec`), writes its record and starts its
//! supervisor detached (`rukt_pods::sandbox`); the other RPCs read the
//! pods' records and states. Stop and Remove are idempotent (an unknown or
//! already stopped sandbox is OK); Status of an unknown id is NOT_FOUND.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use rukt_images::fetch::{Fetcher, NoProgress, PullPolicy};
use rukt_pods::{Pod, State, StopOptions};
use rukt_proto::cri::v1 as cri;
use tonic::Status;

use crate::ctx::Ctx;
use crate::error::{chain, internal, invalid, not_found};
use crate::record::{self, Metadata, SandboxRecord, SandboxState};
use crate::runtime_info::{HANDLERS, handler_or_default};

/// How long a sandbox's supervisor may take to be ready.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long StopPodSandbox waits for the supervisor's teardown once the
/// apps are killed.
const STOPPED_WITHIN: Duration = Duration::from_secs(20);

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn rec_err(e: &record::RecordError) -> Status {
    internal(e)
}

/// `RunPodSandbox`: the new sandbox's id (its pod's UUID).
pub fn run(ctx: &Ctx, config: &cri::PodSandboxConfig, handler: &str) -> Result<String, Status> {
    let meta = config
        .metadata
        .as_ref()
        .filter(|m| !m.name.is_empty())
        .ok_or_else(|| invalid("the sandbox config has no metadata name"))?;
    let handler = handler_or_default(handler);
    if !HANDLERS.contains(&handler) {
        return Err(invalid(format!(
            "unknown runtime handler {handler:?} (rukt has {})",
            HANDLERS.join(", ")
        )));
    }
    let spec = crate::convert::pod_spec(config, ctx.stage1_for(handler))?;
    let store = ctx.store();
    let pods = rukt_pods::Pods::open(&ctx.dir).map_err(|e| internal(&e))?;
    let fetcher = Fetcher::new(
        &store,
        rukt_images::fetch::FetchOptions {
            pull_policy: PullPolicy::Never,
            ..ctx.fetch_options()
        },
    )
    .map_err(|e| internal(&e))?;
    let preparing = rukt_pods::prepare(
        &pods,
        &store,
        &fetcher,
        &spec,
        &ctx.net_catalog(),
        &NoProgress,
        false,
    )
    .map_err(|e| match e {
        rukt_pods::PrepareError::Unsupported(_) | rukt_pods::PrepareError::Invalid(_) => {
            invalid(chain(&e))
        }
        e => internal(&e),
    })?;
    let linux = config.linux.clone().unwrap_or_default();
    let host_network = spec.net == Some(rukt_contract::NetMode::Host);
    let rec = SandboxRecord {
        version: record::VERSION,
        id: preparing.pod.uuid.to_string(),
        metadata: Metadata {
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            namespace: meta.namespace.clone(),
            attempt: meta.attempt,
        },
        labels: config.labels.clone().into_iter().collect(),
        annotations: config.annotations.clone().into_iter().collect(),
        created_at: now_ns(),
        handler: handler.to_string(),
        log_directory: config.log_directory.clone(),
        host_network,
        cgroup_parent: linux.cgroup_parent,
        state: SandboxState::Ready,
        boot_id: record::boot_id(),
    };
    // Before the pod starts: a crash from here on leaves a sandbox that
    // lists (as not ready), never a pod nobody knows is kubelet's.
    record::write_sandbox(&preparing.pod, &rec).map_err(|e| rec_err(&e))?;
    let uuid = preparing.pod.uuid;
    // Never `--debug` for the supervisor: its stderr is a pipe closed once
    // the pod is ready, and a debug line written after that kills it.
    let started = match rukt_pods::sandbox::start_detached(&pods, preparing, false, READY_WITHIN) {
        Ok(s) => s,
        Err(e) => {
            // Nothing of it is kubelet's to clean up: a retry makes a new one.
            if let Some(pod) = pods.refind(uuid)
                && let Err(rm) = rukt_pods::rm(&pods, &pod, ctx.debug)
            {
                tracing::warn!("cannot remove the failed sandbox {uuid}: {}", chain(&rm));
            }
            return Err(Status::unknown(format!(
                "cannot start sandbox {uuid}: {}",
                chain(&e)
            )));
        }
    };
    let mut supervisor = started.supervisor;
    // The supervisor is our child until we exit; reap it when it ends.
    std::thread::spawn(move || {
        let _ = supervisor.wait();
    });
    tracing::info!(sandbox = %uuid, name = %meta.name, handler, "sandbox running");
    Ok(uuid.to_string())
}

/// A sandbox: its pod and record. Ids may be unique prefixes.
pub fn find(ctx: &Ctx, id: &str) -> Result<Option<(Pod, SandboxRecord)>, Status> {
    if id.is_empty() {
        return Err(invalid("empty sandbox id"));
    }
    let pod = match ctx.pods().find(id) {
        Ok(p) => p,
        Err(rukt_pods::PodError::Unknown(_)) => return Ok(None),
        Err(e) => return Err(crate::error::pod(&e)),
    };
    match record::read_sandbox(&pod).map_err(|e| rec_err(&e))? {
        Some(r) => Ok(Some((pod, r))),
        None => Ok(None),
    }
}

/// Every sandbox of the store.
pub fn all(ctx: &Ctx) -> Result<Vec<(Pod, SandboxRecord)>, Status> {
    let mut out = Vec::new();
    for pod in ctx.pods().all().map_err(|e| internal(&e))? {
        match record::read_sandbox(&pod) {
            Ok(Some(r)) => out.push((pod, r)),
            Ok(None) => {}
            Err(e) => tracing::warn!("skipping pod {}: {}", pod.uuid, chain(&e)),
        }
    }
    out.sort_by_key(|(_, r)| r.created_at);
    Ok(out)
}

/// The CRI state: ready while the CRI has not stopped it and its pod runs.
pub fn state(pod: &Pod, rec: &SandboxRecord) -> cri::PodSandboxState {
    if rec.state == SandboxState::Ready
        && pod.state() == State::Running
        && rec.boot_id == record::boot_id()
    {
        cri::PodSandboxState::SandboxReady
    } else {
        cri::PodSandboxState::SandboxNotready
    }
}

fn metadata(m: &Metadata) -> cri::PodSandboxMetadata {
    cri::PodSandboxMetadata {
        name: m.name.clone(),
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        attempt: m.attempt,
    }
}

fn map(m: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether `labels` has every pair of `selector`.
pub fn selected(
    labels: &std::collections::BTreeMap<String, String>,
    selector: &HashMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `ListPodSandbox`.
pub fn list(
    ctx: &Ctx,
    filter: Option<&cri::PodSandboxFilter>,
) -> Result<Vec<cri::PodSandbox>, Status> {
    let mut out = Vec::new();
    for (pod, rec) in all(ctx)? {
        let st = state(&pod, &rec);
        if let Some(f) = filter {
            if !f.id.is_empty() && !rec.id.starts_with(&f.id) {
                continue;
            }
            if f.state.as_ref().is_some_and(|s| s.state != st as i32) {
                continue;
            }
            if !selected(&rec.labels, &f.label_selector) {
                continue;
            }
        }
        out.push(cri::PodSandbox {
            id: rec.id.clone(),
            metadata: Some(metadata(&rec.metadata)),
            state: st as i32,
            created_at: rec.created_at,
            labels: map(&rec.labels),
            annotations: map(&rec.annotations),
            runtime_handler: rec.handler.clone(),
        });
    }
    Ok(out)
}

/// The pod's addresses while it is attached: the first is the CRI's `ip`.
fn network(pod: &Pod, host: bool) -> Option<cri::PodSandboxNetworkStatus> {
    if host {
        return None;
    }
    let st = rukt_pods::status(pod);
    let mut ips = st
        .networks
        .iter()
        .flat_map(|n| n.ips.iter())
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
        .filter(|ip| ip != "127.0.0.1" && ip != "::1");
    let first = ips.next()?;
    Some(cri::PodSandboxNetworkStatus {
        ip: first,
        additional_ips: ips.map(|ip| cri::PodIp { ip }).collect(),
    })
}

/// `PodSandboxStatus`; NOT_FOUND for an unknown id.
pub fn status(ctx: &Ctx, id: &str, verbose: bool) -> Result<cri::PodSandboxStatusResponse, Status> {
    let (pod, rec) = find(ctx, id)?.ok_or_else(|| not_found("sandbox", id))?;
    let st = state(&pod, &rec);
    let mode = |m: cri::NamespaceMode| m as i32;
    let mut info = HashMap::new();
    if verbose {
        info.insert(
            "info".to_string(),
            serde_json::json!({
                "pod": pod.uuid.to_string(),
                "podDir": pod.path,
                "podState": pod.state().name(),
                "handler": rec.handler,
                "record": rec,
            })
            .to_string(),
        );
    }
    Ok(cri::PodSandboxStatusResponse {
        status: Some(cri::PodSandboxStatus {
            id: rec.id.clone(),
            metadata: Some(metadata(&rec.metadata)),
            state: st as i32,
            created_at: rec.created_at,
            network: if st == cri::PodSandboxState::SandboxReady {
                network(&pod, rec.host_network)
            } else {
                None
            },
            linux: Some(cri::LinuxPodSandboxStatus {
                namespaces: Some(cri::Namespace {
                    options: Some(cri::NamespaceOption {
                        network: mode(if rec.host_network {
                            cri::NamespaceMode::Node
                        } else {
                            cri::NamespaceMode::Pod
                        }),
                        pid: mode(cri::NamespaceMode::Pod),
                        ipc: mode(cri::NamespaceMode::Pod),
                        ..Default::default()
                    }),
                }),
            }),
            labels: map(&rec.labels),
            annotations: map(&rec.annotations),
            runtime_handler: rec.handler.clone(),
        }),
        info,
        containers_statuses: Vec::new(),
        timestamp: now_ns(),
    })
}

/// `StopPodSandbox`: its apps are stopped (killed after a grace period)
/// with the pod, whose networks are torn down; repeatable.
pub fn stop(ctx: &Ctx, id: &str) -> Result<(), Status> {
    let Some((pod, _)) = find(ctx, id)? else {
        return Ok(());
    };
    record::update_sandbox(&pod, |r| r.state = SandboxState::NotReady).map_err(|e| rec_err(&e))?;
    if pod.state() == State::Running {
        // CRI: "If there are any running containers in the sandbox, they
        // must be forcibly terminated" (kubelet stops them first, each with
        // its own grace period; what is left is killed, as containerd does).
        let opts = StopOptions {
            force: true,
            timeout: Duration::ZERO,
            debug: ctx.debug,
        };
        match rukt_pods::stop(&pod, opts) {
            Ok(_) => {}
            Err(rukt_pods::stop::StopError::NotRunning { .. }) => {}
            Err(e) => return Err(internal(&e)),
        }
        wait_stopped(&pod)?;
    }
    Ok(())
}

/// Waits for the pod's lock to go (the supervisor's teardown).
fn wait_stopped(pod: &Pod) -> Result<(), Status> {
    let start = std::time::Instant::now();
    while pod.state() == State::Running {
        if start.elapsed() > STOPPED_WITHIN {
            return Err(Status::deadline_exceeded(format!(
                "sandbox {} is still running",
                pod.uuid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// `RemovePodSandbox`: stopped first if need be (its containers go with
/// it, forcibly), then the pod directory is removed; repeatable.
pub fn remove(ctx: &Ctx, id: &str) -> Result<(), Status> {
    let Some((pod, _)) = find(ctx, id)? else {
        return Ok(());
    };
    if pod.state() == State::Running {
        let opts = StopOptions {
            force: true,
            timeout: Duration::ZERO,
            debug: ctx.debug,
        };
        if let Err(e) = rukt_pods::stop(&pod, opts) {
            tracing::debug!("stop before remove: {}", chain(&e));
        }
        wait_stopped(&pod)?;
    }
    let pods = ctx.pods();
    let pod = pods.refind(pod.uuid).unwrap_or(pod);
    match rukt_pods::rm(&pods, &pod, ctx.debug) {
        Ok(()) => Ok(()),
        Err(e) => {
            if pods.refind(pod.uuid).is_none() {
                Ok(())
            } else {
                Err(internal(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_sandboxes_stop_and_remove_ok_and_their_status_is_not_found() {
        let d = tempfile::tempdir().unwrap();
        let ctx = Ctx::for_tests(d.path());
        let id = rukt_pods::PodUuid::new_random().to_string();
        stop(&ctx, &id).unwrap();
        remove(&ctx, &id).unwrap();
        assert_eq!(
            status(&ctx, &id, false).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert!(list(&ctx, None).unwrap().is_empty());
        assert_eq!(
            find(&ctx, "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let e = run(&ctx, &cri::PodSandboxConfig::default(), "").unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: "x".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = run(&ctx, &config, "runc").unwrap_err();
        assert!(e.message().contains("runc"), "{}", e.message());
    }
}
