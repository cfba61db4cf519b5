//! Pods under `--stage1=kvm`, booted for real: qemu `microvm` with Debian's cloud kernel and
//! rukt's initramfs, under TCG on hosts whose KVM cannot run the guest (the development
//! machines). Needs `scripts/setup-kvm.sh` (qemu and the kernel in `/opt/rukt/kvm`) and
//! `rukt-stage1-kvm` plus `rukt-kvm-init` built next to `rukt`.
//!
//! Guests are heavy on two shared cores, so these tests take turns (`one_vm_at_a_time`); every
//! rukt command runs under the harness timeout and every wait is bounded, so a hung guest fails
//! its test instead of hanging the run. Only the first test asks for `--kvm-accel=auto` (the
//! probe, cached per store); the others say `tcg` and skip it.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rukt_tests::pods::{HostDir, MARKER_TEXT, PodStore, QUITS_ON_SIGQUIT, send_signal};

/// Serialises the VMs of this module (and of the kvm networking tests).
pub(crate) fn one_vm_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn kvm_store() -> PodStore {
    PodStore::with_stage1("kvm", Vec::new())
}

const TCG: &str = "--kvm-accel=tcg";

/// The kernel release the guest runs: the version directory under the setup prefix.
fn guest_release() -> String {
    let prefix = std::env::var("RUKT_KVM_PREFIX").unwrap_or_else(|_| "/opt/rukt/kvm".into());
    let modules = Path::new(&prefix).join("kernel/lib/modules");
    let mut names: Vec<String> = std::fs::read_dir(&modules)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-kvm.sh)", modules.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.pop().expect("a guest kernel version")
}

/// Host processes (not zombies) whose command line mentions `uuid`: the pod's qemu and
/// virtiofsd.
fn vm_processes(uuid: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'));
        if !zombie
            && cmdline.contains(uuid)
            && (cmdline.contains("qemu-system") || cmdline.contains("virtiofsd"))
        {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// Waits up to 10 s for the pod's qemu and virtiofsd to be gone.
pub(crate) fn assert_vm_gone(uuid: &str, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = vm_processes(uuid);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}: still running: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn guest_kernel_exit_code_and_output_pass_through() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let out = pods.run(&pods.pod_args(
        "run",
        &[],
        &[
            "--name",
            "web",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "uname -r; cat /etc/rukt-pod-marker; echo to-stderr >&2; exit 3",
        ],
    ));
    assert_eq!(out.code(), Some(3), "{out}");
    let host = host_release();
    let lines = out.lines();
    assert_eq!(lines, [guest_release().as_str(), MARKER_TEXT], "{out}");
    assert_ne!(lines[0], host, "the pod ran on the host's kernel:\n{out}");
    assert!(
        out.stderr.lines().any(|l| l == "to-stderr"),
        "stderr did not pass through:\n{out}"
    );
    assert_eq!(
        out.stderr.lines().filter(|l| l.contains("KVM")).count(),
        usize::from(out.stderr.contains("TCG")),
        "at most one acceleration warning:\n{out}"
    );
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_string();
    let st = pods.status(&uuid);
    assert_eq!(st.get("app-web").map(String::as_str), Some("3"), "{st:?}");
    assert_vm_gone(&uuid, "after the pod exited");
    // A second pod reuses the cached probe answer and artifacts: no warning again.
    let again = pods.run(&pods.pod_args("run", &[], &["--exec", "/bin/true"]));
    assert!(again.success(), "{again}");
    assert!(!again.stderr.contains("KVM"), "warned twice:\n{again}");
}

pub(crate) fn host_release() -> String {
    String::from_utf8(
        std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn host_volumes_are_shared_read_write_and_read_only() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let rw = HostDir::new();
    let ro = HostDir::new();
    std::fs::write(rw.path().join("in"), "from the host\n").unwrap();
    std::fs::write(ro.path().join("fixed"), "read me\n").unwrap();
    let (rw_flag, ro_flag) = (rw.volume_flag("data", false), ro.volume_flag("conf", true));
    let out = pods.run(&pods.pod_args(
        "run",
        &[TCG, "--volume", &rw_flag, "--volume", &ro_flag],
        &[
            "--mount",
            "volume=data,target=/data",
            "--mount",
            "volume=conf,target=/etc/conf",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "cat /data/in /etc/conf/fixed; echo from the guest > /data/out; \
             if echo x > /etc/conf/nope; then echo wrote; else echo refused; fi",
        ],
    ));
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        ["from the host", "read me", "refused"],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(rw.path().join("out")).unwrap(),
        "from the guest\n"
    );
    assert!(!ro.path().join("nope").exists());
}

#[test]
fn apps_get_their_cgroup_capabilities_and_no_new_privs_in_the_guest() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let out = pods.run(&pods.pod_args(
        "run",
        &[TCG, "--sysctl=net.core.somaxconn=1234"],
        &[
            "--name",
            "limited",
            "--memory=48Mi",
            "--pids-limit=50",
            "--caps-remove=CAP_CHOWN,CAP_KILL",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "cat /proc/self/cgroup; grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status; \
             echo somaxconn=$(cat /proc/sys/net/core/somaxconn); \
             dd if=/dev/zero of=/dev/null bs=96M count=1 && echo survived",
        ],
    ));
    // Past its 48 MiB: the guest's OOM killer, reported as the nspawn engine reports it.
    assert_eq!(out.code(), Some(137), "{out}");
    assert!(!out.stdout.contains("survived"), "{out}");
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_string();
    let st = pods.wait_exited(&uuid);
    assert_eq!(
        st.get("app-limited-reason").map(String::as_str),
        Some("oom-killed"),
        "{st:?}"
    );
    let lines = out.lines();
    assert!(
        lines.contains(&"somaxconn=1234"),
        "the pod's sysctl, set in the guest's kernel:\n{out}"
    );
    assert!(
        lines.contains(&"0::/app-limited"),
        "the app's own cgroup:\n{out}"
    );
    // Podman's 11 (0x800405fb) less CAP_CHOWN (bit 0) and CAP_KILL (bit 5).
    assert!(lines.contains(&"CapBnd:\t00000000800405da"), "{out}");
    assert!(lines.contains(&"CapEff:\t00000000800405da"), "{out}");
    assert!(lines.contains(&"NoNewPrivs:\t1"), "{out}");
}

