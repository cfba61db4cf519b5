//! Mutable pods on kvm (`rukt app sandbox --stage1=kvm`, `rukt app add|start|stop|rm|update|
//! list|status|exec`): a VM booted with no apps takes apps while it runs, each bound into the
//! share and prepared by the guest init when added, started when asked; an app's exit ends
//! nothing else; each verb returns once its change happened; a removed name can be used again;
//! a supervisor killed with SIGKILL leaves a pod that `rukt status` calls exited and gc cleans.
//! Booted for real under TCG, one VM at a time with the other kvm tests
//! ([`super::kvm::one_vm_at_a_time`]).

use std::time::{Duration, Instant};

use rukt_tests::pods::{HostDir, PodStore, WAIT};
use serde_json::Value;

use super::kvm::{assert_vm_gone, one_vm_at_a_time};

/// `rukt app sandbox --detach --stage1=kvm --kvm-accel=tcg`: the new pod's UUID.
fn sandbox(pods: &PodStore) -> String {
    pods.ok(&[
        "app",
        "sandbox",
        "--detach",
        "--stage1=kvm",
        "--kvm-accel=tcg",
    ])
    .trim()
    .to_owned()
}

/// `rukt app add UUID IMAGE --name NAME [EXTRA] --exec /bin/sh -- -c SCRIPT`.
fn add_sh(pods: &PodStore, uuid: &str, name: &str, extra: &[&str], script: &str) {
    let image = pods.image.clone();
    let mut args = vec!["app", "add", uuid, &image, "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--exec", "/bin/sh", "--", "-c", script]);
    assert_eq!(pods.ok(&args).trim(), name);
}

