//! One app's view from inside an nspawn pod, from the inspector's report, against the host's
//! own report: namespaces, capabilities, seccomp, no_new_privs, masked and read-only paths,
//! `/dev`, descriptors, hostname, users, the root's writability and the network modes.

use rukt_tests::inspector::{host_report, strings};
use rukt_tests::pods::APP_UID;
use serde_json::Value;

use super::app::{App, report, run, run_image};
use super::{DEFAULT_CAPS, caps, default_caps_without, fd_numbers, ns, only_pod, store};

#[test]
fn namespaces_are_the_pods_own() {
    let pods = store();
    let host = host_report();
    let app = report(&pods, &[], "ns", &[]);
    for kind in ["net", "pid", "ipc", "uts", "mnt", "cgroup"] {
        assert_ne!(
            ns(&app, kind),
            ns(&host, kind),
            "the app shares the host's {kind} namespace"
        );
    }
    // Default --pid=private: the app is PID 1 of a namespace of its own, and sees only itself.
    assert_eq!(app["pid"], 1, "{}", app["processes"]);
    let pids: Vec<&Value> = app["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["pid"])
        .collect();
    assert_eq!(
        pids,
        [1],
        "the app sees other processes: {}",
        app["processes"]
    );
    // Default --net=none: loopback only, and up.
    assert_eq!(
        app["interfaces"],
        serde_json::json!([{ "name": "lo", "up": true }]),
        "--net=none gives loopback only"
    );
}

#[test]
fn default_security() {
    let pods = store();
    let app = report(&pods, &[], "sec", &[]);
    let defaults = default_caps_without(&[]);
    for set in ["bounding", "permitted", "effective"] {
        assert_eq!(caps(&app, set), defaults, "capability set {set}");
    }
    assert_eq!(caps(&app, "ambient"), Vec::<String>::new());
    assert_eq!(app["seccomp"], 2, "seccomp must be in filter mode");
    assert_eq!(app["no_new_privs"], 1, "no_new_privs must be set");
    assert_eq!(app["uid"], 0);
    assert_eq!(app["gid"], 0);
}

#[test]
fn capability_flags() {
    let pods = store();
    let app = report(
        &pods,
        &[],
        "removed",
        &["--caps-remove=CAP_CHOWN,net_bind_service"],
    );
    let want = default_caps_without(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    for set in ["bounding", "permitted", "effective"] {
        assert_eq!(caps(&app, set), want, "--caps-remove, set {set}");
    }
    let app = report(
        &pods,
        &[],
        "retained",
        &["--caps-retain=CAP_NET_ADMIN,SYS_PTRACE"],
    );
    for set in ["bounding", "permitted", "effective"] {
        assert_eq!(
            caps(&app, set),
            ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"],
            "--caps-retain replaces the default set, set {set}"
        );
    }
}

#[test]
fn masked_paths_read_empty() {
    let pods = store();
    let host = host_report();
    let app = report(&pods, &[], "masked", &[]);
    let masked = app["masked"].as_object().expect("masked paths");
    let mut checked = 0;
    for (path, seen) in masked {
        let state = seen["state"].as_str().unwrap_or_default();
        assert!(
            state == "empty" || state == "missing",
            "{path} is readable in the pod: {seen}"
        );
        if host["masked"][path]["state"] == "content" {
            assert_eq!(
                state, "empty",
                "{path} has content on the host: masked by what? {seen}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the host has too few of the masked paths for this test to mean anything: {}",
        host["masked"]
    );
}

#[test]
fn readonly_paths_refuse_writes() {
    let pods = store();
    let host = host_report();
    let app = report(&pods, &[], "ro", &[]);
    let mut checked = 0;
    for (path, seen) in app["readonly"].as_object().expect("read-only paths") {
        if host["readonly"][path]["state"] == "missing" {
            continue;
        }
        checked += 1;
        match seen["state"].as_str().unwrap_or_default() {
            "EROFS" => assert_eq!(seen["mount_ro"], true, "{path}: {seen}"),
            // Masked instead of read-only is as good (nothing there to write to).
            "missing" | "no-file" => {}
            _ => panic!("{path} is not read-only in the pod: {seen}"),
        }
    }
    assert!(
        checked >= 3,
        "the host has too few read-only paths: {}",
        host["readonly"]
    );
    assert_eq!(
        app["root_write"], "ok",
        "without --readonly-rootfs the root is writable"
    );
}

#[test]
fn readonly_rootfs() {
    let pods = store();
    let app = report(&pods, &[], "rofs", &["--readonly-rootfs"]);
    assert_eq!(
        app["root_write"], "EROFS",
        "--readonly-rootfs leaves / writable"
    );
}

/// Character devices a container may have, with `pts/<n>` beyond these.
const DEV_CHARS: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts/ptmx",
];

#[test]
fn dev_is_minimal() {
    let pods = store();
    let app = report(&pods, &[], "dev", &[]);
    let entries = app["dev"].as_array().expect("/dev entries");
    let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(names.contains(&want), "/dev/{want} missing: {names:?}");
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let e = entries.iter().find(|e| e["name"] == link).unwrap();
        assert_eq!(e["target"], target, "/dev/{link}: {e}");
    }
    for e in entries {
        let name = e["name"].as_str().unwrap_or_default();
        match e["kind"].as_str().unwrap_or_default() {
            "block" => panic!("a block device in the pod's /dev: {e}"),
            "char" => assert!(
                DEV_CHARS.contains(&name)
                    || name
                        .strip_prefix("pts/")
                        .is_some_and(|n| n.parse::<u32>().is_ok()),
                "a host device in the pod's /dev: {e}"
            ),
            _ => {}
        }
    }
}

#[test]
fn only_stdio_descriptors_are_open() {
    let pods = store();
    let app = report(&pods, &[], "fds", &[]);
    assert_eq!(
        fd_numbers(&app),
        [0, 1, 2],
        "descriptors leaked into the app: {}",
        app["fds"]
    );
}

#[test]
fn hostname_defaults_to_the_uuid() {
    let pods = store();
    let app = report(&pods, &[], "host", &[]);
    let uuid = only_pod(&pods);
    assert_eq!(app["hostname"], format!("rukt-{}", &uuid[..8]));
    let app = report(&pods, &["--hostname", "web-1"], "named", &[]);
    assert_eq!(app["hostname"], "web-1");
    assert_ne!(
        host_report()["hostname"],
        "web-1",
        "the host's name changed"
    );
}

#[test]
fn user_and_group() {
    let pods = store();
    let app = report(&pods, &[], "num", &["--user", "4321", "--group", "99"]);
    for (key, want) in [("uid", 4321), ("euid", 4321), ("gid", 99), ("egid", 99)] {
        assert_eq!(app[key], want, "{key}");
    }
    // By name, from the image's /etc/passwd, with its primary group.
    let app = report(&pods, &[], "named", &["--user", "app"]);
    assert_eq!(app["uid"], APP_UID);
    assert_eq!(app["gid"], APP_UID);
    // The image's own User.
    let image = pods.image_tag("pod-user");
    let out = run_image(&pods, &[], &image, &[App::report("image-user")]);
    assert!(out.success(), "{out}");
    let app = rukt_tests::inspector::parse_report(&out.stdout);
    assert_eq!(app["uid"], APP_UID);
    // Never more than the default set, whoever the user is.
    let bounding = strings(&app["capabilities"]["bounding"]);
    assert!(
        bounding.iter().all(|c| DEFAULT_CAPS.contains(&c.as_str())),
        "{bounding:?}"
    );
}

#[test]
fn oom_score_adj_applies() {
    let pods = store();
    let app = report(&pods, &[], "adj", &["--oom-score-adj", "500"]);
    assert_eq!(app["oom_score_adj"], 500);
}

#[test]
fn seccomp_flag_denies_listed_syscalls() {
    let pods = store();
    let app = App::sh(
        "deny-mkdir",
        "mkdir /tmp/made; touch /tmp/touched && echo touched",
    )
    .with(&["--seccomp", "mode=remove,errno=EXDEV,mkdir,mkdirat"]);
    let out = run(&pods, &[], &[app]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["touched"], "{out}");
    assert!(
        out.stderr.contains("cross-device"),
        "mkdir must fail with the chosen errno (EXDEV):\n{out}"
    );
}

#[test]
fn host_network_sees_the_hosts_interfaces() {
    let pods = store();
    let host = host_report();
    let app = report(&pods, &["--net=host"], "hostnet", &[]);
    assert_eq!(ns(&app, "net"), ns(&host, "net"));
    assert_eq!(app["interfaces"], host["interfaces"]);
    for kind in ["pid", "mnt", "ipc", "uts"] {
        assert_ne!(
            ns(&app, kind),
            ns(&host, kind),
            "--net=host shares the host's {kind} namespace too"
        );
    }
}
