//! The stub stage1 driven as stage0 drives a stage1: in a pod directory laid
//! out as `<store>/pods/run/<uuid>`, `run` exec'd by a shell holding the pod
//! lock (`flock(1)`) on `RUKT_LOCK_FD`. Checks what it records and how its
//! knobs make it an old or a limited engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const STUB: &str = env!("CARGO_BIN_EXE_rukt-stage1-stub");
const UUID: &str = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

/// A pod directory with a manifest of `apps` at `version`.
struct Pod {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Pod {
    fn new(version: u32, apps: &[&str]) -> Pod {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pods/run").join(UUID);
        std::fs::create_dir_all(&dir).unwrap();
        let apps: Vec<String> = apps
            .iter()
            .map(|name| {
                format!(
                    r#"{{"name":"{name}","image":{{"name":"i","id":"sha256:a","manifest":"sha256:b","layers":[]}},
                    "exec":["/bin/true"],"working_dir":"/","uid":0,"gid":0,"environment":[]}}"#
                )
            })
            .collect();
        let manifest = format!(
            r#"{{"interface_version":{version},"uuid":"{UUID}","hostname":"h",
            "stage1":{{"flavor":"stub","path":"{STUB}","interface_versions":[1,2]}},
            "apps":[{}],"created":"now"}}"#,
            apps.join(",")
        );
        std::fs::write(dir.join("pod"), manifest).unwrap();
        Pod { _tmp: tmp, dir }
    }

    /// The stub with `args`, in the pod directory, with `env`.
    fn stub(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(STUB)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    /// `run`, exec'd with the pod lock held on descriptor 7 and descriptor
    /// 3 open for socket activation (`LISTEN_PID` the shell's, which the
    /// stub keeps by exec).
    fn run_locked(&self, env: &[(&str, &str)]) -> Output {
        let script =
            r#"exec 3</dev/null 7< .; flock -x 7; export LISTEN_PID=$$; exec "$0" run "$1""#;
        Command::new("/bin/sh")
            .args(["-c", script, STUB, UUID])
            .env("RUKT_LOCK_FD", "7")
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    fn records(&self) -> Vec<Value> {
        read_records(&self.dir.join("stage1/record.jsonl"))
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }
}

fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn speaks_both_versions_and_declares_everything_by_default() {
    let pod = Pod::new(2, &["a"]);
    let out = pod.stub(&["interface-version"], &[]);
    assert_eq!(text(&out.stdout), "1\n2\n");
    let out = pod.stub(&["features"], &[]);
    assert!(out.status.success());
    let f = rukt_contract::Stage1Features::from_json(&out.stdout).unwrap();
    assert_eq!(f.interface_versions, [1, 2]);
    assert_eq!(f.enforces.len(), rukt_contract::Feature::ALL.len());
    // Not in the pod directory's record unless asked: stage0 probes elsewhere.
    assert!(!pod.dir.join("stage1").exists());
}

#[test]
fn plays_a_version_1_or_a_limited_engine() {
    let pod = Pod::new(2, &["a"]);
    let v1 = [("RUKT_STUB_VERSIONS", "1")];
    assert_eq!(text(&pod.stub(&["interface-version"], &v1).stdout), "1\n");
    let out = pod.stub(&["features"], &v1);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("unknown entrypoint \"features\""));
    let out = pod.stub(&["app-add", "--app=a", UUID], &v1);
    assert_eq!(out.status.code(), Some(254));
    // A version 1 stage1 cannot run a version 2 manifest.
    let out = pod.run_locked(&v1);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("interface version 2"));

    let limited = [("RUKT_STUB_FEATURES", "seccomp, time-travel,net-host")];
    let out = pod.stub(&["features"], &limited);
    assert_eq!(
        text(&out.stdout),
        "{\"interface_versions\":[1,2],\"enforces\":[\"net-host\",\"seccomp\"]}\n"
    );
}

