//! Mutable pods on nspawn (`rukt app sandbox|add|start|stop|rm|list|status|exec`): a pod
//! started with no apps takes apps while it runs; they share its namespaces like the first
//! apps of a pod would; an app's exit ends neither the pod nor the other apps; each verb
//! returns once its change happened; the verbs refuse what they cannot do, clearly; a
//! supervisor killed with SIGKILL leaves a pod that `rukt status` calls exited and gc cleans.

use std::time::{Duration, Instant};

use rukt_tests::pods::{PodStore, WAIT};
use serde_json::Value;

use super::store;

/// `rukt app sandbox --detach --stage1=nspawn FLAGS`: the new pod's UUID.
pub(super) fn sandbox(pods: &PodStore, flags: &[&str]) -> String {
    let mut args = vec!["app", "sandbox", "--detach", "--stage1=nspawn"];
    args.extend_from_slice(flags);
    pods.ok(&args).trim().to_owned()
}

/// `rukt app add UUID IMAGE --name NAME --exec /bin/sh -- -c SCRIPT`.
fn add_sh(pods: &PodStore, uuid: &str, name: &str, script: &str) {
    let image = pods.image.clone();
    let added = pods.ok(&[
        "app", "add", uuid, &image, "--name", name, "--exec", "/bin/sh", "--", "-c", script,
    ]);
    assert_eq!(added.trim(), name);
}

