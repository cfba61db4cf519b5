//! Volume propagation (`propagation=shared|slave|private` on host
//! volumes), which libcontainer 0.7 does not apply per bind (it clones each
//! source with `open_tree` and sets no propagation on it):
//!
//! - `slave` (the default, Kubernetes' HostToContainer): the container's
//!   root is made a recursive slave, so a bind of a shared host source
//!   receives the host's later mounts and sends nothing back.
//! - `shared` (Bidirectional): the source is made a shared mount on the host
//!   ([`rukt_sys::propagation::make_shared`]) and the app's root propagation
//!   `shared`, so the bind, a clone of the source, is its peer: mounts the
//!   app makes below it appear on the host and the other way round. The
//!   pod's root itself stays private (libcontainer makes the rootfs's mount
//!   private before it mounts anything), so `/proc` and the rest do not.
//! - Under a shared root every other bind of that app would be a peer too:
//!   once the container is created, and before it starts, the supervisor
//!   makes those binds slaves again (or private, for `private`) inside the
//!   container's mount namespace.

use anyhow::Context;
use rukt_contract::{App, PodManifest, Propagation, VolumeKind};
use rukt_sys::propagation::Change;
use serde_json::Value;

/// Whether any of `app`'s volumes is `propagation=shared`.
fn wants_shared(pod: &PodManifest, app: &App) -> bool {
    app.mounts.iter().any(|m| {
        pod.volume(&m.volume)
            .is_some_and(|v| v.propagation == Some(Propagation::Shared))
    })
}

/// Before the app is created: makes its shared volumes' sources shared
/// mounts and its root's propagation shared in `config`.
pub fn prepare(pod: &PodManifest, app: &App, config: &mut Value) -> anyhow::Result<()> {
    if !wants_shared(pod, app) {
        return Ok(());
    }
    for m in &app.mounts {
        let Some(v) = pod.volume(&m.volume) else {
            continue;
        };
        if let (Some(Propagation::Shared), VolumeKind::Host { source }) = (v.propagation, &v.kind) {
            rukt_sys::propagation::make_shared(source).with_context(|| {
                format!(
                    "volume {}: cannot make {} a shared mount",
                    v.name,
                    source.display()
                )
            })?;
        }
    }
    config["linux"]["rootfsPropagation"] = "shared".into();
    Ok(())
}

/// Once the app's container exists (its init `pid` waits to start): each
/// bind that must not be a peer of its source made a slave or private
/// inside the container.
pub fn settle(pod: &PodManifest, app: &App, pid: i32) -> anyhow::Result<()> {
    let shared_root = wants_shared(pod, app);
    let changes: Vec<(String, Change)> = app
        .mounts
        .iter()
        .filter_map(|m| {
            let v = pod.volume(&m.volume)?;
            let change = match v.propagation {
                Some(Propagation::Private) => Change::Private,
                Some(Propagation::Shared) => return None,
                Some(Propagation::Slave) | None if shared_root => Change::Slave,
                // The root is a recursive slave already.
                Some(Propagation::Slave) | None => return None,
            };
            Some((m.target.clone(), change))
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let pid = u32::try_from(pid).context("the app's init has no PID")?;
    rukt_sys::propagation::change_in_namespace_of(pid, &changes)
        .with_context(|| format!("app {}: cannot set its volumes' propagation", app.name))
}
