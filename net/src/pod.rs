//! A pod's networks, set up and torn down by its stage1, from the host's
//! network namespace. [`setup`] records, then creates the namespace, then
//! per network records the attachment and runs ADD; anything failing undoes
//! everything and says which network and plugin failed. [`teardown`] replays
//! the record: DEL for every attachment in reverse (with ADD's result), the
//! namespace unbound and removed, the pod's host ports released. It is
//! idempotent, so the supervisor at exit and `gc` after a crash can both
//! call it. Plugin runs of a store's pods are serialised by a lock
//! (`<store>/net/cni.lock`): Debian's plugins race when two of them create
//! the same bridge or shared iptables chain at once.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rukt_contract::{
    NET_INFO_FILE, NetworkResult, PodManifest, STORE_NET_DIR, net_conf, store_of_pod,
};
use rukt_sys::lock::{FileLock, LockMode};

use crate::chain::{self, RuntimeConfig};
use crate::conf::{ConfError, NetConf};
use crate::netns::{self, NetnsError};
use crate::plugin::{Invocation, PluginError};
use crate::record::{Attachment, Record};
use crate::result::summarise;

/// Why a pod's networks could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The namespace.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A network's configuration in the pod directory.
    #[error("network {network}: cannot read its configuration {}", path.display())]
    ReadConf {
        /// The network.
        network: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration that no longer parses.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// A plugin failed.
    #[error("network {network}")]
    Plugin {
        /// The network.
        network: String,
        /// The cause.
        #[source]
        source: PluginError,
    },
    /// Rules a plugin left.
    #[error(transparent)]
    Sweep(#[from] crate::sweep::SweepError),
    /// The pod's records.
    #[error("cannot {what} the pod's network record")]
    Record {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn record_err(what: &'static str) -> impl FnOnce(std::io::Error) -> NetError {
    move |source| NetError::Record { what, source }
}

/// A pod's networks, up.
#[derive(Debug)]
pub struct Attached {
    /// The pod's network namespace (not entered).
    pub netns: OwnedFd,
    /// Its path.
    pub path: PathBuf,
    /// What each network gave, in order (also in `net-info.json`).
    pub results: Vec<NetworkResult>,
}

/// The interface of the `index`-th network unless the request names one.
pub fn ifname(index: usize, asked: Option<&str>) -> String {
    asked.map_or_else(|| format!("eth{index}"), str::to_string)
}

/// `CNI_ARGS` for `args`; `IgnoreUnknown=1` first, so plugins that parse
/// arguments do not fail on keys meant for others (as kubelet and podman
/// pass them).
pub fn cni_args(args: &BTreeMap<String, String>) -> String {
    if args.is_empty() {
        return String::new();
    }
    std::iter::once("IgnoreUnknown=1".to_string())
        .chain(args.iter().map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(";")
}

/// [`teardown`] for a pod whose stage1 died (its `gc`): nothing to do,
/// and no lock taken, for a pod that had no networks and no ports.
pub fn teardown_leftovers(pod_dir: &Path, pod: &PodManifest) -> Result<(), NetError> {
    if pod.networks.is_empty() && pod.ports.is_empty() {
        return Ok(());
    }
    teardown(pod_dir, pod)
}

fn load_conf(pod_dir: &Path, network: &str) -> Result<NetConf, NetError> {
    let path = pod_dir.join(net_conf(network));
    let data = std::fs::read(&path).map_err(|source| NetError::ReadConf {
        network: network.to_string(),
        path: path.clone(),
        source,
    })?;
    Ok(NetConf::parse(&data, &path)?)
}

/// What the plugins of attachment `att` of `pod` run with.
fn invocation<'a>(pod: &'a PodManifest, netns: &'a Path, att: &'a Attachment) -> Invocation<'a> {
    Invocation {
        container_id: &pod.uuid,
        netns,
        ifname: &att.ifname,
        args: cni_args(&att.args),
        plugin_dirs: &pod.cni_path,
    }
}

/// A plugin's failure on attachment `att`, naming its network.
fn plugin_err(att: &Attachment) -> impl FnOnce(PluginError) -> NetError + '_ {
    move |source| NetError::Plugin {
        network: att.network.clone(),
        source,
    }
}

/// Ports go through the pod's first network only.
fn runtime_for(pod: &PodManifest, index: usize) -> RuntimeConfig<'_> {
    RuntimeConfig {
        ports: if index == 0 { &pod.ports } else { &[] },
    }
}

/// The store's plugin lock, held while it lives; none for a pod directory
/// outside a store.
fn cni_lock(pod_dir: &Path) -> Result<Option<FileLock>, NetError> {
    let Some(store) = store_of_pod(pod_dir) else {
        return Ok(None);
    };
    let dir = store.join(STORE_NET_DIR);
    std::fs::create_dir_all(&dir).map_err(record_err("lock"))?;
    FileLock::acquire(&dir.join("cni.lock"), LockMode::Exclusive)
        .map(Some)
        .map_err(record_err("lock"))
}

