//! What a pod's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` are,
//! for every engine alike (nspawn binds them into each app, kvm's guest
//! init writes them in the VM). With `--net=host` the host's resolver
//! configuration and hosts are carried over; a pod with networks of its own
//! gets what [`crate::dns`] makes of the `--dns*` flags, the network
//! results and the host's file; `--net=none` has only loopback.
//! `--dns=host` and `--hosts-entry=host` name the host's own file;
//! `--dns=none` leaves the image's.

use rukt_contract::{NetMode, NetworkResult, PodManifest};

use crate::dns::{self, Source};

/// The pod's three files, as `(name under /etc, contents)`, and a warning
/// for the user, if any.
pub fn render(
    pod: &PodManifest,
    hostname: &str,
    results: &[NetworkResult],
) -> (Vec<(&'static str, Source)>, Option<String>) {
    let host_file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let own_netns = pod.net == NetMode::None;
    let first_ip = results
        .iter()
        .flat_map(|r| r.ips.first())
        .next()
        .map(|ip| dns::address_of(ip));
    let (hosts, (resolv, warning)) = match pod.net {
        NetMode::Host if !pod.dns.hosts_from_host => (
            Source::Text(with_entries(
                &with_hostname(&host_file(dns::HOST_HOSTS), hostname),
                pod,
            )),
            if pod.dns.is_empty() {
                (Source::Text(host_file(dns::HOST_RESOLV_CONF)), None)
            } else {
                resolv_conf(pod, results)
            },
        ),
        _ => (
            dns::hosts(&pod.dns, hostname, first_ip),
            if own_netns
                && results.is_empty()
                && pod.dns.nameservers.is_empty()
                && !pod.dns.host
                && !pod.dns.none
            {
                (
                    Source::Text("# rukt: --net=none, no name servers\n".to_string()),
                    None,
                )
            } else {
                resolv_conf(pod, results)
            },
        ),
    };
    (
        vec![
            ("hostname", Source::Text(format!("{hostname}\n"))),
            ("hosts", hosts),
            ("resolv.conf", resolv),
        ],
        warning,
    )
}

fn resolv_conf(pod: &PodManifest, results: &[NetworkResult]) -> (Source, Option<String>) {
    let host = std::fs::read_to_string(dns::HOST_RESOLV_CONF).unwrap_or_default();
    dns::resolv_conf(&pod.dns, results, &host, || {
        std::fs::read_to_string(dns::RESOLVED_UPSTREAM).ok()
    })
}

/// `hosts` with the pod's `--hosts-entry` lines appended.
fn with_entries(hosts: &str, pod: &PodManifest) -> String {
    let mut out = hosts.to_string();
    for (ip, name) in &pod.dns.hosts_entries {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// `hosts` with a line for `hostname` if it names it nowhere.
fn with_hostname(hosts: &str, hostname: &str) -> String {
    let known = hosts.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("");
        l.split_whitespace().skip(1).any(|n| n == hostname)
    });
    let mut out = hosts.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !known {
        out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_the_pod_once() {
        let h = with_hostname("127.0.0.1 localhost", "web");
        assert_eq!(h, "127.0.0.1 localhost\n127.0.1.1\tweb\n");
        assert_eq!(with_hostname(&h, "web"), h);
    }
}
