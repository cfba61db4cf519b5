//! Hostile images and the known runtime escapes: paths from the image (a symlinked `/dev`, a
//! symlinked volume target, a `/proc/self/fd/N` working directory) resolved inside the pod's
//! root or refused, never touching the host; and the stage1 binary, which no pod process can
//! open for writing through `/proc/PID/exe` (runc's CVE-2019-5736 class), also not through a
//! descriptor kept until the process has exited.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use rukt_tests::image::{Compression, Entry, Layer};
use rukt_tests::inspector;
use rukt_tests::pods::{HostDir, PodStore, mounts_below, pod_image, shell_code};
use rukt_tests::rukt::Output;
use serde_json::Value;

use super::{DEFAULT_CAPS, stage1_binary, store};

/// The pod image with the inspector and `entries` on top, added to the store's layout.
fn hostile_image(pods: &PodStore, tag: &str, entries: Vec<Entry>) -> String {
    let mut spec = pod_image();
    spec.layers.push(inspector::layer());
    spec.layers.push(Layer::new(Compression::Gzip, entries));
    pods.add_image(tag, spec)
}

/// `../` enough times to climb from any pod root to the host's `/`, then `path`.
fn climbing(path: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(24),
        path.to_str().unwrap().trim_start_matches('/')
    )
}

/// A store whose pods run at all: the baseline that makes "refused" mean something.
fn working_store() -> PodStore {
    let pods = store();
    let out = pods.sh("baseline", "true");
    assert!(out.success(), "a plain pod does not run:\n{out}");
    pods
}

/// A pod the engine refused or ran: either is safe, a crash or a signal is not.
fn assert_safe_outcome(out: &Output) {
    assert!(out.code().is_some(), "the pod ended by a signal:\n{out}");
    assert!(!out.stderr.contains("panicked at"), "a panic:\n{out}");
    if !out.success() {
        assert!(
            !out.stderr.trim().is_empty(),
            "a failure without a message:\n{out}"
        );
    }
}

/// Asserts the host directory is as the test made it: empty and not a mount point.
fn assert_untouched(dir: &Path, what: &str) {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{what}: {} is gone: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "{what}: host files created in {}: {entries:?}",
        dir.display()
    );
    let mounts = mounts_below(dir);
    assert!(mounts.is_empty(), "{what}: host mounts at {mounts:?}");
}

#[test]
fn symlinked_dev_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    for (tag, target) in [
        ("dev-absolute", host.path().to_str().unwrap().to_owned()),
        ("dev-climbing", climbing(host.path())),
    ] {
        let image = hostile_image(&pods, tag, vec![Entry::symlink("dev", &target)]);
        let out = pods.run(&[
            "run",
            "--stage1=nspawn",
            &image,
            "--name",
            "dev",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "test -c /dev/null && echo null-inside",
        ]);
        assert_safe_outcome(&out);
        if out.success() {
            assert_eq!(out.lines(), ["null-inside"], "{tag}:\n{out}");
        }
        assert_untouched(host.path(), tag);
    }
}

#[test]
fn symlinked_mount_target_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    let volume = HostDir::new();
    let vol = volume.volume_flag("data", false);
    let escape = host.path().join("sub");
    for (tag, target) in [
        ("target-absolute", escape.to_str().unwrap().to_owned()),
        ("target-climbing", climbing(&escape)),
    ] {
        let image = hostile_image(&pods, tag, vec![Entry::symlink("data", &target)]);
        let out = pods.run(&[
            "run",
            "--stage1=nspawn",
            "--volume",
            &vol,
            &image,
            "--name",
            "mnt",
            "--mount",
            "volume=data,target=/data",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &format!("echo {tag} > /data/{tag} && echo written"),
        ]);
        assert_safe_outcome(&out);
        assert_untouched(host.path(), tag);
        if out.success() {
            assert_eq!(out.lines(), ["written"], "{tag}:\n{out}");
            let landed = std::fs::read_to_string(volume.path().join(tag));
            assert!(
                landed.is_ok_and(|t| t.trim() == tag),
                "{tag}: the app's write through its mount did not reach the volume"
            );
        }
    }
}

/// The other side of resolving inside the root: an image's symlink that stays inside it (as
/// `/var/run -> /run` does in many images) is followed there, so the volume appears where the
/// app looks for it.
#[test]
fn symlinked_mount_target_inside_the_root_is_followed() {
    let pods = working_store();
    for (tag, target) in [
        ("inside-absolute", "/srv/real"),
        ("inside-relative", "srv/real"),
    ] {
        let volume = HostDir::new();
        let vol = volume.volume_flag("data", false);
        let image = hostile_image(
            &pods,
            tag,
            vec![
                Entry::dir("srv"),
                Entry::dir("srv/real"),
                Entry::symlink("data", target),
            ],
        );
        let out = pods.run(&[
            "run",
            "--stage1=nspawn",
            "--volume",
            &vol,
            &image,
            "--name",
            "mnt",
            "--mount",
            "volume=data,target=/data",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo via-link > /data/f && cat /srv/real/f",
        ]);
        assert!(out.success(), "{tag}:\n{out}");
        assert_eq!(out.lines(), ["via-link"], "{tag}:\n{out}");
        assert_eq!(
            std::fs::read_to_string(volume.path().join("f")).unwrap_or_default(),
            "via-link\n",
            "{tag}: the write did not reach the volume"
        );
    }
}