#[test]
fn run_records_what_it_was_given_and_writes_the_pod_state() {
    let pod = Pod::new(2, &["a", "b"]);
    let record = pod.dir.join("elsewhere.jsonl");
    let env = [
        ("RUKT_STUB_EXIT", "3"),
        ("RUKT_STUB_RECORD", record.to_str().unwrap()),
        ("RUKT_STUB_FEATURES", "multiple-apps"),
        ("NOTIFY_SOCKET", "/run/notify"),
        ("LISTEN_FDS", "1"),
        ("LISTEN_FDNAMES", "http"),
    ];
    let out = pod.run_locked(&env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let pid = pod.read("pid");
    assert_eq!(pod.read("status/a"), "3");
    assert_eq!(pod.read("status/b"), "3");
    assert!(pod.dir.join("ready").exists());

    let records = read_records(&record);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["entrypoint"], "run");
    assert_eq!(r["args"]["uuid"], UUID);
    assert_eq!(r["argv"], serde_json::json!(["run", UUID]));
    assert_eq!(r["pid"].to_string(), pid);
    assert_eq!(r["env"]["RUKT_LOCK_FD"], "7");
    assert_eq!(r["env"]["NOTIFY_SOCKET"], "/run/notify");
    assert_eq!(r["env"]["LISTEN_FDS"], "1");
    assert_eq!(r["env"]["LISTEN_PID"].as_str(), Some(pid.as_str()));
    assert_eq!(
        r["listen_fds"],
        serde_json::json!({"count": 1, "names": ["http"]})
    );
    let fd3 = r["fds"].as_array().unwrap().iter().find(|f| f["fd"] == 3);
    assert_eq!(fd3.unwrap()["target"], "/dev/null");
    assert_eq!(r["lock_held"], true, "{r}");
    let fd7 = r["fds"].as_array().unwrap().iter().find(|f| f["fd"] == 7);
    let pod_dir = pod.dir.canonicalize().unwrap();
    assert_eq!(fd7.unwrap()["target"], pod_dir.to_str().unwrap());
    let m = &r["manifest"];
    assert_eq!(m["interface_version"], 2);
    assert_eq!(m["revision"], 0);
    assert_eq!(m["apps"], serde_json::json!(["a", "b"]));
    assert_eq!(m["unenforced"], serde_json::json!(["hostname"]));
}

#[test]
fn run_without_the_lock_fails_after_recording_it() {
    let pod = Pod::new(1, &["a"]);
    let out = pod.stub(&["run", UUID], &[("RUKT_LOCK_FD", "7")]);
    assert_eq!(out.status.code(), Some(254));
    let r = &pod.records()[0];
    assert_eq!(r["lock_held"], false);
    assert!(
        r["lock_error"].as_str().unwrap().contains("not open"),
        "{r}"
    );
    assert!(!pod.dir.join("pid").exists());
    // A version 1 manifest runs on the version 1 stub.
    let out = pod.run_locked(&[("RUKT_STUB_VERSIONS", "1")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(pod.records()[1]["manifest"]["interface_version"], 1);
}

#[test]
fn the_other_entrypoints_record_their_arguments_and_exit_0() {
    let pod = Pod::new(2, &["a"]);
    let calls: [&[&str]; 7] = [
        &["enter", "--pid=9", "--app=a", UUID, "--", "ls", "-l"],
        &["stop", "--force", UUID],
        &["gc", "--debug", UUID],
        &["app-add", "--app=a", UUID],
        &["app-start", "--app=a", UUID],
        &["app-stop", "--timeout=2", "--app=a", UUID],
        &["app-rm", "--app=a", UUID],
    ];
    for argv in calls {
        let out = pod.stub(argv, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{argv:?}: {}",
            text(&out.stderr)
        );
    }
    let records = pod.records();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["entrypoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "enter",
            "stop",
            "gc",
            "app-add",
            "app-start",
            "app-stop",
            "app-rm"
        ]
    );
    assert_eq!(
        records[0]["args"]["command"],
        serde_json::json!(["ls", "-l"])
    );
    assert_eq!(records[1]["args"]["force"], true);
    assert_eq!(records[5]["args"]["timeout_secs"], 2);
    assert_eq!(records[6]["args"]["app"], "a");
    assert!(records.iter().all(|r| r["lock_held"].is_null()));

    let out = pod.stub(&["gc", UUID], &[("RUKT_STUB_FAIL", "gc,stop")]);
    assert_eq!(out.status.code(), Some(254));
    let out = pod.stub(&["app-rm", UUID], &[]);
    assert_eq!(out.status.code(), Some(254));
    let last = pod.records().pop().unwrap();
    assert_eq!(last["usage_error"], "missing --app");
}
