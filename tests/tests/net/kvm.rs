//! kvm pods on CNI networks: the VM's NIC is plumbed to the pod's link (tap + tc redirect), so
//! a server in a VM is reached at the pod's address, through a published port from the host's
//! address and from 127.0.0.1, and a VM reaches an nspawn pod on the same bridge; the guest
//! has the same `/etc/resolv.conf` as an nspawn pod and `/etc/hosts` naming it on its address;
//! the networks are detached when the VM ends, and by `gc` after a `kill -9` of its supervisor. TCG boots are slow: two tests, their VMs
//! taking turns with the other kvm tests'.

use rukt_tests::nethost::TestHost;
use rukt_tests::pods::PodStore;

use super::{client, net_layer, pod_ip, store, web_pod};
use crate::pods::kvm::one_vm_at_a_time;

const TCG: &str = "--kvm-accel=tcg";

/// [`store`] for `--stage1=kvm`.
fn kvm_store(host: &TestHost) -> PodStore {
    let mut pods = PodStore::with_stage1("kvm", vec![net_layer()]);
    pods.set_netns(&host.path());
    let harness_default = pods.rukt().config_dir().join("net.d/99-default.conflist");
    std::fs::remove_file(harness_default).expect("the harness's default network");
    pods
}

#[test]
fn a_kvm_pod_serves_its_address_and_published_ports() {
    let _vm = one_vm_at_a_time();
    let host = TestHost::new();
    let pods = kvm_store(&host);
    let mut web = web_pod(&pods, &[TCG, "-p", "8082:8080"], 8080);
    let ip = pod_ip(&pods, &web.uuid);
    assert!(ip.starts_with("172.16.28."), "default network address {ip}");
    for url in [
        format!("http://{ip}:8080/"),
        format!("http://{}:8082/", host.uplink_ip),
        "http://127.0.0.1:8082/".to_string(),
    ] {
        let got = host.sh_ok(&format!("busybox timeout 10 busybox wget -q -O - {url}"));
        assert_eq!(got, "hello from the pod\n", "{url}");
    }
    // The supervisor dies with its VM: gc detaches what it left.
    super::kill_and_collect(&host, &pods, &mut web, &[]);
}

#[test]
fn a_kvm_pod_reaches_an_nspawn_pod_and_gets_the_same_etc_files() {
    let host = TestHost::new();
    let pods = store(&host);
    let web = web_pod(&pods, &[], 8080);
    let web_ip = pod_ip(&pods, &web.uuid);
    let dns = [
        "--dns=192.0.2.53",
        "--dns-search=pods.test",
        "--hosts-entry=192.0.2.9=db.test",
    ];
    let nspawn_resolv = client(&pods, &dns, "cat /etc/resolv.conf");
    let script = format!(
        "timeout 10 wget -q -O - http://{web_ip}:8080/; ip route; \
         ip -4 -o addr show eth0 | grep -o 'inet [0-9.]*'; cat /etc/hosts; echo ---; \
         cat /etc/resolv.conf"
    );
    let (veths, rules) = (host.veths(), host.cni_rules());
    let _vm = one_vm_at_a_time();
    let out = pods.run(&[
        "run",
        "--stage1=kvm",
        TCG,
        "--hostname=vm",
        dns[0],
        dns[1],
        dns[2],
        pods.image.as_str(),
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        &script,
    ]);
    assert!(out.success(), "{out}");
    let (head, resolv) = out.stdout.split_once("---\n").expect("both parts");
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "hello from the pod", "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("default via 172.16.28.1 ")),
        "no default route through the bridge:\n{out}"
    );
    let own_ip = lines
        .iter()
        .find_map(|l| l.strip_prefix("inet "))
        .unwrap_or_else(|| panic!("no address:\n{out}"));
    assert!(
        own_ip.starts_with("172.16.28.") && own_ip != web_ip,
        "{out}"
    );
    assert!(
        head.contains(&format!("\n{own_ip}\tvm\n")),
        "hosts does not name the pod on its address:\n{out}"
    );
    assert!(
        head.contains("\n192.0.2.9\tdb.test\n"),
        "no --hosts-entry:\n{out}"
    );
    assert!(resolv.contains("nameserver 192.0.2.53\n"), "{out}");
    assert_eq!(
        resolv, nspawn_resolv,
        "kvm's resolv.conf differs from nspawn's"
    );
    // The VM's end detached its network.
    assert_eq!(host.veths(), veths, "the kvm pod's veth is left");
    assert_eq!(host.cni_rules(), rules, "the kvm pod's rules are left");
}