/// Sets up every network of `pod` (run from the host's namespace, in
/// `pod_dir`); on failure nothing is left.
pub fn setup(pod_dir: &Path, pod: &PodManifest) -> Result<Attached, NetError> {
    let started = std::time::Instant::now();
    let _lock = cni_lock(pod_dir)?;
    let path = netns::path_for(&pod.uuid);
    let mut record = Record {
        netns: path.clone(),
        attachments: pod
            .networks
            .iter()
            .enumerate()
            .map(|(i, req)| Attachment {
                network: req.name.clone(),
                ifname: ifname(i, req.interface.as_deref()),
                args: req.args.clone(),
                result: None,
            })
            .collect(),
    };
    // One sync, before anything exists to undo.
    record.save(pod_dir).map_err(record_err("write"))?;
    let attached = (|| {
        let fd = netns::create(&path)?;
        let mut results = Vec::new();
        for i in 0..record.attachments.len() {
            let att = &record.attachments[i];
            let conf = load_conf(pod_dir, &att.network)?;
            let inv = invocation(pod, &path, att);
            let result = chain::add(&conf, &inv, &runtime_for(pod, i)).map_err(plugin_err(att))?;
            results.push(summarise(&att.network, &att.ifname, &result));
            record.attachments[i].result = Some(result);
        }
        record.update(pod_dir).map_err(record_err("write"))?;
        let info = NetworkResult::list_to_json(&results);
        rukt_sys::atomic::write_replace(&pod_dir.join(NET_INFO_FILE), &info)
            .map_err(record_err("write"))?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "networks up"
        );
        Ok(Attached {
            netns: fd,
            path: path.clone(),
            results,
        })
    })();
    if attached.is_err()
        && let Err(e) = teardown_locked(pod_dir, pod)
    {
        tracing::warn!("undoing the pod's networks: {e}");
    }
    attached
}

/// CNI CHECK of every attachment of a running `pod` (from the host's
/// namespace): the plugins verify that what ADD made is still there. Lists
/// older than CNI 0.4.0 have no CHECK and pass.
pub fn check(pod_dir: &Path, pod: &PodManifest) -> Result<(), NetError> {
    let _lock = cni_lock(pod_dir)?;
    let Some(record) = Record::load(pod_dir).map_err(record_err("read"))? else {
        return Ok(());
    };
    for (i, att) in record.attachments.iter().enumerate() {
        let conf = load_conf(pod_dir, &att.network)?;
        let (Some(result), true) = (&att.result, conf.has_prev_result_on_del()) else {
            continue;
        };
        let inv = invocation(pod, &record.netns, att);
        chain::check(&conf, &inv, &runtime_for(pod, i), result).map_err(plugin_err(att))?;
    }
    Ok(())
}

/// Undoes what [`setup`] did, as far as `pod_dir`'s record says; safe to
/// call again, and when nothing was set up.
pub fn teardown(pod_dir: &Path, pod: &PodManifest) -> Result<(), NetError> {
    let started = std::time::Instant::now();
    let _lock = cni_lock(pod_dir)?;
    let done = teardown_locked(pod_dir, pod);
    tracing::debug!(
        elapsed_us = started.elapsed().as_micros() as u64,
        "networks down"
    );
    done
}

/// [`teardown`] under the plugin lock the caller holds.
fn teardown_locked(pod_dir: &Path, pod: &PodManifest) -> Result<(), NetError> {
    let record = Record::load(pod_dir).map_err(record_err("read"))?;
    let mut first: Option<NetError> = None;
    let netns_path = record
        .as_ref()
        .map_or_else(|| netns::path_for(&pod.uuid), |r| r.netns.clone());
    // Gone already (a reboot emptied /run): the plugins cannot see what to
    // undo inside it, and some leave rules behind (`sweep`).
    let vanished =
        record.as_ref().is_some_and(|r| !r.attachments.is_empty()) && !netns_path.exists();
    tracing::debug!(vanished, netns = %netns_path.display(), "tearing down the pod's networks");
    for (i, att) in record
        .iter()
        .flat_map(|r| r.attachments.iter().enumerate().rev())
    {
        let undo = || -> Result<(), NetError> {
            let conf = load_conf(pod_dir, &att.network)?;
            let inv = invocation(pod, &netns_path, att);
            chain::del(&conf, &inv, &runtime_for(pod, i), att.result.as_ref())
                .map_err(plugin_err(att))
        };
        if let Err(e) = undo() {
            first.get_or_insert(e);
        }
    }
    if vanished && let Err(e) = crate::sweep::sweep(&pod.uuid) {
        first.get_or_insert(e.into());
    }
    if let Err(e) = netns::remove(&netns_path) {
        first.get_or_insert(e.into());
    }
    if let Some(store) = store_of_pod(pod_dir)
        && let Err(e) = crate::ports::release(store, &pod.uuid)
    {
        first.get_or_insert(record_err("release the host ports of")(e));
    }
    match first {
        Some(e) => Err(e),
        None => {
            let _ = std::fs::remove_file(pod_dir.join(NET_INFO_FILE));
            Record::remove(pod_dir).map_err(record_err("remove"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_args() {
        assert_eq!(ifname(0, None), "eth0");
        assert_eq!(ifname(1, Some("net1")), "net1");
        assert_eq!(cni_args(&BTreeMap::new()), "");
        let args = [
            ("IP".to_string(), "10.1.2.3".to_string()),
            ("K".into(), "V".into()),
        ]
        .into();
        assert_eq!(cni_args(&args), "IgnoreUnknown=1;IP=10.1.2.3;K=V");
    }
}
