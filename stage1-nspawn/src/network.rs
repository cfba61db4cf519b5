//! The pod's CNI networks for the supervisor: attached from the host's
//! network namespace before the pod's namespaces are made (the plugins put
//! the host end of each link where the supervisor started), detached from
//! there again when the pod ends; `gc` detaches after a crash
//! (`rukt_net::pod`).

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::Context;
use rukt_contract::PodManifest;
use rukt_net::netns;
use rukt_net::pod::{self, Attached};

/// A pod's networks, up, and the way back to the host's namespace.
pub struct PodNetwork {
    host: OwnedFd,
    /// What the networks gave.
    pub attached: Attached,
}

/// Attaches every network of `pod`; `None` if it has none.
pub fn attach(pod_dir: &Path, pod: &PodManifest) -> anyhow::Result<Option<PodNetwork>> {
    if pod.networks.is_empty() {
        return Ok(None);
    }
    let host = netns::current().context("cannot open the host's network namespace")?;
    let attached = pod::setup(pod_dir, pod).context("cannot set up the pod's networks")?;
    Ok(Some(PodNetwork { host, attached }))
}

impl PodNetwork {
    /// Goes back to the host's namespace and detaches every network; what
    /// fails is logged (and left for `gc`). Returns whether all went.
    pub fn detach(self, pod_dir: &Path, pod: &PodManifest) -> bool {
        if let Err(e) = netns::enter(&self.host) {
            tracing::warn!(
                "cannot return to the host's network namespace: {e}; leaving the networks to gc"
            );
            return false;
        }
        drop(self.attached);
        if let Err(e) = pod::teardown(pod_dir, pod) {
            let e = anyhow::Error::from(e);
            tracing::warn!("cannot tear down the pod's networks (rukt gc retries): {e:#}");
            return false;
        }
        true
    }
}

/// Detaches what a pod whose supervisor died left (from `gc`).
pub fn detach_leftovers(pod_dir: &Path, pod: &PodManifest) -> anyhow::Result<()> {
    pod::teardown_leftovers(pod_dir, pod).context("cannot tear down the pod's networks")
}