#[test]
fn two_apps_share_one_vm() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let mut args = pods.pod_args(
        "run",
        &[TCG],
        &[
            "--name",
            "first",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo first; uname -n",
        ],
    );
    let image = pods.image.clone();
    args.extend_from_slice(&[
        "---",
        &image,
        "--name",
        "second",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "sleep 0.3; echo second; uname -n; exit 4",
    ]);
    let out = pods.run(&args);
    assert_eq!(out.code(), Some(4), "the failing app's code:\n{out}");
    let lines = out.lines();
    assert!(
        lines.contains(&"first") && lines.contains(&"second"),
        "{out}"
    );
    // One VM: both apps see the same hostname.
    let hosts: Vec<&&str> = lines.iter().filter(|l| l.starts_with("rukt-")).collect();
    assert_eq!(hosts.len(), 2, "{out}");
    assert_eq!(hosts[0], hosts[1], "{out}");
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_string();
    let st = pods.status(&uuid);
    assert_eq!(st.get("app-first").map(String::as_str), Some("0"), "{st:?}");
    assert_eq!(
        st.get("app-second").map(String::as_str),
        Some("4"),
        "{st:?}"
    );
}

#[test]
fn enter_runs_a_command_inside_the_app() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let mut pod = pods.sleeping_pod(&[TCG], "sleeper");
    let out = pods.run(&[
        "enter",
        "--app",
        "sleeper",
        &pod.uuid,
        "--",
        "/bin/sh",
        "-c",
        "cat /etc/rukt-pod-marker; uname -r; echo oops >&2; exit 7",
    ]);
    assert_eq!(out.code(), Some(7), "{out}");
    assert_eq!(
        out.lines(),
        [MARKER_TEXT, guest_release().as_str()],
        "{out}"
    );
    assert!(out.stderr.contains("oops"), "{out}");
    let stop = pods.run(&["stop", "--force", &pod.uuid]);
    assert!(stop.success(), "{stop}");
    pod.wait();
}

#[test]
fn stop_asks_the_apps_and_stop_force_kills_the_vm() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let mut gentle = pods.sleeping_pod(&[TCG], "gentle");
    let out = pods.run(&["stop", &gentle.uuid]);
    assert!(out.success(), "{out}");
    assert_eq!(gentle.wait_code(), 143, "{}", gentle.take_stderr());
    assert_eq!(
        pods.wait_exited(&gentle.uuid)
            .get("app-gentle")
            .map(String::as_str),
        Some("143")
    );
    assert_vm_gone(&gentle.uuid, "after stop");

    let mut forced = pods.sleeping_pod(&[TCG], "forced");
    let out = pods.run(&["stop", "--force", &forced.uuid]);
    assert!(out.success(), "{out}");
    assert_eq!(forced.wait_code(), 137, "{}", forced.take_stderr());
    assert_vm_gone(&forced.uuid, "after stop --force");
}