/// `rukt app status UUID --app NAME --format json`.
fn app_status(pods: &PodStore, uuid: &str, app: &str) -> Value {
    let text = pods.ok(&["app", "status", uuid, "--app", app, "--format", "json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `rukt app exec UUID --app NAME -- /bin/sh -c SCRIPT`'s stdout.
fn exec_sh(pods: &PodStore, uuid: &str, app: &str, script: &str) -> String {
    pods.ok(&[
        "app", "exec", uuid, "--app", app, "--", "/bin/sh", "-c", script,
    ])
}

/// Waits until `app`'s status satisfies `pred`.
pub(super) fn wait_app(
    pods: &PodStore,
    uuid: &str,
    app: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        let st = app_status(pods, uuid, app);
        if pred(&st) {
            return st;
        }
        assert!(Instant::now() < end, "app {app} never got there: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the pod, checks it exited, and lets gc remove it leaving no mount behind.
pub(super) fn stop_and_collect(pods: &PodStore, uuid: &str) {
    pods.ok(&["stop", uuid]);
    let st = pods.wait_exited(uuid);
    assert_eq!(st["state"], "exited", "{st:?}");
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.pod_dir(uuid).is_none(), "gc left the pod");
    pods.assert_no_mounts("after gc");
}

#[test]
fn a_sandbox_takes_apps_while_it_runs() {
    let pods = store();
    let uuid = sandbox(&pods, &[]);
    assert_eq!(pods.status(&uuid)["state"], "running");
    assert_eq!(
        pods.ok(&["app", "list", &uuid, "--format", "json"]).trim(),
        "[]"
    );

    // Added, not started: created, with a creation time and no start.
    add_sh(
        &pods,
        &uuid,
        "one",
        "trap 'exit 3' TERM; echo hello from one; while :; do sleep 0.05; done",
    );
    let st = app_status(&pods, &uuid, "one");
    assert_eq!(st["state"], "created", "{st}");
    assert!(st["created_ns"].as_i64().unwrap() > 0);
    assert_eq!(st["started_ns"], 0);

    pods.ok(&["app", "start", &uuid, "--app", "one"]);
    let st = app_status(&pods, &uuid, "one");
    assert_eq!(st["state"], "running", "{st}");
    assert!(st["started_ns"].as_i64().unwrap() >= st["created_ns"].as_i64().unwrap());

    // A second app shares the pod's network, UTS and IPC namespaces, not its mounts.
    add_sh(&pods, &uuid, "two", "exec sleep 1000");
    pods.ok(&["app", "start", &uuid, "--app", "two"]);
    let ns = |app: &str, kind: &str| {
        exec_sh(&pods, &uuid, app, &format!("readlink /proc/self/ns/{kind}"))
    };
    for kind in ["net", "uts", "ipc"] {
        assert_eq!(ns("one", kind), ns("two", kind), "{kind}");
    }
    assert_ne!(ns("one", "mnt"), ns("two", "mnt"));
    assert_eq!(
        exec_sh(&pods, &uuid, "two", "hostname").trim(),
        format!("rukt-{}", &uuid[..8])
    );

    // Stop answers once the app has exited, with the code its TERM handler chose.
    pods.ok(&["app", "stop", &uuid, "--app", "one"]);
    let st = app_status(&pods, &uuid, "one");
    assert_eq!(st["state"], "exited", "{st}");
    assert_eq!(st["exit_code"], 3, "{st}");
    assert!(st["finished_ns"].as_i64().unwrap() >= st["started_ns"].as_i64().unwrap());
    assert_eq!(app_status(&pods, &uuid, "two")["state"], "running");
    let logs = pods.ok(&["logs", &uuid, "--app", "one"]);
    assert!(logs.contains("hello from one"), "{logs}");

    // Removed: gone from the pod, its root unmounted; the name can be used again.
    pods.ok(&["app", "rm", &uuid, "--app", "one"]);
    let list: Value =
        serde_json::from_str(&pods.ok(&["app", "list", &uuid, "--format", "json"])).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["two"]);
    let dir = pods.pod_dir(&uuid).unwrap();
    assert!(
        !dir.join("apps/one").exists(),
        "app one's root is still there"
    );
    add_sh(&pods, &uuid, "one", "echo again");
    pods.ok(&["app", "start", &uuid, "--app", "one"]);
    let st = wait_app(&pods, &uuid, "one", |s| s["state"] == "exited");
    assert_eq!(st["exit_code"], 0, "{st}");

    // sleep ignores TERM as PID 1: killed at the timeout.
    let started = Instant::now();
    pods.ok(&["app", "stop", &uuid, "--app", "two", "--timeout", "1"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app_status(&pods, &uuid, "two")["exit_code"], 137);
    // Every app has exited; the pod still runs until it is stopped.
    assert_eq!(pods.status(&uuid)["state"], "running");
    stop_and_collect(&pods, &uuid);
}

#[test]
fn an_app_that_fails_ends_nothing_else() {
    let pods = store();
    let uuid = sandbox(&pods, &[]);
    add_sh(&pods, &uuid, "steady", "exec sleep 1000");
    add_sh(&pods, &uuid, "failing", "exit 7");
    pods.ok(&["app", "start", &uuid, "--app", "steady"]);
    pods.ok(&["app", "start", &uuid, "--app", "failing"]);
    let st = wait_app(&pods, &uuid, "failing", |s| s["state"] == "exited");
    assert_eq!(st["exit_code"], 7);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(app_status(&pods, &uuid, "steady")["state"], "running");
    assert_eq!(pods.status(&uuid)["state"], "running");
    // An added app never started is stopped as killed, and stopping the pod ends the rest.
    add_sh(&pods, &uuid, "idle", "true");
    pods.ok(&["app", "stop", &uuid, "--app", "idle"]);
    assert_eq!(app_status(&pods, &uuid, "idle")["state"], "exited");
    stop_and_collect(&pods, &uuid);
}

#[test]
fn app_verbs_refuse_what_they_cannot_do() {
    let pods = store();
    let out = pods.run(&["app", "sandbox", "--detach", "--stage1=nspawn", &pods.image]);
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(
        out.stderr
            .contains("rukt app sandbox takes the pod's flags only"),
        "{out}"
    );
    // fly does not do mutable pods: refused before anything is created.
    let out = pods.run(&["app", "sandbox", "--detach", "--stage1=fly"]);
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(out.stderr.contains("fly"), "{out}");
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());

    let uuid = sandbox(&pods, &[]);
    add_sh(&pods, &uuid, "busy", "exec sleep 1000");
    pods.ok(&["app", "start", &uuid, "--app", "busy"]);
    let out = pods.run(&["app", "rm", &uuid, "--app", "busy"]);
    assert!(
        out.stderr.contains("app busy is running; stop it first"),
        "{out}"
    );
    assert!(!out.success());
    let out = pods.run(&["app", "start", &uuid, "--app", "busy"]);
    assert!(out.stderr.contains("app busy is already running"), "{out}");
    let out = pods.run(&["app", "start", &uuid, "--app", "nope"]);
    assert!(out.stderr.contains("has no app \"nope\""), "{out}");
    let out = pods.run(&["app", "add", &uuid, &pods.image, "--name", "busy"]);
    assert!(!out.success(), "{out}");
    stop_and_collect(&pods, &uuid);
}

#[test]
fn a_sandbox_whose_supervisor_was_killed_is_exited_and_collected() {
    let pods = store();
    let uuid = sandbox(&pods, &[]);
    add_sh(&pods, &uuid, "app", "exec sleep 1000");
    pods.ok(&["app", "start", &uuid, "--app", "app"]);
    let pid: i32 = pods.status(&uuid)["pid"].parse().unwrap();
    rukt_tests::pods::send_signal(pid as u32, "KILL");
    let st = pods.wait_exited(&uuid);
    assert_eq!(st["state"], "exited", "{st:?}");
    let out = pods.run(&["app", "add", &uuid, &pods.image, "--name", "late"]);
    assert!(out.stderr.contains("not running"), "{out}");
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.pod_dir(&uuid).is_none());
    pods.assert_no_mounts("after gc");
}

#[test]
fn an_added_app_brings_its_own_host_mounts() {
    let pods = store();
    let host = rukt_tests::pods::HostDir::new();
    std::fs::write(host.path().join("given"), "from the host\n").unwrap();
    let uuid = sandbox(&pods, &[]);
    let source = host.path().display().to_string();
    let image = pods.image.clone();
    let mount = format!("source={source},target=/data,readOnly=true");
    let script =
        "cat /data/given; touch /data/x 2>/dev/null && echo wrote || echo refused; exec sleep 1000";
    pods.ok(&[
        "app", "add", &uuid, &image, "--name", "reader", "--mount", &mount, "--exec", "/bin/sh",
        "--", "-c", script,
    ]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(pods.pod_dir(&uuid).unwrap().join("pod")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["volumes"][0]["name"], "reader.mount0",
        "{manifest}"
    );
    pods.ok(&["app", "start", &uuid, "--app", "reader"]);
    let end = Instant::now() + WAIT;
    let logs = loop {
        let logs = pods.ok(&["logs", &uuid, "--app", "reader"]);
        if logs.contains("wrote") || logs.contains("refused") || Instant::now() > end {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        logs.contains("from the host") && logs.contains("refused"),
        "{logs}"
    );
    assert!(!host.path().join("x").exists());
    pods.ok(&["app", "stop", &uuid, "--app", "reader", "--force"]);
    pods.ok(&["app", "rm", &uuid, "--app", "reader"]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(pods.pod_dir(&uuid).unwrap().join("pod")).unwrap())
            .unwrap();
    assert!(
        manifest["volumes"].as_array().is_none_or(|v| v.is_empty()),
        "{manifest}"
    );
    stop_and_collect(&pods, &uuid);
}

#[test]
fn attach_gives_an_apps_output_and_takes_its_input() {
    let pods = store();
    let uuid = sandbox(&pods, &[]);
    let image = pods.image.clone();
    let script =
        "echo started; while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; echo bye";
    pods.ok(&[
        "app",
        "add",
        &uuid,
        &image,
        "--name",
        "echo",
        "--stdin-once",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    pods.ok(&["app", "start", &uuid, "--app", "echo"]);
    // Output from the moment of attaching: "started" was before.
    let (stdout, stderr) = pods.attach(&uuid, "echo", b"one\ntwo\n", Duration::from_millis(300));
    assert_eq!(stdout, "got one\ngot two\nbye\n", "stderr: {stderr}");
    assert_eq!(stderr, "err one\nerr two\n");
    // stdin_once: the end of the client's input was the app's.
    let st = wait_app(&pods, &uuid, "echo", |s| s["state"] == "exited");
    assert_eq!(st["exit_code"], 0);
    let logs = pods.ok(&["logs", &uuid, "--app", "echo"]);
    assert!(logs.contains("started") && logs.contains("bye"), "{logs}");
    // Nor is there an attach point for an app the pod does not have.
    let out = pods.run(&["app", "attach", &uuid, "--app", "nope"]);
    assert!(!out.success() && out.stderr.contains("has no app"), "{out}");
    stop_and_collect(&pods, &uuid);
}

/// The value of `file` in the cgroup of `app` of pod `uuid`, wherever the host keeps it.
fn cgroup_value(uuid: &str, app: &str, v1: &str, v2: &str) -> String {
    let (v1_dir, file) = v1.split_once('/').unwrap();
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = if unified {
        format!("/sys/fs/cgroup/rukt/{uuid}/{app}/{v2}")
    } else {
        format!("/sys/fs/cgroup/{v1_dir}/rukt/{uuid}/{app}/{file}")
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_owned()
}

#[test]
fn a_running_apps_limits_can_be_changed() {
    let pods = store();
    let uuid = sandbox(&pods, &[]);
    let image = pods.image.clone();
    pods.ok(&[
        "app",
        "add",
        &uuid,
        &image,
        "--name",
        "limited",
        "--memory=64Mi",
        "--pids-limit=20",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exec sleep 1000",
    ]);
    pods.ok(&["app", "start", &uuid, "--app", "limited"]);
    let memory = |uuid: &str| {
        cgroup_value(
            uuid,
            "limited",
            "memory/memory.limit_in_bytes",
            "memory.max",
        )
    };
    let pids = |uuid: &str| cgroup_value(uuid, "limited", "pids/pids.max", "pids.max");
    assert_eq!(memory(&uuid), (64u64 << 20).to_string());
    assert_eq!(pids(&uuid), "20");
    // Up, then down again; what is not named stays.
    pods.ok(&["app", "update", &uuid, "--app", "limited", "--memory=128Mi"]);
    assert_eq!(memory(&uuid), (128u64 << 20).to_string());
    assert_eq!(pids(&uuid), "20");
    pods.ok(&[
        "app",
        "update",
        &uuid,
        "--app",
        "limited",
        "--memory=32Mi",
        "--pids-limit=10",
    ]);
    assert_eq!(memory(&uuid), (32u64 << 20).to_string());
    assert_eq!(pids(&uuid), "10");
    assert_eq!(app_status(&pods, &uuid, "limited")["state"], "running");
    let out = pods.run(&["app", "update", &uuid, "--app", "limited", "--memory=lots"]);
    assert_eq!(out.code(), Some(2), "{out}");
    stop_and_collect(&pods, &uuid);
}
