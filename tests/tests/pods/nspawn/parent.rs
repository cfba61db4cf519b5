//! `--cgroup-parent` (CRI's `linux.cgroup_parent`): the pod's cgroup is made below the parent
//! asked for, as kubelet's cgroupfs driver makes `/kubepods/.../pod<uid>` and expects the
//! containers in it. What the user checks: the app runs in `<parent>/rukt/<uuid>/<app>`, the
//! parent's memory limit kills an app the same pod without a parent lets through, the
//! `rukt` level goes with the pod and the parent (someone else's) stays. Then
//! `--stop-signal`: `rukt stop` asks each app with its own signal before SIGKILL.

use std::path::PathBuf;

use rukt_tests::pods::QUITS_ON_SIGQUIT;

use super::app::{App, run, spawn};
use super::host::{cgroup_v2, descendant};
use super::store;

/// A test-made parent cgroup `/rukt-test-N/<name>` in every hierarchy (v1) or the unified
/// one, with a memory limit; removed when dropped.
struct Parent {
    path: String,
    dirs: Vec<PathBuf>,
}

impl Parent {
    fn new(name: &str, memory: u64) -> Parent {
        let top = format!("rukt-test-{}", std::process::id());
        let path = format!("/{top}/{name}");
        let root = PathBuf::from("/sys/fs/cgroup");
        let mut dirs = Vec::new();
        if cgroup_v2() {
            for level in [root.clone(), root.join(&top)] {
                std::fs::create_dir_all(&level).unwrap();
                std::fs::write(level.join("cgroup.subtree_control"), "+memory").unwrap();
            }
            let d = root.join(&path[1..]);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("memory.max"), memory.to_string()).unwrap();
            dirs.push(d);
        } else {
            for e in std::fs::read_dir(&root).unwrap().flatten() {
                let p = e.path();
                if p.is_symlink() || !p.join("cgroup.clone_children").exists() {
                    continue;
                }
                let d = p.join(&path[1..]);
                std::fs::create_dir_all(&d).unwrap();
                dirs.push(d);
            }
            let mem = root.join("memory").join(&path[1..]);
            std::fs::write(mem.join("memory.limit_in_bytes"), memory.to_string()).unwrap();
        }
        Parent { path, dirs }
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
            let _ = std::fs::remove_dir(d.parent().unwrap());
        }
    }
}

/// The memory cgroup of process `pid`, as `/proc/PID/cgroup` names it.
fn memory_cgroup(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (ctrls, path) = rest.split_once(':')?;
            (ctrls == "memory" || (ctrls.is_empty() && cgroup_v2())).then(|| path.to_owned())
        })
        .unwrap_or_else(|| panic!("no memory cgroup in {text}"))
}

#[test]
fn a_pod_below_a_parent_cgroup_is_bounded_by_its_limits() {
    let pods = store();
    let parent = Parent::new("pod1", 48 << 20);
    let flag = format!("--cgroup-parent={}", parent.path);

    let mut pod = spawn(
        &pods,
        &[&flag],
        &[App::sh("app", "echo up; exec sleep 4253")],
    );
    pod.wait_line("up");
    let app = descendant(pod.pid(), "sleep 4253");
    assert_eq!(
        memory_cgroup(app),
        format!("{}/rukt/{}/app", parent.path, pod.uuid),
        "the app is below the parent asked for"
    );
    pods.ok(&["stop", &pod.uuid]);
    pod.wait();

    // 96 MiB touched at once (dd's buffer): past the parent's 48 MiB, within no limit of
    // the pod's own.
    let hog = App::sh(
        "hog",
        "dd if=/dev/zero of=/dev/null bs=96M count=1 && echo survived",
    );
    let bounded = run(&pods, &[&flag], std::slice::from_ref(&hog));
    assert!(
        !bounded.success() && !bounded.stdout.contains("survived"),
        "the parent's limit applies:\n{bounded}"
    );
    let free = run(&pods, &[], &[hog]);
    assert!(
        free.success() && free.stdout.contains("survived"),
        "without a parent nothing stops it:\n{free}"
    );

    pods.ok(&["gc", "--grace-period=0s"]);
    for d in &parent.dirs {
        assert!(
            d.is_dir(),
            "the parent is not rukt's to remove: {}",
            d.display()
        );
        assert!(
            !d.join("rukt").exists(),
            "the pod's cgroups went with it: {}",
            d.display()
        );
    }
}

#[test]
fn a_parent_that_is_no_cgroupfs_path_is_refused_before_anything_runs() {
    let pods = store();
    for (parent, says) in [
        ("kubepods-burstable.slice", "systemd slice"),
        ("/kubepods/../etc", ".."),
    ] {
        let out = run(
            &pods,
            &[&format!("--cgroup-parent={parent}")],
            &[App::sh("app", "echo ran")],
        );
        assert_eq!(out.code(), Some(2), "a usage error:\n{out}");
        assert!(
            out.stderr.contains(says) && !out.stdout.contains("ran"),
            "{out}"
        );
    }
}

#[test]
fn stop_sends_each_app_its_own_stop_signal_first() {
    let pods = store();
    let plain = "trap 'exit 0' TERM; echo up2; while :; do sleep 0.1; done";
    let mut pod = spawn(
        &pods,
        &[],
        &[
            App::sh("quits", QUITS_ON_SIGQUIT).with(&["--stop-signal=QUIT"]),
            App::sh("plain", plain),
        ],
    );
    pod.wait_line_where(|l| l == "ready" || l == "up2");
    pod.wait_line_where(|l| l == "ready" || l == "up2");
    pod.stop_expecting_quit(&pods, 30);

    let out = run(
        &pods,
        &[],
        &[App::sh("app", "true").with(&["--stop-signal=SIGNOPE"])],
    );
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(out.stderr.contains("--stop-signal"), "{out}");
}
