//! The pod's `/etc/resolv.conf` and `/etc/hosts` for a pod with networks
//! of its own. `resolv.conf`: the `--dns*` flags first, then the first
//! network result with DNS, then the host's file — without its loopback
//! name servers, which cannot work from another network namespace (a lone
//! systemd-resolved stub, `127.0.0.53`, is replaced by the upstream servers
//! in `/run/systemd/resolve/resolv.conf`, as podman does). When nothing
//! usable is left the file has no `nameserver` and the caller warns: rukt
//! never invents public resolvers. `hosts`: localhost, the pod's hostname
//! on its first address, and every `--hosts-entry`.

use std::net::IpAddr;
use std::path::PathBuf;

use rukt_contract::{DnsSettings, NetworkResult};

/// The host's resolver file.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of upstream servers.
pub const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
/// systemd-resolved's stub address.
pub const RESOLVED_STUB: &str = "127.0.0.53";
/// The host's hosts file.
pub const HOST_HOSTS: &str = "/etc/hosts";

/// What a pod file should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// This text, written by the stage1.
    Text(String),
    /// The host's file, bind-mounted read-only.
    Host(PathBuf),
    /// Nothing from rukt: the image's own file stays.
    Image,
}

/// `resolv.conf` contents, parsed loosely.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Resolv {
    nameservers: Vec<String>,
    search: Vec<String>,
    options: Vec<String>,
}

fn parse(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => r.nameservers.extend(w.next().map(str::to_string)),
            Some("search") | Some("domain") => r.search.extend(w.map(str::to_string)),
            Some("options") => r.options.extend(w.map(str::to_string)),
            _ => {}
        }
    }
    r
}

