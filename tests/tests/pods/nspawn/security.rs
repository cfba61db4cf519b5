//! The security options CRI's security context needs, as `rukt run` spells them after
//! podman: `--privileged` (every capability and host device, no seccomp filter, nothing
//! masked, `/sys` writable), `--security-opt seccomp=unconfined|PROFILE.json`,
//! `no-new-privileges=false`, `mask=`/`unmask=`, and the pod's `--sysctl`, each checked from
//! inside the app by the inspector and against the host.

use rukt_tests::inspector::host_report;

use super::app::{App, report, run};
use super::{caps, store};

#[test]
fn privileged_apps_get_every_capability_and_device_and_no_filter() {
    let pods = store();
    let app = report(&pods, &[], "priv", &["--privileged"]);
    assert_eq!(app["seccomp"], 0, "a privileged app has no seccomp filter");
    let effective = caps(&app, "effective");
    for cap in [
        "CAP_SYS_ADMIN",
        "CAP_NET_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_MKNOD",
    ] {
        assert!(
            effective.iter().any(|c| c == cap),
            "{cap} missing: {effective:?}"
        );
    }
    let host = host_report();
    for (path, seen) in app["masked"].as_object().expect("masked") {
        if host["masked"][path]["state"] == "content" {
            assert_eq!(
                seen["state"], "content",
                "{path} is masked in a privileged app"
            );
        }
    }
    // A host device beyond the minimal /dev (the machine has a loop device or kvm).
    let devs = app["dev"].to_string();
    assert!(
        devs.contains("loop") || devs.contains("kvm") || devs.contains("vda"),
        "no host device in a privileged app's /dev: {devs}"
    );
    // And the network is manageable, as critest checks it.
    let out = run(
        &pods,
        &[],
        &[
            App::sh("netadm", "busybox brctl addbr rukt-test0 && echo added")
                .with(&["--privileged"]),
        ],
    );
    assert!(out.success() && out.stdout.contains("added"), "{out}");
    let unprivileged = run(
        &pods,
        &[],
        &[App::sh("netadm", "busybox brctl addbr rukt-test0")],
    );
    assert!(!unprivileged.success(), "{unprivileged}");
}

#[test]
fn seccomp_and_no_new_privileges_options() {
    let pods = store();
    let unconfined = report(
        &pods,
        &[],
        "open",
        &["--security-opt", "seccomp=unconfined"],
    );
    assert_eq!(unconfined["seccomp"], 0);
    assert_eq!(unconfined["no_new_privs"], 1);
    let default = report(&pods, &[], "default", &[]);
    assert_eq!(default["seccomp"], 2);
    assert_eq!(default["no_new_privs"], 1);
    // Without no_new_privs the filter is still there, for root and for a user (libcontainer
    // installs it before the capabilities go).
    for user in [&[][..], &["--user", "app"][..]] {
        let mut flags = vec!["--security-opt", "no-new-privileges=false"];
        flags.extend_from_slice(user);
        let app = report(&pods, &[], "esc", &flags);
        assert_eq!(app["no_new_privs"], 0, "{user:?}");
        assert_eq!(app["seccomp"], 2, "{user:?}");
    }
    // A profile of one's own: everything allowed but sethostname.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-hostname.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sethostname"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let script = "hostname rukt-test-name && echo changed";
    let with_admin = |extra: &[&str]| {
        let mut flags = vec!["--caps-retain=CAP_SYS_ADMIN"];
        flags.extend_from_slice(extra);
        run(&pods, &[], &[App::sh("hn", script).with(&flags)])
    };
    let blocked = with_admin(&["--security-opt", &opt]);
    assert!(
        !blocked.success(),
        "the profile did not block sethostname: {blocked}"
    );
    let allowed = with_admin(&["--security-opt", "seccomp=unconfined"]);
    assert!(
        allowed.success() && allowed.stdout.contains("changed"),
        "{allowed}"
    );
    let bad = pods.run(&[
        "run",
        "--stage1=nspawn",
        &pods.image,
        "--security-opt",
        "seccomp=/nonexistent.json",
    ]);
    assert_eq!(bad.code(), Some(2), "{bad}");
}

#[test]
fn masked_paths_can_be_changed() {
    let pods = store();
    let host = host_report();
    let app = report(
        &pods,
        &[],
        "unmask",
        &["--security-opt", "unmask=/proc/keys:/proc/timer_list"],
    );
    for path in ["/proc/keys", "/proc/timer_list"] {
        if host["masked"][path]["state"] == "content" {
            assert_eq!(
                app["masked"][path]["state"], "content",
                "{path}: {}",
                app["masked"]
            );
        }
    }
    let out = run(
        &pods,
        &[],
        &[App::sh("mask", "cat /proc/cpuinfo | wc -c")
            .with(&["--security-opt", "mask=/proc/cpuinfo"])],
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "0", "/proc/cpuinfo is not masked: {out}");
}

#[test]
fn namespaced_sysctls_are_set_in_the_pod_only() {
    let pods = store();
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host_before = std::fs::read_to_string(path).unwrap();
    let out = run(
        &pods,
        &["--sysctl", "net.ipv4.ip_unprivileged_port_start=99"],
        &[App::sh("sysctl", &format!("cat {path}"))],
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "99", "{out}");
    assert_eq!(std::fs::read_to_string(path).unwrap(), host_before);
    for bad in ["kernel.panic=1", "vm.swappiness=10"] {
        let out = pods.run(&["run", "--stage1=nspawn", "--sysctl", bad, &pods.image]);
        assert!(!out.success(), "{out}");
        assert!(out.stderr.contains("only namespaced sysctls"), "{out}");
    }
    let out = pods.run(&[
        "run",
        "--stage1=nspawn",
        "--net=host",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        &pods.image,
    ]);
    assert!(out.stderr.contains("only namespaced sysctls"), "{out}");
    assert!(pods.list().is_empty() || pods.list().iter().all(|p| p["state"] != "running"));
}

#[test]
fn a_command_entered_into_an_app_without_no_new_privs_is_still_filtered() {
    let pods = store();
    let uuid = pods
        .ok(&["app", "sandbox", "--detach", "--stage1=nspawn"])
        .trim()
        .to_owned();
    let image = pods.image.clone();
    pods.ok(&[
        "app",
        "add",
        &uuid,
        &image,
        "--name",
        "esc",
        "--user",
        "app",
        "--security-opt",
        "no-new-privileges=false",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exec sleep 1000",
    ]);
    pods.ok(&["app", "start", &uuid, "--app", "esc"]);
    let status = pods.ok(&[
        "app",
        "exec",
        &uuid,
        "--app",
        "esc",
        "--",
        "cat",
        "/proc/self/status",
    ]);
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(field("Seccomp:"), "2", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    pods.ok(&["stop", &uuid]);
    pods.wait_exited(&uuid);
}
