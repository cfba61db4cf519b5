//! The pod's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`: written
//! once per pod under `stage1/etc/` and bind-mounted into every app, as
//! Podman does. With `--net=host` the host's resolver configuration and
//! hosts are carried over; a pod with networks of its own gets what
//! `rukt_net::dns` makes of the `--dns*` flags, the network results and the
//! host's file; `--net=none` has only loopback. `--dns=host` and
//! `--hosts-entry=host` bind the host's own file read-only instead;
//! `--dns=none` leaves the image's.

use std::path::{Path, PathBuf};

use rukt_contract::{NetMode, NetworkResult, PodManifest};
use rukt_net::dns::{self, Source};

/// One file to bind into every app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcFile {
    /// The file on the host.
    pub source: PathBuf,
    /// Its path inside the app.
    pub target: String,
    /// Bound read-only (a host file).
    pub read_only: bool,
}

/// Writes the files into `dir` (created) for `pod`, whose networks gave
/// `results`; returns what to bind, and a warning for the user, if any.
pub fn write(
    dir: &Path,
    pod: &PodManifest,
    hostname: &str,
    results: &[NetworkResult],
) -> std::io::Result<(Vec<EtcFile>, Option<String>)> {
    std::fs::create_dir_all(dir)?;
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
    let mut out = Vec::new();
    for (name, source) in [
        ("hostname", Source::Text(format!("{hostname}\n"))),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        let target = format!("/etc/{name}");
        match source {
            Source::Text(text) => {
                let path = dir.join(name);
                std::fs::write(&path, text)?;
                out.push(EtcFile {
                    source: path,
                    target,
                    read_only: false,
                });
            }
            Source::Host(path) => out.push(EtcFile {
                source: path,
                target,
                read_only: true,
            }),
            Source::Image => {}
        }
    }
    Ok((out, warning))
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

    fn manifest() -> PodManifest {
        let json = br#"{"interface_version":2,"uuid":"u","stage1":{"flavor":"nspawn","path":"/x","interface_versions":[2]},
            "apps":[],"created":"now"}"#;
        PodManifest::from_json(json).unwrap()
    }

    #[test]
    fn loopback_only_pods_get_three_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (files, warning) = write(tmp.path(), &manifest(), "pod", &[]).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(warning, None);
        assert_eq!(std::fs::read_to_string(&files[0].source).unwrap(), "pod\n");
        let hosts = std::fs::read_to_string(&files[1].source).unwrap();
        assert!(hosts.contains("\tpod\n"), "{hosts}");
        assert_eq!(files[2].target, "/etc/resolv.conf");
        assert!(files.iter().all(|f| !f.read_only));
    }

    #[test]
    fn host_files_and_the_image_s() {
        let tmp = tempfile::tempdir().unwrap();
        let mut m = manifest();
        m.dns.host = true;
        m.dns.hosts_from_host = true;
        let (files, _) = write(tmp.path(), &m, "pod", &[]).unwrap();
        assert_eq!(files[1].source, Path::new("/etc/hosts"));
        assert_eq!(files[2].source, Path::new("/etc/resolv.conf"));
        assert!(files[1].read_only && files[2].read_only);
        m.dns.host = false;
        m.dns.none = true;
        let (files, _) = write(tmp.path(), &m, "pod", &[]).unwrap();
        assert_eq!(files.len(), 2, "no resolv.conf: the image's stays");
    }
}