/// Whether `s` is a loopback address (`127.0.0.53`, `::1`).
pub fn is_loopback(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The pod's `resolv.conf` from `settings`, the networks' `results`, the
/// host's file and (read only when needed) resolved's upstream file. The
/// second value is a warning for the user, if any.
pub fn resolv_conf(
    settings: &DnsSettings,
    results: &[NetworkResult],
    host: &str,
    upstream: impl FnOnce() -> Option<String>,
) -> (Source, Option<String>) {
    if settings.none {
        return (Source::Image, None);
    }
    if settings.host {
        return (Source::Host(HOST_RESOLV_CONF.into()), None);
    }
    let from_cni = results.iter().find(|r| !r.dns.nameservers.is_empty());
    let mut host_conf = parse(host);
    if host_conf.nameservers.iter().all(|s| is_loopback(s))
        && host_conf.nameservers.iter().any(|s| s == RESOLVED_STUB)
        && let Some(up) = upstream()
    {
        let up = parse(&up);
        host_conf.nameservers = up.nameservers;
    }
    host_conf.nameservers.retain(|s| !is_loopback(s));
    let mut r = match from_cni {
        Some(n) => Resolv {
            nameservers: n.dns.nameservers.clone(),
            search: n.dns.search.clone(),
            options: n.dns.options.clone(),
        },
        None => host_conf,
    };
    if !settings.nameservers.is_empty() {
        r.nameservers = settings.nameservers.iter().map(IpAddr::to_string).collect();
    }
    if !settings.search.is_empty() {
        r.search = settings.search.clone();
    }
    if let Some(d) = &settings.domain {
        r.search.retain(|s| s != d);
        r.search.insert(0, d.clone());
    }
    if !settings.options.is_empty() {
        r.options = settings.options.clone();
    }
    let warning = r.nameservers.is_empty().then(|| {
        "no usable name server for the pod (the host's are on loopback or missing); \
         give one with --dns"
            .to_string()
    });
    let mut text = String::from("# written by rukt\n");
    if let Some(d) = &settings.domain {
        text.push_str(&format!("domain {d}\n"));
    }
    for s in &r.nameservers {
        text.push_str(&format!("nameserver {s}\n"));
    }
    if !r.search.is_empty() {
        text.push_str(&format!("search {}\n", r.search.join(" ")));
    }
    if !r.options.is_empty() {
        text.push_str(&format!("options {}\n", r.options.join(" ")));
    }
    (Source::Text(text), warning)
}

/// The pod's `hosts`: the host's with `--hosts-entry=host`, else localhost,
/// `hostname` on `address` (127.0.1.1 without one) and the entries.
pub fn hosts(settings: &DnsSettings, hostname: &str, address: Option<&str>) -> Source {
    if settings.hosts_from_host {
        return Source::Host(HOST_HOSTS.into());
    }
    let mut text =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    text.push_str(&format!("{}\t{hostname}\n", address.unwrap_or("127.0.1.1")));
    for (ip, name) in &settings.hosts_entries {
        text.push_str(&format!("{ip}\t{name}\n"));
    }
    Source::Text(text)
}

/// The address part of `10.1.0.5/24`.
pub fn address_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rukt_contract::Dns;

    fn text(s: Source) -> String {
        match s {
            Source::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    fn result_with_dns(servers: &[&str]) -> NetworkResult {
        NetworkResult {
            name: "n".into(),
            interface: "eth0".into(),
            ips: vec!["10.1.0.5/24".into()],
            gateway: None,
            mac: None,
            dns: Dns {
                nameservers: servers.iter().map(|s| s.to_string()).collect(),
                search: vec!["cni.test".into()],
                options: vec![],
            },
        }
    }

    const HOST: &str = "nameserver 10.255.255.53\nsearch host.test\noptions ndots:2\n";

    #[test]
    fn host_file_without_loopback() {
        let (s, w) = resolv_conf(&DnsSettings::default(), &[], HOST, || None);
        assert_eq!(
            text(s),
            "# written by rukt\nnameserver 10.255.255.53\nsearch host.test\noptions ndots:2\n"
        );
        assert_eq!(w, None);
        let mixed = "nameserver 127.0.0.1\nnameserver 10.0.0.9\n";
        let (s, _) = resolv_conf(&DnsSettings::default(), &[], mixed, || None);
        assert_eq!(text(s), "# written by rukt\nnameserver 10.0.0.9\n");
    }

    #[test]
    fn resolved_stub_uses_the_upstream_file() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let (s, w) = resolv_conf(&DnsSettings::default(), &[], stub, || {
            Some("nameserver 192.0.2.1\nnameserver 192.0.2.2\n".into())
        });
        let t = text(s);
        assert!(
            t.contains("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"),
            "{t}"
        );
        assert!(!t.contains("127.0.0.53") && t.contains("search lan"), "{t}");
        assert_eq!(w, None);
        // No upstream file: no name server, and a warning.
        let (s, w) = resolv_conf(&DnsSettings::default(), &[], stub, || None);
        assert!(!text(s).contains("nameserver"));
        assert!(w.unwrap().contains("--dns"));
    }

    #[test]
    fn precedence_flags_then_cni_then_host() {
        let cni = [result_with_dns(&["10.9.0.1"])];
        let (s, _) = resolv_conf(&DnsSettings::default(), &cni, HOST, || None);
        assert_eq!(
            text(s),
            "# written by rukt\nnameserver 10.9.0.1\nsearch cni.test\n"
        );
        let flags = DnsSettings {
            nameservers: vec!["192.0.2.7".parse().unwrap()],
            search: vec!["a.test".into()],
            options: vec!["ndots:1".into()],
            domain: Some("pod.test".into()),
            ..DnsSettings::default()
        };
        let (s, _) = resolv_conf(&flags, &cni, HOST, || None);
        assert_eq!(
            text(s),
            "# written by rukt\ndomain pod.test\nnameserver 192.0.2.7\nsearch pod.test a.test\noptions ndots:1\n"
        );
        let host = DnsSettings {
            host: true,
            ..DnsSettings::default()
        };
        assert_eq!(
            resolv_conf(&host, &cni, HOST, || None).0,
            Source::Host(HOST_RESOLV_CONF.into())
        );
        let none = DnsSettings {
            none: true,
            ..DnsSettings::default()
        };
        assert_eq!(resolv_conf(&none, &cni, HOST, || None).0, Source::Image);
    }

    #[test]
    fn hosts_files() {
        let s = DnsSettings {
            hosts_entries: vec![("10.0.0.3".parse().unwrap(), "db".into())],
            ..DnsSettings::default()
        };
        let t = text(hosts(&s, "web", Some("172.16.28.5")));
        assert!(t.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(t.contains("172.16.28.5\tweb\n10.0.0.3\tdb\n"), "{t}");
        assert!(text(hosts(&DnsSettings::default(), "web", None)).contains("127.0.1.1\tweb\n"));
        let h = DnsSettings {
            hosts_from_host: true,
            ..DnsSettings::default()
        };
        assert_eq!(hosts(&h, "web", None), Source::Host(HOST_HOSTS.into()));
        assert_eq!(address_of("10.1.0.5/24"), "10.1.0.5");
    }
}
