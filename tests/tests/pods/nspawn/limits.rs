//! Resource limits: the pod's and each app's cgroup as the host sees them and as the app sees
//! them, an app allocating past `--memory` killed and reported OOM, and `--pids-limit`
//! stopping a fork bomb.

use rukt_tests::inspector;
use serde_json::Value;

use super::app::{App, run, spawn};
use super::host::{cgroup_file, cgroup_v2};
use super::{get, only_pod, run_dir, store};

const MIB: u64 = 1 << 20;

/// Reads a cgroup limit file from the host, trimmed.
fn read_limit(controller: &str, rel: &str, v1: &str, v2: &str) -> String {
    let path = cgroup_file(controller, rel, v1, v2);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

#[test]
fn limits_are_set_on_the_pod_and_app_cgroups() {
    let pods = store();
    let pod_flags = [
        "--memory",
        "256Mi",
        "--pids-limit",
        "200",
        "--cpu",
        "500m",
        "--cpu-shares",
        "512",
    ];
    // Its cgroups are read-only to it: no child cgroup, no file beside them.
    let script = format!(
        "{} report; mkdir /sys/fs/cgroup/memory/probe 2>/dev/null && echo cgroups-writable; \
         touch /sys/fs/cgroup/probe 2>/dev/null && echo cgroups-writable; echo ready; \
         exec sleep 4245",
        inspector::PATH
    );
    let app = App::sh("limited", &script).with(&["--memory", "64Mi", "--pids-limit", "50"]);
    let mut pod = spawn(&pods, &pod_flags, &[app]);
    let lines = pod.wait_line("ready");
    let uuid = pod.uuid.clone();
    let pod_cg = format!("rukt/{uuid}");
    let app_cg = format!("rukt/{uuid}/limited");
    let memory = |rel: &str| read_limit("memory", rel, "memory.limit_in_bytes", "memory.max");
    let pids = |rel: &str| read_limit("pids", rel, "pids.max", "pids.max");
    assert_eq!(
        memory(&pod_cg),
        (256 * MIB).to_string(),
        "the pod's memory limit"
    );
    assert_eq!(
        memory(&app_cg),
        (64 * MIB).to_string(),
        "the app's memory limit"
    );
    assert_eq!(pids(&pod_cg), "200", "the pod's pids limit");
    assert_eq!(pids(&app_cg), "50", "the app's pids limit");
    if cgroup_v2() {
        assert_eq!(read_limit("cpu", &pod_cg, "", "cpu.max"), "50000 100000");
    } else {
        let quota = read_limit("cpu", &pod_cg, "cpu.cfs_quota_us", "");
        let period: u64 = read_limit("cpu", &pod_cg, "cpu.cfs_period_us", "")
            .parse()
            .unwrap();
        assert_eq!(
            quota,
            (period / 2).to_string(),
            "--cpu 500m: half the period"
        );
        let shares = read_limit("cpu", &pod_cg, "cpu.shares", "");
        assert_eq!(shares, "512", "--cpu-shares");
    }
    // The app sees its own limit (a cgroup namespace rooted at its cgroup).
    let seen = inspector::parse_report(&lines.join("\n"));
    let limits = &seen["cgroup"]["limits"];
    let inside = limits["memory/memory.limit_in_bytes"]
        .as_str()
        .or_else(|| limits["memory.max"].as_str());
    assert_eq!(inside, Some((64 * MIB).to_string().as_str()), "{limits}");
    assert!(!lines.iter().any(|l| l == "cgroups-writable"), "{lines:?}");
    // On v1 that view is a tree the supervisor made on the host for the app's
    // container (stage1-nspawn/src/cgview.rs); the host keeps none of it.
    let tree = format!("{}/", run_dir(&uuid).join("cgroup").display());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&tree)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the app's cgroup tree is still mounted on the host"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    pods.ok(&["stop", "--force", &uuid]);
    pod.wait();
    pods.wait_exited(&uuid);
    pods.ok(&["gc", "--grace-period=0s"]);
    let dir = cgroup_file("memory", &pod_cg, "", "");
    assert!(
        !dir.exists(),
        "the pod's cgroup {} outlives the pod",
        dir.display()
    );
}

#[test]
fn memory_limit_kills_and_reports_oom() {
    let pods = store();
    let hog = App::inspector("hog", &["alloc", "512"]).with(&["--memory", "32Mi"]);
    let out = run(&pods, &[], &[hog]);
    assert_eq!(
        out.code(),
        Some(137),
        "an OOM-killed app exits 128+SIGKILL:\n{out}"
    );
    assert!(
        !out.stdout.contains("allocated 512 MiB"),
        "the app allocated past its limit:\n{out}"
    );
    let uuid = only_pod(&pods);
    let st = pods.wait_exited(&uuid);
    assert_eq!(get(&st, "app-hog"), "137", "{st:?}");
    assert_eq!(
        get(&st, "app-hog-reason"),
        "oom-killed",
        "`rukt status` does not say the app was OOM-killed: {st:?}"
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let pods = store();
    let bomb = App::inspector("bomb", &["forkbomb", "2000"]).with(&["--pids-limit", "16"]);
    let out = run(&pods, &[], &[bomb]);
    assert!(out.success(), "{out}");
    let result: Value = serde_json::from_str(out.lines().last().copied().unwrap_or("")).unwrap();
    let forked = result["forked"].as_u64().unwrap();
    assert!(
        forked < 16,
        "forked {forked} processes under --pids-limit 16"
    );
    assert_eq!(result["errno"], "EAGAIN", "{result}");
}
