//! The stage1 binary cannot be written through `/proc/PID/exe` of a pod's process (runc's
//! CVE-2019-5736 class): not by an app, even one with the host's PID namespace and
//! `CAP_SYS_PTRACE`, and not through a descriptor kept until the process has exited (when
//! `ETXTBSY` no longer protects the file): stage1 runs from a read-only mount.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rukt_tests::inspector::{self, parse_report};
use rukt_tests::pods::{HostDir, shell_code};
use serde_json::Value;

use super::app::{App, spawn};
use super::host::stage1_binary;
use super::{DEFAULT_CAPS, store};

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
    let attacker =
        App::sh("attacker", &script).with(&[&retain, "--mount", "volume=gate,target=/gate"]);
    let mut pod = spawn(&pods, &["--pid=host", "--volume", &gate_vol], &[attacker]);
    pod.wait_line("ready");
    std::fs::write(gate.path().join("pid.tmp"), pod.pid().to_string()).unwrap();
    std::fs::rename(gate.path().join("pid.tmp"), gate.path().join("pid")).unwrap();
    let lines = pod.wait_line_where(|l| l.starts_with('{'));
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    let probe = parse_report(&lines.join("\n"));
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
    let mut pod = spawn(
        &pods,
        &[],
        &[App::sh("victim", "echo ready; exec sleep 4250")],
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
