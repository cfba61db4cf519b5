//! Version 2: the networks a pod asks for (the manifest's `networks`, CNI
//! style) and what the stage1 got for them ([`NET_INFO_FILE`]). Types only:
//! the networking work fills in both sides; no engine enforces
//! [`crate::Feature::Networks`] yet.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Written by stage1 in the pod directory once the pod's networks are up:
/// a JSON list of [`NetworkResult`], one per requested network, in order.
pub const NET_INFO_FILE: &str = "net-info.json";

/// One network the pod joins (`--net=NAME[:ARGS]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// The network's name (its configuration is the networking work's).
    pub name: String,
    /// Arguments for the network plugin (`CNI_ARGS`-style key/value pairs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// The interface name inside the pod, if the user chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// What one network gave the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkResult {
    /// The network's name, as requested.
    pub name: String,
    /// The interface inside the pod.
    pub interface: String,
    /// Its addresses, in CIDR notation (`10.1.0.5/24`).
    #[serde(default)]
    pub ips: Vec<String>,
    /// The default gateway on this network, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The interface's MAC address, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// DNS settings the network provides.
    #[serde(default)]
    pub dns: Dns,
}

/// DNS settings, as in `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// `nameserver` addresses.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// `search` domains.
    #[serde(default)]
    pub search: Vec<String>,
    /// `options`.
    #[serde(default)]
    pub options: Vec<String>,
}

impl NetworkResult {
    /// Parses the contents of [`NET_INFO_FILE`].
    pub fn list_from_json(data: &[u8]) -> Result<Vec<NetworkResult>, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// The contents of [`NET_INFO_FILE`] for `results`.
    pub fn list_to_json(results: &[NetworkResult]) -> Vec<u8> {
        serde_json::to_vec_pretty(results).expect("network results always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_info_round_trips_and_defaults() {
        let results = vec![NetworkResult {
            name: "default".into(),
            interface: "eth0".into(),
            ips: vec!["10.1.0.5/24".into()],
            gateway: Some("10.1.0.1".into()),
            mac: None,
            dns: Dns {
                nameservers: vec!["10.1.0.1".into()],
                ..Dns::default()
            },
        }];
        let json = NetworkResult::list_to_json(&results);
        assert_eq!(NetworkResult::list_from_json(&json).unwrap(), results);
        let short = br#"[{"name":"n","interface":"eth1"}]"#;
        let parsed = NetworkResult::list_from_json(short).unwrap();
        assert!(parsed[0].ips.is_empty());
        assert_eq!(parsed[0].dns, Dns::default());
    }

    #[test]
    fn request_defaults() {
        let r: NetworkRequest = serde_json::from_str(r#"{"name":"n"}"#).unwrap();
        assert!(r.args.is_empty() && r.interface.is_none());
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"name":"n"}"#);
    }
}