fn app_status(pods: &PodStore, uuid: &str, app: &str) -> Value {
    let text = pods.ok(&["app", "status", uuid, "--app", app, "--format", "json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn wait_app(pods: &PodStore, uuid: &str, app: &str, state: &str) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        let st = app_status(pods, uuid, app);
        if st["state"] == state {
            return st;
        }
        assert!(Instant::now() < end, "app {app} never got {state}: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exec_sh(pods: &PodStore, uuid: &str, app: &str, script: &str) -> rukt_tests::rukt::Output {
    pods.run(&[
        "app", "exec", uuid, "--app", app, "--", "/bin/sh", "-c", script,
    ])
}

fn app_names(pods: &PodStore, uuid: &str) -> Vec<String> {
    let list: Value =
        serde_json::from_str(&pods.ok(&["app", "list", uuid, "--format", "json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_kvm_sandbox_takes_apps_while_it_runs() {
    let _vm = one_vm_at_a_time();
    let pods = PodStore::with_stage1("kvm", Vec::new());
    let host = HostDir::new();
    std::fs::write(host.path().join("given"), "from the host\n").unwrap();
    let uuid = sandbox(&pods);
    assert_eq!(pods.status(&uuid)["state"], "running");
    assert!(app_names(&pods, &uuid).is_empty());

    // A terminal of its own is nspawn's: refused before anything is added.
    let image = pods.image.clone();
    let tty = pods.run(&["app", "add", &uuid, &image, "--name", "t", "--tty"]);
    assert!(
        !tty.success() && tty.stderr.contains("does not enforce --tty"),
        "{tty}"
    );
    assert!(app_names(&pods, &uuid).is_empty());

    // Added, not started: created; started: running, in the guest's kernel.
    add_sh(
        &pods,
        &uuid,
        "one",
        &[],
        "trap 'exit 3' TERM; echo hello from one; while :; do sleep 0.1; done",
    );
    let st = app_status(&pods, &uuid, "one");
    assert_eq!(st["state"], "created", "{st}");
    assert_eq!(st["started_ns"], 0);
    pods.ok(&["app", "start", &uuid, "--app", "one"]);
    assert_eq!(app_status(&pods, &uuid, "one")["state"], "running");

    // A second app with its own read-only host mount, bound into the running share.
    let mount = format!(
        "source={},target=/data,readOnly=true",
        host.path().display()
    );
    add_sh(&pods, &uuid, "two", &["--mount", &mount], "exec sleep 1000");
    pods.ok(&["app", "start", &uuid, "--app", "two"]);
    let out = exec_sh(
        &pods,
        &uuid,
        "two",
        "cat /data/given; touch /data/x 2>/dev/null && echo wrote || echo refused; hostname",
    );
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        [
            "from the host".to_owned(),
            "refused".to_owned(),
            format!("rukt-{}", &uuid[..8])
        ],
        "{out}"
    );
    assert!(!host.path().join("x").exists());
    let out = exec_sh(&pods, &uuid, "one", "uname -r");
    assert_ne!(out.stdout.trim(), super::kvm::host_release(), "{out}");

    // app update: the new pids limit holds in the app's guest cgroup.
    let forks = "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done";
    let out = exec_sh(&pods, &uuid, "two", forks);
    assert!(out.success() && !out.stderr.contains("fork"), "{out}");
    pods.ok(&["app", "update", &uuid, "--app", "two", "--pids-limit=4"]);
    let out = exec_sh(&pods, &uuid, "two", forks);
    assert!(out.stderr.contains("fork"), "{out}");

    // An app that fails ends nothing else.
    add_sh(&pods, &uuid, "failing", &[], "exit 7");
    pods.ok(&["app", "start", &uuid, "--app", "failing"]);
    assert_eq!(wait_app(&pods, &uuid, "failing", "exited")["exit_code"], 7);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app_status(&pods, &uuid, "one")["state"], "running");
    assert_eq!(app_status(&pods, &uuid, "two")["state"], "running");
    assert_eq!(pods.status(&uuid)["state"], "running");

    // Stop answers once the app has exited, with its TERM handler's code; logs kept.
    pods.ok(&["app", "stop", &uuid, "--app", "one"]);
    let st = app_status(&pods, &uuid, "one");
    assert_eq!(
        (st["state"].as_str(), st["exit_code"].as_i64()),
        (Some("exited"), Some(3)),
        "{st}"
    );
    let logs = pods.ok(&["logs", &uuid, "--app", "one"]);
    assert!(logs.contains("hello from one"), "{logs}");
    let out = pods.run(&["app", "rm", &uuid, "--app", "two"]);
    assert!(
        !out.success() && out.stderr.contains("app two is running; stop it first"),
        "{out}"
    );
    let out = pods.run(&["app", "start", &uuid, "--app", "two"]);
    assert!(out.stderr.contains("app two is already running"), "{out}");
    let out = pods.run(&["app", "start", &uuid, "--app", "nope"]);
    assert!(out.stderr.contains("has no app \"nope\""), "{out}");
    let out = pods.run(&["app", "add", &uuid, &pods.image, "--name", "two"]);
    assert!(!out.success(), "{out}");

    // Removed: gone, its root unmounted; the name is used again for a new app.
    pods.ok(&["app", "rm", &uuid, "--app", "one"]);
    assert_eq!(app_names(&pods, &uuid), ["two", "failing"]);
    let dir = pods.pod_dir(&uuid).unwrap();
    assert!(
        !dir.join("apps/one").exists(),
        "app one's root is still there"
    );
    add_sh(
        &pods,
        &uuid,
        "one",
        &[],
        "cat /etc/rukt-pod-marker; echo again",
    );
    pods.ok(&["app", "start", &uuid, "--app", "one"]);
    assert_eq!(wait_app(&pods, &uuid, "one", "exited")["exit_code"], 0);
    let logs = pods.ok(&["logs", &uuid, "--app", "one"]);
    assert!(
        logs.contains("only in the pod image\n") && logs.contains("again"),
        "{logs}"
    );

    // An app added and never started is stopped as killed; a timeout ends in SIGKILL's
    // place with TERM for sleep.
    add_sh(&pods, &uuid, "idle", &[], "true");
    pods.ok(&["app", "stop", &uuid, "--app", "idle"]);
    assert_eq!(wait_app(&pods, &uuid, "idle", "exited")["exit_code"], 137);
    pods.ok(&["app", "stop", &uuid, "--app", "two", "--timeout", "1"]);
    assert_eq!(app_status(&pods, &uuid, "two")["exit_code"], 143);
    assert_eq!(pods.status(&uuid)["state"], "running");

    attach_relays_output_and_input(&pods, &uuid);

    pods.ok(&["stop", &uuid]);
    assert_eq!(pods.wait_exited(&uuid)["state"], "exited");
    assert_vm_gone(&uuid, "after the sandbox stopped");
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.pod_dir(&uuid).is_none(), "gc left the pod");
    pods.assert_no_mounts("after gc");
}

/// `rukt app attach` to an app added with `--stdin-once`: its output from then on, stdout
/// and stderr apart, and the client's input as its stdin, whose end is the app's.
fn attach_relays_output_and_input(pods: &PodStore, uuid: &str) {
    let script =
        "echo started; while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; echo bye";
    add_sh(pods, uuid, "echo", &["--stdin-once"], script);
    pods.ok(&["app", "start", uuid, "--app", "echo"]);
    let end = Instant::now() + WAIT;
    while !pods
        .ok(&["logs", uuid, "--app", "echo"])
        .contains("started")
    {
        assert!(Instant::now() < end, "app echo never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (stdout, stderr) = pods.attach(uuid, "echo", b"one\ntwo\n", Duration::from_millis(500));
    assert_eq!(stdout, "got one\ngot two\nbye\n", "stderr: {stderr}");
    assert_eq!(stderr, "err one\nerr two\n");
    assert_eq!(wait_app(pods, uuid, "echo", "exited")["exit_code"], 0);
}

#[test]
fn a_kvm_sandbox_whose_supervisor_was_killed_is_exited_and_collected() {
    let _vm = one_vm_at_a_time();
    let pods = PodStore::with_stage1("kvm", Vec::new());
    let uuid = sandbox(&pods);
    add_sh(&pods, &uuid, "app", &[], "exec sleep 1000");
    pods.ok(&["app", "start", &uuid, "--app", "app"]);
    let pid: u32 = pods.status(&uuid)["pid"].parse().unwrap();
    rukt_tests::pods::send_signal(pid, "KILL");
    let st = pods.wait_exited(&uuid);
    assert_eq!(st["state"], "exited", "{st:?}");
    assert_vm_gone(&uuid, "after the supervisor was killed");
    let out = pods.run(&["app", "add", &uuid, &pods.image, "--name", "late"]);
    assert!(out.stderr.contains("not running"), "{out}");
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.pod_dir(&uuid).is_none());
    pods.assert_no_mounts("after gc");
}
