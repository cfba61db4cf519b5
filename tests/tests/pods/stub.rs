//! stage0's side of the stage1 contract (version 2), against the stub stage1
//! (`tests/stub-stage1`), which records what every entrypoint was given:
//! argv, environment, open descriptors, the lock, the manifest. Each test
//! plays an engine through the stub's knobs (`RUKT_STUB_*`): a version 1
//! stage1, one that enforces little, one that holds its pod running.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rukt_tests::pods::{PodStore, RunningPod, WAIT, mounts_below};
use rukt_tests::rukt::{EXIT_USAGE, Output, run_command};
use serde_json::Value;

/// A store whose pods run on the stub, recording into one file.
struct Stub {
    pods: PodStore,
    record: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Stub {
    /// The stub with `env` (its knobs) on every rukt command.
    fn new(env: &[(&'static str, &str)]) -> Stub {
        let record = tempfile::tempdir().unwrap();
        let mut env: Vec<(&'static str, String)> =
            env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push((
            "RUKT_STUB_RECORD",
            record.path().join("record.jsonl").display().to_string(),
        ));
        Stub {
            pods: PodStore::with_stage1("stub", Vec::new()),
            record,
            env,
        }
    }

    /// `rukt ARGS...` through `sh -c PRELUDE`: the prelude opens
    /// descriptors or sets variables, then execs rukt (keeping the PID).
    fn rukt_via(&self, prelude: &str, args: &[&str]) -> Output {
        let rukt = self.pods.rukt().command(&[]);
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("{prelude}\nexec \"$@\""))
            .arg("sh")
            .arg(rukt.get_program())
            .args(rukt.get_args())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_command(cmd)
    }

    fn rukt(&self, args: &[&str]) -> Output {
        self.rukt_via(":", args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.rukt(args);
        assert!(out.success(), "rukt failed:\n{out}");
        out.stdout
    }

    /// `rukt run --stage1=stub POD_FLAGS IMAGE APP_ARGS` (via `prelude`).
    fn run(&self, prelude: &str, pod_flags: &[&str], app_args: &[&str]) -> Output {
        self.rukt_via(prelude, &self.pods.pod_args("run", pod_flags, app_args))
    }

    /// Every record line so far.
    fn records(&self) -> Vec<Value> {
        let path = self.record.path().join("record.jsonl");
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("a record line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The records of `entrypoint`.
    fn calls(&self, entrypoint: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r["entrypoint"] == entrypoint)
            .collect()
    }

    /// The one record of `entrypoint`.
    fn only(&self, entrypoint: &str) -> Value {
        let calls = self.calls(entrypoint);
        assert_eq!(calls.len(), 1, "one {entrypoint} call expected: {calls:#?}");
        calls.into_iter().next().unwrap()
    }

    /// A running pod (app `web`) that the stub holds until `rukt stop`
    /// (`RUKT_STUB_HOLD` must be among the knobs), and its UUID.
    fn held_pod(&self) -> (RunningPod, String) {
        let pod = self
            .pods
            .spawn_pod_with_env(&[], &["--name", "web"], &self.env);
        let uuid = pod.uuid.clone();
        let start = std::time::Instant::now();
        while !self
            .pods
            .pod_dir(&uuid)
            .is_some_and(|d| d.join("ready").exists())
        {
            assert!(start.elapsed() < WAIT, "pod {uuid} never got ready");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        (pod, uuid)
    }

    /// The pod directory of `uuid`.
    fn pod_dir(&self, uuid: &str) -> PathBuf {
        self.pods.pod_dir(uuid).expect("the pod directory exists")
    }
}

/// The descriptors a record lists, as (fd, target).
fn fds(record: &Value) -> Vec<(u64, String)> {
    record["fds"]
        .as_array()
        .expect("the record lists descriptors")
        .iter()
        .map(|f| {
            (
                f["fd"].as_u64().unwrap(),
                f["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("pod")).unwrap()).unwrap()
}

#[test]
fn run_gets_the_lock_the_manifest_and_nothing_else() {
    let stub = Stub::new(&[("RUKT_STUB_EXIT", "3")]);
    let uuid_file = stub.record.path().join("uuid");
    let uuid_arg = uuid_file.display().to_string();
    // A caller that leaks a descriptor without close-on-exec.
    let out = stub.run(
        "exec 7</etc/hostname",
        &["--uuid-file-save", &uuid_arg, "--hostname=h"],
        &["--name", "one", "---", &stub.pods.image, "--name", "two"],
    );
    assert_eq!(
        out.code(),
        Some(3),
        "rukt run exits with the pod's code:\n{out}"
    );
    let uuid = std::fs::read_to_string(&uuid_file)
        .unwrap()
        .trim()
        .to_string();
    let run = stub.only("run");
    assert_eq!(run["argv"], serde_json::json!(["run", uuid]));
    assert_eq!(
        run["lock_held"], true,
        "stage1 must inherit the held pod lock"
    );
    assert_eq!(run["manifest"]["interface_version"], 2);
    assert_eq!(run["manifest"]["apps"], serde_json::json!(["one", "two"]));
    assert_eq!(run["cwd"], stub.pod_dir(&uuid).display().to_string());
    let lock_fd: u64 = run["env"]["RUKT_LOCK_FD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let open = fds(&run);
    let extra: Vec<_> = open
        .iter()
        .filter(|(fd, _)| *fd > 2 && *fd != lock_fd)
        .collect();
    assert!(
        extra.is_empty(),
        "descriptors beyond stdio and the lock reached stage1: {extra:?}"
    );
    assert!(open.iter().any(|(fd, _)| *fd == lock_fd));
    // The probe ran before, outside any pod, with nothing leaked either.
    let probe = stub.only("features");
    assert!(fds(&probe).iter().all(|(fd, _)| *fd <= 2), "{probe:#}");
}

#[test]
fn socket_activation_reaches_an_engine_that_hands_it_on() {
    let stub = Stub::new(&[]);
    let prelude = "exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web \
                   NOTIFY_SOCKET=/run/test-notify";
    let out = stub.run(prelude, &[], &[]);
    assert!(out.success(), "{out}");
    let run = stub.only("run");
    assert_eq!(
        run["listen_fds"],
        serde_json::json!({"count": 1, "names": ["web"]}),
        "LISTEN_* must describe the stage1 itself (same PID after exec)"
    );
    assert!(
        fds(&run).contains(&(3, "/dev/null".to_string())),
        "fd 3 must be passed on: {run:#}"
    );
    assert_eq!(run["env"]["NOTIFY_SOCKET"], "/run/test-notify");
}

#[test]
fn socket_activation_is_not_passed_to_an_engine_that_drops_it() {
    let stub = Stub::new(&[("RUKT_STUB_FEATURES", "multiple-apps")]);
    let prelude = "exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1 NOTIFY_SOCKET=/run/x";
    let out = stub.run(prelude, &[], &[]);
    assert!(out.success(), "{out}");
    assert!(
        out.stderr
            .contains("does not hand on socket-activated descriptors"),
        "{out}"
    );
    assert!(out.stderr.contains("NOTIFY_SOCKET"), "{out}");
    let run = stub.only("run");
    assert!(fds(&run).iter().all(|(fd, _)| *fd != 3), "{run:#}");
    assert_eq!(run["env"]["LISTEN_FDS"], Value::Null);
    assert_eq!(run["env"]["NOTIFY_SOCKET"], Value::Null);
}

#[test]
fn an_engine_that_takes_on_the_cgroup_warmup_gets_a_writer_holding_nothing() {
    let stub = Stub::new(&[]);
    // A caller's descriptor, and stdout a caller may wait on: not the writer's.
    let out = stub.run("exec 7</etc/hostname", &[], &[]);
    assert!(out.success(), "{out}");
    let run = stub.only("run");
    let writer = &run["warm_writer"];
    assert_eq!(
        writer["child"], true,
        "the writer must be the engine's own child: {run:#}"
    );
    let only_procs = match writer["fds"].as_array().map(Vec::as_slice) {
        Some([fd]) => fd.as_str().is_some_and(|f| f.ends_with("/cgroup.procs")),
        _ => false,
    };
    assert!(
        only_procs,
        "the writer keeps its cgroup.procs and nothing else: {writer}"
    );
    // The probe gets none.
    assert_eq!(
        stub.only("features")["env"]["RUKT_CGROUP_WARM_PID"],
        Value::Null
    );

    let stub = Stub::new(&[("RUKT_STUB_FEATURES", "multiple-apps")]);
    let out = stub.run("", &[], &[]);
    assert!(out.success(), "{out}");
    let run = stub.only("run");
    assert_eq!(run["env"]["RUKT_CGROUP_WARM_PID"], Value::Null, "{run:#}");
    assert_eq!(run["warm_writer"], Value::Null);
}

#[test]
fn a_flag_the_engine_would_ignore_is_a_usage_error_before_anything_happens() {
    let stub = Stub::new(&[("RUKT_STUB_FEATURES", "hostname,multiple-apps")]);
    let before = stub.pods.pod_dirs();
    for (pod_flags, app_args, flag) in [
        (&[][..], &["--seccomp=mode=remove,chmod"][..], "--seccomp"),
        (&["--interactive"][..], &[][..], "--interactive"),
        (&["--memory=64Mi"][..], &[][..], "--memory"),
        (&["--net=host"][..], &[][..], "--net=host"),
        (
            &[][..],
            &["--caps-remove=chown"][..],
            "--caps-retain/--caps-remove",
        ),
        (&[][..], &["--readonly-rootfs"][..], "--readonly-rootfs"),
        (&[][..], &["--tty"][..], "--tty"),
    ] {
        let out = stub.run(":", pod_flags, app_args);
        assert_eq!(out.code(), Some(EXIT_USAGE), "{flag}:\n{out}");
        assert!(
            out.stderr.contains("the stub stage1 does not enforce") && out.stderr.contains(flag),
            "the refusal must name {flag}:\n{out}"
        );
    }
    assert!(stub.calls("run").is_empty(), "a refused pod reached stage1");
    assert_eq!(
        stub.pods.pod_dirs(),
        before,
        "a refused pod left a directory"
    );
    stub.pods.assert_no_mounts("after refused pods");
    // What it enforces goes through.
    let out = stub.run(":", &["--hostname=h"], &["---", &stub.pods.image]);
    assert!(out.success(), "{out}");
}

#[test]
fn a_version_1_stage1_runs_pods_that_use_nothing_new() {
    let stub = Stub::new(&[("RUKT_STUB_VERSIONS", "1")]);
    let uuid_file = stub.record.path().join("uuid");
    let uuid_arg = uuid_file.display().to_string();
    let out = stub.run(":", &["--uuid-file-save", &uuid_arg, "--hostname=h"], &[]);
    assert!(out.success(), "{out}");
    assert!(
        stub.calls("features").is_empty(),
        "a version 1 stage1 has no features"
    );
    assert_eq!(stub.only("run")["manifest"]["interface_version"], 1);
    let uuid = std::fs::read_to_string(&uuid_file)
        .unwrap()
        .trim()
        .to_string();
    let m = manifest(&stub.pod_dir(&uuid));
    assert_eq!(m["interface_version"], 1);
    for key in ["revision", "networks"] {
        assert!(
            m.get(key).is_none(),
            "a version 1 manifest has no {key}: {m:#}"
        );
    }
}

#[test]
fn the_stop_enter_and_gc_entrypoints_get_their_arguments() {
    let stub = Stub::new(&[("RUKT_STUB_HOLD", "1")]);
    let (mut pod, uuid) = stub.held_pod();
    let pid = std::fs::read_to_string(stub.pod_dir(&uuid).join("pid")).unwrap();
    let out = stub.rukt_via(
        "exec 3</dev/null 9</etc/hostname; export LISTEN_PID=$$ LISTEN_FDS=1 NOTIFY_SOCKET=/run/x",
        &["enter", &uuid, "--", "/bin/echo", "--pid=1", "hi"],
    );
    assert!(out.success(), "{out}");
    let enter = stub.only("enter");
    assert_eq!(
        enter["argv"],
        serde_json::json!([
            "enter",
            format!("--pid={}", pid.trim()),
            "--app=web",
            uuid,
            "--",
            "/bin/echo",
            "--pid=1",
            "hi"
        ])
    );
    assert!(fds(&enter).iter().all(|(fd, _)| *fd <= 2), "{enter:#}");
    // Only run may get systemd's protocols.
    assert_eq!(enter["env"]["LISTEN_FDS"], Value::Null, "{enter:#}");
    assert_eq!(enter["env"]["NOTIFY_SOCKET"], Value::Null, "{enter:#}");
    assert_eq!(stub.ok(&["stop", "--timeout=7", &uuid]).trim(), uuid);
    assert_eq!(
        stub.only("stop")["argv"],
        serde_json::json!(["stop", "--timeout=7", uuid])
    );
    pod.wait();
    stub.ok(&["gc", "--grace-period=0s"]);
    assert_eq!(stub.only("gc")["argv"], serde_json::json!(["gc", uuid]));
    assert!(stub.pods.pod_dir(&uuid).is_none(), "gc removes the pod");
}

#[test]
fn apps_are_added_started_stopped_and_removed_in_a_running_pod() {
    let stub = Stub::new(&[("RUKT_STUB_HOLD", "1")]);
    let (mut pod, uuid) = stub.held_pod();
    let dir = stub.pod_dir(&uuid);
    let image = stub.pods.image.clone();

    let added = stub.ok(&["app", "add", &uuid, &image, "--name", "extra", "--", "-x"]);
    assert_eq!(added.trim(), "extra");
    let m = manifest(&dir);
    assert_eq!(m["revision"], 1);
    let names: Vec<&str> = m["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "extra"]);
    let rootfs = dir.join("apps/extra/rootfs");
    assert!(
        mounts_below(&rootfs).contains(&rootfs),
        "the added app's root is mounted"
    );
    assert_eq!(
        stub.only("app-add")["argv"],
        serde_json::json!(["app-add", "--app=extra", uuid])
    );

    stub.ok(&["app", "start", &uuid, "--app", "extra"]);
    assert_eq!(
        stub.only("app-start")["argv"],
        serde_json::json!(["app-start", "--app=extra", uuid])
    );
    stub.ok(&["app", "stop", &uuid, "--app", "extra", "--force"]);
    let stop = stub.only("app-stop");
    assert_eq!(stop["args"]["force"], true);
    assert_eq!(stop["args"]["app"], "extra");
    stub.ok(&["app", "rm", &uuid, "--app", "extra"]);
    assert_eq!(
        stub.only("app-rm")["argv"],
        serde_json::json!(["app-rm", "--app=extra", uuid])
    );
    let m = manifest(&dir);
    assert_eq!(m["revision"], 2);
    assert_eq!(m["apps"].as_array().unwrap().len(), 1);
    assert!(
        !dir.join("apps/extra").exists(),
        "the removed app's directory is gone"
    );
    assert!(
        !mounts_below(&dir).iter().any(|m| m.starts_with(&rootfs)),
        "the removed app's root is still mounted"
    );

    // Unknown apps and a failing engine leave the pod as it was.
    let out = stub.rukt(&["app", "start", &uuid, "--app", "nope"]);
    assert!(
        !out.success() && out.stderr.contains("has no app \"nope\""),
        "{out}"
    );
    stub.ok(&["stop", &uuid]);
    pod.wait();
}

#[test]
fn an_app_the_engine_fails_to_add_is_rolled_back() {
    let stub = Stub::new(&[("RUKT_STUB_HOLD", "1"), ("RUKT_STUB_FAIL", "app-add")]);
    let (mut pod, uuid) = stub.held_pod();
    let dir = stub.pod_dir(&uuid);
    let out = stub.rukt(&["app", "add", &uuid, &stub.pods.image, "--name", "extra"]);
    assert!(!out.success() && out.stderr.contains("app-add"), "{out}");
    let m = manifest(&dir);
    assert_eq!(m["apps"].as_array().unwrap().len(), 1, "{m:#}");
    assert!(!dir.join("apps/extra").exists());
    let extra = dir.join("apps/extra");
    assert!(!mounts_below(&dir).iter().any(|m| m.starts_with(&extra)));
    stub.ok(&["stop", &uuid]);
    pod.wait();
}

#[test]
fn engines_without_mutable_pods_refuse_app_verbs() {
    let stub = Stub::new(&[("RUKT_STUB_HOLD", "1"), ("RUKT_STUB_VERSIONS", "1")]);
    let (mut pod, uuid) = stub.held_pod();
    let out = stub.rukt(&["app", "add", &uuid, &stub.pods.image, "--name", "extra"]);
    assert_eq!(out.code(), Some(EXIT_USAGE), "{out}");
    assert!(out.stderr.contains("rukt app add|start|stop|rm"), "{out}");
    assert!(stub.calls("app-add").is_empty());
    assert_eq!(
        manifest(&stub.pod_dir(&uuid))["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    stub.ok(&["stop", &uuid]);
    pod.wait();
}

#[test]
fn listen_fds_naming_descriptors_not_passed_are_ignored() {
    let stub = Stub::new(&[]);
    // Says two, passes one: fd 4 would be whatever rukt opens first.
    let out = stub.run(
        "exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=2",
        &[],
        &[],
    );
    assert!(out.success(), "{out}");
    assert!(
        out.stderr.contains("names descriptors that are not open"),
        "{out}"
    );
    let run = stub.only("run");
    assert_eq!(run["env"]["LISTEN_FDS"], Value::Null, "{run:#}");
    let lock_fd: u64 = run["env"]["RUKT_LOCK_FD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let extra: Vec<_> = fds(&run)
        .into_iter()
        .filter(|(fd, _)| *fd > 2 && *fd != lock_fd)
        .collect();
    assert!(extra.is_empty(), "{extra:?}");
}

#[test]
fn namespace_modes_are_refused_one_by_one() {
    let stub = Stub::new(&[("RUKT_STUB_FEATURES", "ipc-host,pid-pod")]);
    assert!(stub.run(":", &["--ipc=host", "--pid=pod"], &[]).success());
    for (flag, named) in [
        ("--ipc=private", "--ipc=private"),
        ("--pid=host", "--pid=host"),
    ] {
        let out = stub.run(":", &[flag], &[]);
        assert_eq!(out.code(), Some(EXIT_USAGE), "{out}");
        assert!(out.stderr.contains(named), "{out}");
    }
}

#[test]
fn run_prepared_refuses_what_a_replaced_engine_no_longer_enforces() {
    let mut stub = Stub::new(&[]);
    let uuid = stub.ok(&stub
        .pods
        .pod_args("prepare", &[], &["--seccomp=mode=remove,chmod"]));
    let uuid = uuid.trim().to_string();
    // The engine is replaced by one without seccomp (its probe is redone).
    std::fs::remove_dir_all(stub.pods.store().join("cache/stage0")).unwrap();
    stub.env
        .push(("RUKT_STUB_FEATURES", "multiple-apps".into()));
    let out = stub.rukt(&["run-prepared", &uuid]);
    assert_eq!(out.code(), Some(EXIT_USAGE), "{out}");
    assert!(out.stderr.contains("--seccomp"), "{out}");
    assert!(stub.calls("run").is_empty(), "the pod reached stage1");
    let dir = stub.pod_dir(&uuid);
    assert!(
        dir.starts_with(stub.pods.store().join("pods/prepared")),
        "{dir:?}"
    );
    stub.pods.assert_no_mounts("after a refused run-prepared");
}

#[test]
fn a_version_2_engine_without_mutable_pods_refuses_app_verbs() {
    let stub = Stub::new(&[
        ("RUKT_STUB_HOLD", "1"),
        ("RUKT_STUB_FEATURES", "multiple-apps"),
    ]);
    let (mut pod, uuid) = stub.held_pod();
    let out = stub.rukt(&["app", "add", &uuid, &stub.pods.image, "--name", "extra"]);
    assert_eq!(out.code(), Some(EXIT_USAGE), "{out}");
    assert!(out.stderr.contains("rukt app add|start|stop|rm"), "{out}");
    assert!(stub.calls("app-add").is_empty());
    stub.ok(&["stop", &uuid]);
    pod.wait();
}

#[test]
fn the_manifest_records_what_a_host_only_engine_really_gives() {
    let stub = Stub::new(&[("RUKT_STUB_FEATURES", "net-host,ipc-host,pid-host")]);
    let uuid_file = stub.record.path().join("uuid");
    let uuid_arg = uuid_file.display().to_string();
    let out = stub.run(":", &["--uuid-file-save", &uuid_arg], &[]);
    assert!(out.success(), "{out}");
    let uuid = std::fs::read_to_string(&uuid_file)
        .unwrap()
        .trim()
        .to_string();
    let m = manifest(&stub.pod_dir(&uuid));
    assert_eq!(m["net"], "host", "{m:#}");
    assert_eq!(m["namespaces"]["ipc"], "host", "{m:#}");
    assert_eq!(m["namespaces"]["pid"], "host", "{m:#}");
}
