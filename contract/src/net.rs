//! Version 2: the networks a pod asks for (the manifest's `networks`, CNI
//! style), the host ports it publishes (`ports`), its resolver and hosts
//! settings (`dns`), and what the stage1 got for its networks
//! ([`NET_INFO_FILE`]). stage0 resolves each network's configuration into
//! the pod directory ([`crate::layout::net_conf`]); the CNI work itself is
//! the `rukt-net` crate's (`docs/networking.md`).

use std::collections::BTreeMap;
use std::net::IpAddr;

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

/// A transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// Its name, as CNI's `portMappings` and `-p 80/udp` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One host port forwarded to the pod (`--port`, `-p`), resolved by stage0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// The port on the host.
    pub host_port: u16,
    /// The port the app listens on inside the pod.
    pub pod_port: u16,
    /// Only this host address forwards, if set; every local address if not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
}

/// The pod's resolver and hosts settings (`--dns`, `--dns-search`,
/// `--dns-opt`, `--dns-domain`, `--hosts-entry`). Precedence for
/// `resolv.conf`: these flags, then the first network result with DNS, then
/// the host's file with loopback resolvers left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSettings {
    /// `--dns=IP`: name servers replacing any other source's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<IpAddr>,
    /// `--dns=host`: the host's `/etc/resolv.conf`, bind-mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host: bool,
    /// `--dns=none`: no `resolv.conf` from rukt; the image's stays.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub none: bool,
    /// `--dns-search`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// `--dns-opt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// `--dns-domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `--hosts-entry=IP=NAME`: extra `/etc/hosts` lines (address, name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts_entries: Vec<(IpAddr, String)>,
    /// `--hosts-entry=host`: the host's `/etc/hosts`, bind-mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosts_from_host: bool,
}

impl DnsSettings {
    /// Whether nothing was asked.
    pub fn is_empty(&self) -> bool {
        *self == DnsSettings::default()
    }
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
    fn ports_and_dns_round_trip() {
        let p: PortMapping = serde_json::from_str(r#"{"host_port":8080,"pod_port":80}"#).unwrap();
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!(p.host_ip, None);
        let dns = DnsSettings {
            nameservers: vec!["10.0.0.2".parse().unwrap()],
            hosts_entries: vec![("10.0.0.3".parse().unwrap(), "db".into())],
            ..DnsSettings::default()
        };
        let json = serde_json::to_string(&dns).unwrap();
        assert_eq!(serde_json::from_str::<DnsSettings>(&json).unwrap(), dns);
        assert!(DnsSettings::default().is_empty() && !dns.is_empty());
        assert_eq!(
            serde_json::to_string(&DnsSettings::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn request_defaults() {
        let r: NetworkRequest = serde_json::from_str(r#"{"name":"n"}"#).unwrap();
        assert!(r.args.is_empty() && r.interface.is_none());
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"name":"n"}"#);
    }
}
