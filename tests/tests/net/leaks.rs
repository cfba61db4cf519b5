//! Nothing outlives a pod's network: after `kill -9` of the stage1, `rukt gc` frees the
//! lease, the veth, the iptables rules and the namespace; 50 networked pods started and
//! removed, 10 at a time, leave the counts where they were.

use rukt_tests::nethost::TestHost;
use rukt_tests::pods::send_signal;

use super::{leases, store, web_pod};

#[test]
fn gc_after_kill_9_frees_everything() {
    let host = TestHost::new();
    let pods = store(&host);
    let rules_before = host.cni_rules();
    let mut web = web_pod(&pods, &["-p", "8083:8080"], 8080);
    assert_eq!(leases(&pods).len(), 1);
    assert_eq!(host.veths().len(), 1);
    assert!(
        host.cni_rules().len() > rules_before.len(),
        "no portmap rules?"
    );
    super::kill_and_collect(&host, &pods, &mut web, &rules_before);
    assert!(
        !pods.store().join("net/ports/tcp-8083").exists(),
        "port still reserved"
    );
}

#[test]
fn gc_after_a_reboot_emptied_run_frees_leases_and_rules() {
    let host = TestHost::new();
    let pods = store(&host);
    let rules_before = host.cni_rules();
    let mut web = web_pod(&pods, &["-p", "8084:8080"], 8080);
    send_signal(web.pid(), "KILL");
    web.wait();
    // What a reboot does to /run: the namespace is gone (and the veth with it), the leases
    // and the rules in the host's namespace are not.
    let ns = format!("/run/netns/rukt-{}", web.uuid);
    let out = std::process::Command::new("umount")
        .arg(&ns)
        .status()
        .unwrap();
    assert!(out.success());
    std::fs::remove_file(&ns).unwrap();
    assert_eq!(leases(&pods).len(), 1);
    assert!(host.cni_rules().len() > rules_before.len());
    pods.ok(&["gc", "--grace-period=0s"]);
    assert_eq!(
        leases(&pods),
        Vec::<std::path::PathBuf>::new(),
        "leases left"
    );
    assert_eq!(host.cni_rules(), rules_before, "rules left");
    assert_eq!(host.veths(), Vec::<String>::new());
}

#[test]
fn fifty_pods_ten_at_a_time_leak_nothing() {
    let host = TestHost::new();
    let pods = store(&host);
    // The first pod makes the bridge and the masquerade chains once; count after it.
    pods.ok(&[
        "run",
        "--stage1=nspawn",
        pods.image.as_str(),
        "--exec",
        "/bin/true",
    ]);
    let (links, rules) = (host.links(), host.cni_rules());
    for round in 0..5 {
        let children: Vec<_> = (0..10)
            .map(|i| {
                let port = (9100 + round * 10 + i).to_string();
                let mut cmd = pods.rukt().command(&[
                    "run",
                    "--stage1=nspawn",
                    "-p",
                    &format!("{port}:80"),
                    pods.image.as_str(),
                    "--exec",
                    "/bin/true",
                ]);
                cmd.stdout(std::process::Stdio::null());
                cmd.spawn().unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    pods.ok(&["gc", "--grace-period=0s"]);
    assert_eq!(leases(&pods).len(), 0);
    assert_eq!(host.links(), links, "links leaked");
    assert_eq!(host.cni_rules(), rules, "rules leaked");
    assert!(pods.pod_dirs().is_empty());
}
