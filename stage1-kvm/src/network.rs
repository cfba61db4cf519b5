//! The pod's CNI networks for a VM. The supervisor attaches them exactly as
//! nspawn's does (`rukt_net::pod::setup`, from the host's network
//! namespace: the plugins put a veth end `ethN` into the pod's namespace
//! `/run/netns/rukt-<uuid>`), then plumbs each link that got an address to
//! the VM, as Kata's "tcfilter" model: inside the pod's namespace a tap
//! `tapN` (opened here by `TUNSETIFF`; it lives as long as its descriptor,
//! which qemu inherits), with the link's MTU, and an ingress `u32` filter
//! on each side that redirects every frame to the other (`mirred egress
//! redirect`; these kernels have no matchall or flower), over rtnetlink
//! ([`crate::tc`]). The link keeps its
//! address: nothing in the namespace ever receives a frame, and the bridge
//! plugin's DEL reads the address off the link to find its masquerade
//! rules (after a crash too, from `gc`). The VM's NIC gets the link's MAC,
//! so the network's bridge, ARP and port mappings see the pod exactly as
//! they would a container. qemu itself stays in the host's namespace: it
//! needs nothing of the pod's but the tap descriptor.
//!
//! The guest gets each NIC's MAC, MTU, addresses and routes
//! ([`GuestNic`]); a network that gave the pod no address (the loopback
//! plugin) gives the VM no NIC. Detached at exit, and by `gc` after a
//! crash; deleting the namespace takes the taps with it.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use rukt_contract::PodManifest;
use rukt_kvm_init::proto::GuestNic;
use rukt_net::netns;
use rukt_net::pod::{self, Attached};
use rukt_net::record::Record;
use rukt_net::result::routes;
use rukt_sys::netdev;
use tracing::{debug, warn};

use crate::tc::Tc;

/// One network's link, plumbed to a tap.
pub struct Nic {
    /// The tap's descriptor, for the VMM.
    pub tap: OwnedFd,
    /// What the guest configures.
    pub guest: GuestNic,
}

/// A pod's networks, up, and the VM's NICs on them.
pub struct PodNetwork {
    /// What the networks gave.
    pub attached: Attached,
    /// The NICs, in network order.
    pub nics: Vec<Nic>,
}

/// Attaches every network of `pod` and plumbs a tap to each link that got
/// an address; `None` if the pod has no network. On failure nothing is
/// left.
pub fn attach(pod_dir: &Path, pod: &PodManifest) -> anyhow::Result<Option<PodNetwork>> {
    if pod.networks.is_empty() {
        return Ok(None);
    }
    let attached = pod::setup(pod_dir, pod).context("cannot set up the pod's networks")?;
    let started = Instant::now();
    match plumb(pod_dir, &attached) {
        Ok(nics) => {
            debug!(
                "{} NIC(s) plumbed in {:.1} ms",
                nics.len(),
                started.elapsed().as_secs_f64() * 1000.0
            );
            Ok(Some(PodNetwork { attached, nics }))
        }
        Err(e) => {
            PodNetwork {
                attached,
                nics: Vec::new(),
            }
            .detach(pod_dir, pod);
            Err(e)
        }
    }
}

impl PodNetwork {
    /// Closes the taps and detaches every network; what fails is logged
    /// (and left for `gc`).
    pub fn detach(self, pod_dir: &Path, pod: &PodManifest) {
        drop(self.nics);
        drop(self.attached);
        if let Err(e) = pod::teardown(pod_dir, pod) {
            let e = anyhow::Error::from(e);
            warn!("cannot tear down the pod's networks (rukt gc retries): {e:#}");
        }
    }
}

/// Detaches what a pod whose supervisor died left (from `gc`).
pub fn detach_leftovers(pod_dir: &Path, pod: &PodManifest) -> anyhow::Result<()> {
    pod::teardown_leftovers(pod_dir, pod).context("cannot tear down the pod's networks")
}

/// Makes the taps and the redirects, from a thread inside the pod's
/// namespace (which the commands it runs inherit).
fn plumb(pod_dir: &Path, attached: &Attached) -> anyhow::Result<Vec<Nic>> {
    let record = Record::load(pod_dir)
        .context("cannot read the pod's network record")?
        .unwrap_or_default();
    let routes_of = |i: usize| -> Vec<(String, Option<String>)> {
        record
            .attachments
            .get(i)
            .and_then(|a| a.result.as_ref())
            .map(routes)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !r.dst.contains(':'))
            .map(|r| (r.dst, r.gw))
            .collect()
    };
    std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<Vec<Nic>> {
            netns::enter(&attached.netns).context("cannot enter the pod's network namespace")?;
            let mut nics = Vec::new();
            let mut links = Vec::new();
            for (i, r) in attached.results.iter().enumerate() {
                let addresses: Vec<String> =
                    r.ips.iter().filter(|a| !a.contains(':')).cloned().collect();
                if addresses.is_empty() {
                    continue;
                }
                let link = r.interface.as_str();
                let mac = netdev::mac(link)?;
                let mtu = netdev::mtu(link)?;
                let tap_name = format!("tap{i}");
                let tap = netdev::open_tap(&tap_name)?;
                netdev::set_mtu(&tap_name, mtu)?;
                netdev::set_up(&tap_name)?;
                nics.push(Nic {
                    tap,
                    guest: GuestNic {
                        mac: netdev::format_mac(&mac),
                        mtu,
                        addresses,
                        gateway: r.gateway.clone(),
                        routes: routes_of(i),
                    },
                });
                links.push((link.to_string(), tap_name));
            }
            if !links.is_empty() {
                redirect(&links)?;
            }
            Ok(nics)
        })
        .join()
        .unwrap_or_else(|_| bail!("the network plumbing thread panicked"))
    })
}

/// Redirects each link's frames to its tap and back ([`crate::tc`]).
fn redirect(links: &[(String, String)]) -> anyhow::Result<()> {
    let mut tc = Tc::open().context("cannot open a route netlink socket")?;
    for (link, tap) in links {
        let (l, t) = (netdev::index(link)?, netdev::index(tap)?);
        for (from, to, name) in [(l, t, link), (t, l, tap)] {
            tc.redirect(from, to)
                .with_context(|| format!("cannot redirect {name}'s frames"))?;
        }
    }
    Ok(())
}
