//! A network namespace standing in for the host in networking tests: made with `ip netns add`
//! under a unique name, loopback up, and an `uplink` veth (this kernel has no dummy links)
//! carrying the "host's"
//! own address on a range that exists only there (`10.213.N.1/24`). rukt runs inside it
//! (`PodStore::set_netns`), so bridges, veths, leases' links and iptables rules land there;
//! dropping it deletes the namespace and everything in it. Counting helpers let tests assert
//! that nothing leaked: links, iptables rules, and the pods' own namespaces in `/run/netns`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::rukt::{Output, run_command};

static NEXT: AtomicU32 = AtomicU32::new(1);

/// The stand-in host.
pub struct TestHost {
    /// Its `ip netns` name.
    pub name: String,
    /// Its address on `uplink`, as a pod sees the host from outside its own links.
    pub uplink_ip: String,
}

impl TestHost {
    /// A fresh stand-in host.
    pub fn new() -> TestHost {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("rukt-test-{}-{n}", std::process::id());
        let uplink_ip = format!("10.213.{}.1", (std::process::id() % 200 + n) % 250);
        let host = TestHost { name, uplink_ip };
        let status = Command::new("ip")
            .args(["netns", "add", &host.name])
            .status()
            .expect("ip netns add");
        assert!(status.success(), "ip netns add {}", host.name);
        host.sh_ok(&format!(
            "ip link set lo up && ip link add uplink type veth peer name uplink-peer \
             && ip addr add {}/24 dev uplink && ip link set uplink up && ip link set uplink-peer up",
            host.uplink_ip
        ));
        host
    }

    /// Its namespace file.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// `sh -c SCRIPT` inside it (network namespace only).
    pub fn sh(&self, script: &str) -> Output {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path().display()))
            .args(["--", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_command(cmd)
    }

    /// [`TestHost::sh`], asserting success; its stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(out.success(), "in {}: {script}\n{out}", self.name);
        out.stdout
    }

    /// Its links other than `lo` and `uplink`, sorted (bridges, veths).
    pub fn links(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sh_ok("ip -o link show | cut -d: -f2 | cut -d@ -f1")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && l != "lo" && !l.starts_with("uplink"))
            .collect();
        v.sort();
        v
    }

    /// Its veths (the pods' host ends).
    pub fn veths(&self) -> Vec<String> {
        self.links()
            .into_iter()
            .filter(|l| l.starts_with("veth"))
            .collect()
    }

    /// Its iptables rules (filter and nat) that CNI plugins add for pods, sorted. Left out:
    /// the shared chains `portmap` sets up once per host and never removes
    /// (`CNI-HOSTPORT-SETMARK`, `CNI-HOSTPORT-MASQ` and the jumps to them and to
    /// `CNI-HOSTPORT-DNAT`), as with every CNI runtime.
    pub fn cni_rules(&self) -> Vec<String> {
        let out = self.sh_ok("iptables-save 2>/dev/null || true");
        let shared = |l: &str| {
            l.starts_with("-A CNI-HOSTPORT-SETMARK ")
                || l.starts_with("-A CNI-HOSTPORT-MASQ ")
                || ((l.starts_with("-A PREROUTING ")
                    || l.starts_with("-A OUTPUT ")
                    || l.starts_with("-A POSTROUTING "))
                    && (l.ends_with("-j CNI-HOSTPORT-DNAT") || l.ends_with("-j CNI-HOSTPORT-MASQ")))
        };
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("-A") && l.contains("CNI") && !shared(l))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The pods' network namespaces `rukt-<uuid>` in `/run/netns` for the pods `uuids`.
pub fn pod_netns_left(uuids: &[String]) -> Vec<String> {
    uuids
        .iter()
        .map(|u| format!("/run/netns/rukt-{u}"))
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}
