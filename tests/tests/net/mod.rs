//! Pod networking on the real CNI plugins (Debian's `containernetworking-plugins`), as root:
//! every test makes its own stand-in host (`TestHost`, a network namespace with an `uplink`
//! address) and runs rukt inside it, so bridges, veths, leases and iptables rules never touch
//! the machine's own network. Pods run under nspawn (and kvm, [`kvm`]); the built-in `default`
//! network is used
//! (the harness's loopback-only override is removed).

mod errors;
mod kvm;
mod leaks;
mod reach;

use std::path::PathBuf;

use rukt_tests::image::{Compression, Entry, Layer};
use rukt_tests::nethost::TestHost;
use rukt_tests::pods::{PodStore, RunningPod};

/// Applets the networking tests run in pods.
const NET_APPLETS: &[&str] = &[
    "wget", "httpd", "ip", "nc", "grep", "cut", "head", "kill", "timeout",
];

/// The layer with the networking applets and `/www/index.html`.
pub fn net_layer() -> Layer {
    let mut entries = vec![Entry::dir("bin"), Entry::dir("www")];
    for a in NET_APPLETS {
        entries.push(Entry::symlink(&format!("bin/{a}"), "busybox"));
    }
    entries.push(Entry::file("www/index.html", "hello from the pod\n"));
    Layer::new(Compression::Gzip, entries)
}

/// An nspawn store running inside `host`, with the built-in networks.
pub fn store(host: &TestHost) -> PodStore {
    let mut pods = PodStore::with_stage1("nspawn", vec![net_layer()]);
    pods.set_netns(&host.path());
    std::fs::remove_file(pods.rukt().config_dir().join("net.d/99-default.conflist"))
        .expect("the harness's default network");
    pods
}

/// Writes `<config-dir>/net.d/NAME.conflist`.
pub fn add_network(pods: &PodStore, file: &str, json: &str) {
    std::fs::write(pods.rukt().config_dir().join("net.d").join(file), json).unwrap();
}

/// A pod serving `/www` over HTTP on `port` (busybox httpd), started with `flags`.
pub fn web_pod(pods: &PodStore, flags: &[&str], port: u16) -> RunningPod {
    let script = format!("httpd -p {port} -h /www && echo ready && exec sleep 1000");
    let mut pod = pods.spawn_pod(
        flags,
        &["--name", "web", "--exec", "/bin/sh", "--", "-c", &script],
    );
    pod.wait_line("ready");
    pod
}

/// The pod's first IPv4 address, from `rukt status` (`networks=default:ip4=A,...`).
pub fn pod_ip(pods: &PodStore, uuid: &str) -> String {
    let st = pods.status(uuid);
    let nets = st
        .get("networks")
        .unwrap_or_else(|| panic!("rukt status shows no networks: {st:?}"));
    nets.split(',')
        .find_map(|n| n.split_once(":ip4=").map(|(_, ip)| ip.to_string()))
        .unwrap_or_else(|| panic!("no ip4 in {nets}"))
}

/// `sh -c SCRIPT` in a pod of its own on `flags`'s networks, to completion: its stdout,
/// asserting success.
pub fn client(pods: &PodStore, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--stage1=nspawn"];
    args.extend_from_slice(flags);
    args.extend([
        pods.image.as_str(),
        "--name",
        "client",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    let out = pods.run(&args);
    assert!(out.success(), "client pod failed:\n{out}");
    out.stdout
}

/// The IPAM leases under the store (host-local's files named by address).
pub fn leases(pods: &PodStore) -> Vec<PathBuf> {
    let root = pods.store().join("net/ipam");
    let mut out = Vec::new();
    for net in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(net.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.parse::<std::net::IpAddr>().is_ok() {
                out.push(f.path());
            }
        }
    }
    out
}

/// Kills pod `web`'s stage1 with SIGKILL, runs `rukt gc`, and asserts that nothing of its
/// network is left: no lease, veth, per-pod rule (`rules_before` are the host's own) or
/// network namespace.
pub fn kill_and_collect(
    host: &TestHost,
    pods: &PodStore,
    web: &mut RunningPod,
    rules_before: &[String],
) {
    rukt_tests::pods::send_signal(web.pid(), "KILL");
    web.wait();
    pods.ok(&["gc", "--grace-period=0s"]);
    assert_eq!(leases(pods), Vec::<PathBuf>::new(), "leases left");
    assert_eq!(host.veths(), Vec::<String>::new(), "veths left");
    assert_eq!(host.cni_rules(), rules_before, "rules left");
    assert_eq!(
        rukt_tests::nethost::pod_netns_left(std::slice::from_ref(&web.uuid)),
        Vec::<String>::new(),
        "a network namespace left"
    );
}
