//! The pod's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`: written
//! once per pod under `etc/` in its run directory ([`crate::rundir`]) and
//! bind-mounted into every app, as
//! Podman does; what they say is `rukt_net::podfiles`'s (shared with the
//! kvm engine). The host's own files (`--dns=host`, `--hosts-entry=host`)
//! are bound read-only instead; `--dns=none` leaves the image's.

use std::path::{Path, PathBuf};

use rukt_contract::{NetworkResult, PodManifest};
use rukt_net::dns::Source;
use rukt_net::podfiles;

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
    let (files, warning) = podfiles::render(pod, hostname, results);
    let mut out = Vec::new();
    for (name, source) in files {
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

#[cfg(test)]
mod tests {
    use super::*;

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