#[test]
fn kill_9_of_the_stage1_leaves_no_vm_and_gc_cleans_up() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let mut pod = pods.sleeping_pod(&[TCG], "victim");
    assert!(
        !vm_processes(&pod.uuid).is_empty(),
        "no VM found for the pod"
    );
    // stage0 execs the stage1: the rukt process the test started is it.
    send_signal(pod.pid(), "KILL");
    pod.wait();
    assert_vm_gone(&pod.uuid, "after kill -9 of the stage1");
    let st = pods.wait_exited(&pod.uuid);
    assert_eq!(
        st.get("state").map(String::as_str),
        Some("exited"),
        "{st:?}"
    );
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.pod_dir(&pod.uuid).is_none(), "gc left the pod");
}

#[test]
fn net_host_is_refused_clearly() {
    let pods = kvm_store();
    let before = pods.pod_dirs();
    let out = pods.run(&pods.pod_args("run", &[TCG, "--net=host"], &["--exec", "/bin/true"]));
    // kvm does not declare net-host: stage0 refuses it as a usage error
    // before anything is created or mounted (issue 9: contract v2).
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(
        out.stderr
            .contains("the kvm stage1 does not enforce --net=host"),
        "{out}"
    );
    assert_eq!(pods.pod_dirs(), before, "a refused pod left a directory");
    pods.assert_no_mounts("after a refused --net=host");
}

#[test]
fn logs_and_readiness_of_a_kvm_pod() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let manager = super::systemd::Manager::path();
    let script = "echo out; echo err >&2; sleep 0.5; echo late";
    let mut pod = pods.spawn_pod_with_env(
        &[TCG],
        &["--name", "vm", "--exec", "/bin/sh", "--", "-c", script],
        &manager.env(),
    );
    let got = manager.until("READY=1");
    assert!(
        got.last()
            .unwrap()
            .contains(&format!("MAINPID={}", pod.pid())),
        "{got:?}"
    );
    assert_eq!(pod.wait_code(), 0, "{}", pod.take_stderr());
    let out = pods.ok(&["logs", "--format", "json", &pod.uuid]);
    let lines: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["stream"].as_str().unwrap().into(),
                v["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [("stdout", "out"), ("stderr", "err"), ("stdout", "late")];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(s, m)| ((*s).into(), (*m).into()))
        .collect();
    assert_eq!(lines, want, "the kvm pod's output in its log file");
    assert!(
        pods.pod_dir(&pod.uuid)
            .unwrap()
            .join("logs/vm.log")
            .exists()
    );
}

/// `--cgroup-parent` puts the whole VM (supervisor, qemu, virtiofsd) in
/// `<parent>/rukt/<uuid>`, which gc removes; `--stop-signal` is what the guest init sends the
/// app on `rukt stop`.
#[test]
fn a_vm_below_a_parent_cgroup_and_an_apps_own_stop_signal() {
    let _vm = one_vm_at_a_time();
    let pods = kvm_store();
    let top = format!("rukt-test-kvm-{}", std::process::id());
    let parent = format!("/{top}/pod1");
    let flag = format!("--cgroup-parent={parent}");
    let app = [
        "--name",
        "q",
        "--stop-signal=SIGQUIT",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
    ];
    let mut pod = pods.spawn_pod(&[TCG, &flag], &[&app[..], &[QUITS_ON_SIGQUIT]].concat());
    pod.wait_line("ready");
    let qemu = vm_processes(&pod.uuid)
        .into_iter()
        .find(|p| p.contains("qemu-system"))
        .expect("the pod's qemu");
    let pid = qemu.split(':').next().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{parent}/rukt/{}", pod.uuid);
    assert!(
        cgroups.lines().any(|l| l.ends_with(&format!(":{want}"))),
        "qemu is below the parent: {cgroups}"
    );
    pod.stop_expecting_quit(&pods, 60);
    assert_vm_gone(&pod.uuid, "after stop");
    let out = pods.run(&["gc", "--grace-period=0s"]);
    assert!(out.success(), "{out}");
    for d in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let level = d.path().join(&parent[1..]);
        if level.is_dir() {
            assert!(
                !level.join("rukt").exists(),
                "gc removed {}",
                level.display()
            );
        }
        let _ = std::fs::remove_dir(&level);
        let _ = std::fs::remove_dir(d.path().join(&top));
    }
}
