//! Networks that cannot be had: a host port another pod publishes, a missing plugin, a
//! broken configuration list, an exhausted address range. Each is a clear error, and leaves
//! no pod (where it is known before the pod exists), lease, veth, rule or cgroup.

use rukt_tests::nethost::TestHost;

use super::{add_network, leases, store, web_pod};

fn run_fails(pods: &rukt_tests::pods::PodStore, flags: &[&str], want: &str) {
    let before = pods.pod_dirs();
    let mut args = vec!["run", "--stage1=nspawn"];
    args.extend_from_slice(flags);
    args.extend([pods.image.as_str(), "--exec", "/bin/true"]);
    let out = pods.run(&args);
    assert!(!out.success(), "{flags:?} succeeded:\n{out}");
    assert!(
        out.stderr.contains(want),
        "{flags:?}: want {want:?} in\n{out}"
    );
    assert_eq!(pods.pod_dirs(), before, "{flags:?} left a pod");
}

#[test]
fn taken_ports_missing_plugins_and_broken_lists_leave_nothing() {
    let host = TestHost::new();
    let pods = store(&host);
    let web = web_pod(&pods, &["-p", "8082:8080"], 8080);
    let (veths, rules, held) = (host.veths(), host.cni_rules(), leases(&pods));
    run_fails(
        &pods,
        &["-p", "8082:80"],
        &format!(
            "host port 8082/tcp is already published by pod {}",
            web.uuid
        ),
    );
    add_network(
        &pods,
        "20-missing.conflist",
        r#"{"cniVersion":"1.0.0","name":"missing","plugins":[{"type":"no-such-plugin"}]}"#,
    );
    run_fails(
        &pods,
        &["--net=missing"],
        "network missing: CNI plugin \"no-such-plugin\" not found in /usr/lib/cni",
    );
    run_fails(&pods, &["--net=nowhere"], "no network named \"nowhere\"");
    add_network(&pods, "broken.conflist", "{ \"cniVersion\": ");
    run_fails(
        &pods,
        &["--net=broken"],
        "broken.conflist: not a JSON object",
    );
    assert_eq!(host.veths(), veths);
    assert_eq!(host.cni_rules(), rules);
    assert_eq!(leases(&pods), held);
}

#[test]
fn an_exhausted_range_fails_the_pod_and_undoes_its_network() {
    let host = TestHost::new();
    let pods = store(&host);
    add_network(
        &pods,
        "30-tiny.conflist",
        &r#"{"cniVersion":"1.0.0","name":"tiny","plugins":[{"type":"bridge","bridge":"rukt-t2",
            "isGateway":true,"ipMasq":true,
            "ipam":{"type":"host-local","dataDir":"DATA","ranges":[[{"subnet":"10.215.3.0/24",
            "rangeStart":"10.215.3.10","rangeEnd":"10.215.3.10"}]]}},
            {"type":"portmap","capabilities":{"portMappings":true}}]}"#
            .replace("DATA", &pods.store().join("net/ipam").display().to_string()),
    );
    let first = web_pod(&pods, &["--net=tiny"], 8080);
    let (veths, rules) = (host.veths(), host.cni_rules());
    assert_eq!(leases(&pods).len(), 1);
    let before = pods.pod_dirs();
    let out = pods.run(&[
        "run",
        "--stage1=nspawn",
        "--net=tiny",
        "-p",
        "8090:80",
        pods.image.as_str(),
        "--exec",
        "/bin/true",
    ]);
    assert!(!out.success(), "{out}");
    assert!(
        out.stderr.contains("network tiny") && out.stderr.contains("no IP addresses available"),
        "{out}"
    );
    assert_eq!(leases(&pods).len(), 1, "the failed pod kept a lease");
    assert_eq!(host.veths(), veths, "the failed pod left a veth");
    assert_eq!(host.cni_rules(), rules, "the failed pod left a rule");
    // Its cgroup is made before its networks: gone with them.
    let failed: Vec<_> = pods
        .pod_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let uuid = failed[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for hierarchy in ["memory/", "pids/", ""] {
        let cgroup = std::path::Path::new("/sys/fs/cgroup")
            .join(format!("{hierarchy}rukt"))
            .join(&uuid);
        assert!(!cgroup.exists(), "the failed pod left {}", cgroup.display());
    }
    drop(first);
}

#[test]
fn check_network_finds_a_link_taken_away() {
    let host = TestHost::new();
    let pods = store(&host);
    let web = web_pod(&pods, &[], 8080);
    let ok = pods.ok(&["status", "--check-network", &web.uuid]);
    assert!(ok.contains("network-check=ok"), "{ok}");
    let veths = host.veths();
    assert_eq!(veths.len(), 1, "{veths:?}");
    host.sh_ok(&format!("ip link del {}", veths[0]));
    let out = pods.run(&["status", "--check-network", &web.uuid]);
    assert!(
        !out.success(),
        "CHECK passed without the pod's link:\n{out}"
    );
    assert!(
        out.stderr.contains("do not pass CNI CHECK") && out.stderr.contains("network default"),
        "{out}"
    );
}

#[test]
fn fly_refuses_networks_of_its_own() {
    let host = TestHost::new();
    let pods = store(&host);
    for flags in [
        &["--net=default"][..],
        &["--net=none"],
        &["-p", "8085:80", "--net=host"],
    ] {
        let mut args = vec!["run", "--stage1=fly"];
        args.extend_from_slice(flags);
        args.extend([pods.image.as_str(), "--exec", "/bin/true"]);
        let out = pods.run(&args);
        assert_eq!(out.code(), Some(2), "{flags:?}:\n{out}");
        assert!(
            out.stderr.contains("fly"),
            "{flags:?}: the engine is not named:\n{out}"
        );
    }
}