#[test]
fn proc_self_fd_working_dir_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    let marker = host.path().join("escape-marker");
    std::fs::write(&marker, "ESCAPED\n").unwrap();
    let script = format!(
        "cat {climb} {abs} 2>/dev/null; ls {up} 2>/dev/null | grep -qx rukt-pod-marker || echo no-marker",
        climb = climbing(&marker),
        abs = marker.display(),
        up = climbing(Path::new("etc")),
    );
    let image = hostile_image(&pods, "workdir", Vec::new());
    for n in 3..=9 {
        let dir = format!("/proc/self/fd/{n}");
        for image in [pods.image.clone(), image.clone()] {
            let out = pods.run(&[
                "run",
                "--stage1=nspawn",
                &image,
                "--name",
                "cwd",
                "--working-dir",
                &dir,
                "--exec",
                "/bin/sh",
                "--",
                "-c",
                &script,
            ]);
            assert!(out.code().is_some(), "{dir}: ended by a signal:\n{out}");
            assert!(
                !out.stdout.contains("ESCAPED"),
                "{dir}: read a host file:\n{out}"
            );
            assert!(
                !out.stdout.contains("no-marker"),
                "{dir}: `..` from the working directory left the pod's root:\n{out}"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ESCAPED\n");
}

/// The inspector's `try-write-exe` result line.
fn exe_probe(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no probe result:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn stage1_binary_cannot_be_written_through_proc_exe() {
    let pods = store();
    let binary = stage1_binary();
    let before = std::fs::read(&binary).unwrap();

    // From inside, as strong as an app gets: the host's PID namespace and CAP_SYS_PTRACE, so
    // it can open the supervisor's executable at all. The test hands it the supervisor's PID.
    let mut retain: Vec<&str> = DEFAULT_CAPS.to_vec();
    retain.push("CAP_SYS_PTRACE");
    let retain = format!("--caps-retain={}", retain.join(","));
    let gate = HostDir::new();
    let gate_vol = gate.volume_flag("gate", false);
    let script = format!(
        "echo ready; while [ ! -s /gate/pid ]; do sleep 0.05; done; exec {} try-write-exe $(cat /gate/pid)",
        inspector::PATH
    );
    let mut pod = pods.spawn_pod(
        &["--pid=host", "--volume", &gate_vol],
        &[
            "--name",
            "attacker",
            &retain,
            "--mount",
            "volume=gate,target=/gate",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &script,
        ],
    );
    pod.wait_line("ready");
    std::fs::write(gate.path().join("pid.tmp"), pod.pid().to_string()).unwrap();
    std::fs::rename(gate.path().join("pid.tmp"), gate.path().join("pid")).unwrap();
    let lines = pod.wait_line_where(|l| l.starts_with('{'));
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    let probe = exe_probe(&lines.join("\n"));
    assert!(
        probe["exe"]
            .as_str()
            .is_some_and(|e| e.contains("rukt-stage1-nspawn")),
        "the supervisor's executable: {probe}"
    );
    assert_eq!(probe["open_path"], "ok", "{probe}");
    assert_eq!(probe["mount_ro"], true, "{probe}");
    assert_ne!(
        probe["now"], "opened",
        "the app opened the stage1 binary for writing: {probe}"
    );

    // From the host, through a descriptor kept until the supervisor has exited (when
    // ETXTBSY no longer protects the file): only a read-only mount refuses.
    let mut pod = pods.spawn_pod(
        &[],
        &[
            "--name",
            "victim",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo ready; exec sleep 4250",
        ],
    );
    pod.wait_line("ready");
    let mut probe = Command::new(inspector::binary())
        .args(["try-write-exe", &pod.pid().to_string(), "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(probe.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(
        first, "holding",
        "the probe could not open the supervisor's executable"
    );
    pods.ok(&["stop", "--force", &pod.uuid]);
    assert_eq!(shell_code(pod.wait()), 137);
    let result = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = probe.wait();
    let result: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
    assert_eq!(result["exited"], true, "{result}");
    assert_ne!(result["now"], "opened", "{result}");
    assert_eq!(
        result["mount_ro"], true,
        "the stage1 binary is not executed from a read-only mount: {result}"
    );
    // EROFS, or ETXTBSY while another pod's stage1 (a parallel test) executes the same file.
    let after = result["after_exit"].as_str().unwrap_or_default();
    assert!(
        after == "EROFS" || after == "ETXTBSY",
        "the stage1 binary opened for writing after its process exited: {result}"
    );
    assert!(
        std::fs::read(&binary).unwrap() == before,
        "{} changed",
        binary.display()
    );
}
