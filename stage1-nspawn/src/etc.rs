//! The pod's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`: written
//! once per pod under `stage1/etc/` and bind-mounted into every app, as
//! Podman does. With `--net=host` the host's resolver configuration and
//! hosts are carried over; with `--net=none` there is only loopback.

use std::path::{Path, PathBuf};

use rukt_contract::NetMode;

/// The files, by their path inside an app.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Writes the files into `dir` (created); returns `(source, target)` pairs.
pub fn write(dir: &Path, net: NetMode, hostname: &str) -> std::io::Result<Vec<(PathBuf, String)>> {
    std::fs::create_dir_all(dir)?;
    let host_file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let (hosts, resolv) = match net {
        NetMode::Host => (host_file("/etc/hosts"), host_file("/etc/resolv.conf")),
        NetMode::None => (
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string(),
            "# rukt: --net=none, no name servers\n".to_string(),
        ),
    };
    let contents = [
        format!("{hostname}\n"),
        with_hostname(&hosts, hostname),
        resolv,
    ];
    let mut out = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        out.push((path, format!("/etc/{name}")));
    }
    Ok(out)
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

    #[test]
    fn writes_three_files() {
        let tmp = tempfile::tempdir().unwrap();
        let files = write(tmp.path(), NetMode::None, "pod").unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(std::fs::read_to_string(&files[0].0).unwrap(), "pod\n");
        assert!(
            std::fs::read_to_string(&files[1].0)
                .unwrap()
                .contains("\tpod\n")
        );
        assert_eq!(files[2].1, "/etc/resolv.conf");
    }
}
