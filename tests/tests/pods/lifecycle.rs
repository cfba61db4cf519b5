//! A pod's life as `list`, `status` and `cat-manifest` show it; `prepare` + `run-prepared`;
//! `gc` and `rm`; a pod whose process is killed with SIGKILL; `stop`; `enter`.

use std::path::Path;
use std::time::{Duration, Instant};

use rukt_tests::pods::{
    APP_UID, APP_USER, HostDir, MARKER_PATH, MARKER_TEXT, PodStore, QUITS_ON_SIGQUIT, RunningPod,
    gate_script, mounts_below, wait_timeout,
};
use serde_json::Value;

/// Starts a pod (app `name`) running `gate_script(code)` with `gate` mounted at `/gate`, and
/// waits until it prints `ready`.
fn gated_pod(pods: &PodStore, gate: &HostDir, name: &str, code: i32, extra: &[&str]) -> RunningPod {
    let vol = gate.volume_flag("gate", false);
    let script = gate_script(code);
    let mut args = vec!["--name", name, "--mount", "volume=gate,target=/gate"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--exec", "/bin/sh", "--", "-c", &script]);
    let mut pod = pods.spawn_pod(&["--volume", &vol], &args);
    pod.wait_line("ready");
    pod
}

fn get<'a>(st: &'a std::collections::BTreeMap<String, String>, key: &str) -> &'a str {
    st.get(key).map_or("<missing>", String::as_str)
}

#[test]
fn list_and_status_follow_a_pod() {
    let pods = PodStore::new();
    let gate = HostDir::new();
    let mut pod = gated_pod(&pods, &gate, "sleeper", 5, &[]);
    let uuid = pod.uuid.clone();

    let rec = pods.listed(&uuid).expect("a running pod is listed");
    assert_eq!(rec["state"], "running", "{rec:#}");
    assert_eq!(rec["stage1"], "fly", "{rec:#}");
    assert_eq!(rec["pid"], pod.pid(), "list shows the pod's PID: {rec:#}");
    assert_eq!(rec["apps"][0]["name"], "sleeper", "{rec:#}");
    assert!(rec["apps"][0]["exit_code"].is_null(), "{rec:#}");
    assert!(
        rec["created"].is_string() && rec["started"].is_string(),
        "{rec:#}"
    );

    let st = pods.status(&uuid);
    assert_eq!(get(&st, "state"), "running", "{st:?}");
    assert_eq!(get(&st, "pid"), pod.pid().to_string(), "{st:?}");
    assert_eq!(get(&st, "exited"), "false", "{st:?}");
    // A unique prefix names the pod too.
    assert_eq!(get(&pods.status(&uuid[..8]), "state"), "running");

    let table = pods.ok(&["list", "--no-legend"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&uuid[..8]))
        .unwrap_or_else(|| panic!("pod {uuid} not in `list`:\n{table}"));
    assert!(row.contains("running") && row.contains("sleeper"), "{row}");
    assert!(pods.ok(&["list", "--full", "--no-legend"]).contains(&uuid));

    let manifest: Value =
        serde_json::from_str(&pods.ok(&["cat-manifest", &uuid])).expect("cat-manifest prints JSON");
    assert_eq!(manifest["uuid"], uuid.as_str());
    assert_eq!(manifest["apps"][0]["name"], "sleeper");
    assert_eq!(
        manifest["apps"][0]["exec"],
        serde_json::json!(["/bin/sh", "-c", gate_script(5)]),
        "{manifest:#}"
    );

    // `status --wait` blocks while the pod runs and returns once it has exited.
    let mut waiter = pods.rukt().command(&["status", "--wait=30s", &uuid]);
    let mut waiter = waiter.spawn().expect("spawning status --wait");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "status --wait returned while the pod was running"
    );
    gate.open_gate();
    let status = wait_timeout(&mut waiter, Duration::from_secs(30))
        .expect("status --wait did not return after the pod exited");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut waiter.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "status --wait: {status}\n{stdout}");
    let st = rukt_tests::pods::parse_status(&stdout);
    assert_eq!(get(&st, "state"), "exited", "{stdout}");
    assert_eq!(get(&st, "exited"), "true", "{stdout}");
    assert_eq!(get(&st, "app-sleeper"), "5", "{stdout}");
    assert_eq!(get(&st, "pid"), pod.pid().to_string(), "{stdout}");
    assert_eq!(pod.wait_code(), 5, "stderr:\n{}", pod.take_stderr());

    let rec = pods.listed(&uuid).expect("an exited pod stays listed");
    assert_eq!(rec["state"], "exited", "{rec:#}");
    assert_eq!(rec["apps"][0]["exit_code"], 5, "{rec:#}");
    let table = pods.ok(&["list"]);
    assert!(table.contains("exited (exit 5)"), "{table}");
}

#[test]
fn prepare_then_run_prepared() {
    let pods = PodStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let uuid_file = tmp.path().join("uuid");
    let uuid_arg = uuid_file.to_str().unwrap();
    let out = pods.ok(&pods.pod_args(
        "prepare",
        &["--uuid-file-save", uuid_arg],
        &[
            "--name",
            "prep",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo ran; exit 4",
        ],
    ));
    let uuid = out.trim().to_owned();
    assert!(
        uuid.len() == 36 && uuid.chars().filter(|c| *c == '-').count() == 4,
        "prepare must print the UUID alone: {out:?}"
    );
    assert_eq!(std::fs::read_to_string(&uuid_file).unwrap().trim(), uuid);
    let list = pods.list();
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["uuid"], uuid.as_str());
    assert_eq!(list[0]["state"], "prepared");
    assert_eq!(get(&pods.status(&uuid), "state"), "prepared");
    pods.assert_no_mounts("a prepared pod");

    let out = pods.run(&["run-prepared", "--uuid-file", uuid_arg]);
    assert_eq!(out.code(), Some(4), "{out}");
    assert_eq!(out.lines(), ["ran"], "{out}");
    // fly records the exit code just after the pod's lock is released: wait for it.
    let st = pods.wait_exited(&uuid);
    assert_eq!(get(&st, "app-prep"), "4", "{st:?}");
    let list = pods.list();
    assert_eq!(
        list.len(),
        1,
        "run-prepared runs the prepared pod, no new one: {list:#?}"
    );
    assert_eq!(list[0]["uuid"], uuid.as_str());
    assert_eq!(list[0]["state"], "exited");
    assert_eq!(list[0]["apps"][0]["exit_code"], 4, "{list:#?}");

    let again = pods.run(&["run-prepared", &uuid]);
    assert!(!again.success(), "a pod runs once:\n{again}");
    assert!(!again.stderr.trim().is_empty(), "{again}");
    assert!(!again.stdout.contains("ran"), "{again}");
    let rec = pods.listed(&uuid).unwrap();
    assert_eq!(rec["state"], "exited", "{rec:#}");
    assert_eq!(rec["apps"][0]["exit_code"], 4, "{rec:#}");

    // A UUID prefix works for run-prepared as well.
    let second = pods
        .ok(&pods.pod_args("prepare", &[], &["--name", "second", "--exec", "/bin/true"]))
        .trim()
        .to_owned();
    let prefix_len = (1..=36).find(|n| !uuid.starts_with(&second[..*n])).unwrap();
    let out = pods.run(&["run-prepared", &second[..prefix_len]]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(pods.listed(&second).unwrap()["state"], "exited");
}

#[test]
fn gc_marks_then_sweeps_and_rm_refuses_running_pods() {
    let pods = PodStore::new();
    let out = pods.sh("done", "exit 0");
    assert!(out.success(), "{out}");
    let list = pods.list();
    assert_eq!(list.len(), 1, "{list:#?}");
    let uuid = list[0]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["state"], "exited");
    pods.wait_exited(&uuid);

    // Default grace period: marked, kept.
    pods.ok(&["gc"]);
    let rec = pods
        .listed(&uuid)
        .expect("gc with the default grace period keeps the pod");
    assert_eq!(rec["state"], "exited-garbage", "{rec:#}");
    assert!(rec["gc_marked"].is_string(), "{rec:#}");
    assert_eq!(rec["apps"][0]["exit_code"], 0, "{rec:#}");
    assert!(pods.pod_dir(&uuid).is_some());

    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.list().is_empty(), "{:#?}", pods.list());
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());
    pods.assert_no_mounts("after gc --grace-period=0s");

    // rm of a running pod is refused and changes nothing.
    let gate = HostDir::new();
    let mut pod = gated_pod(&pods, &gate, "busy", 0, &[]);
    let pod_dir = pods.pod_dir(&pod.uuid).unwrap();
    assert!(
        !mounts_below(&pod_dir).is_empty(),
        "a running fly pod has its root mounted below its directory"
    );
    let out = pods.run(&["rm", &pod.uuid]);
    assert!(!out.success(), "rm of a running pod must fail:\n{out}");
    assert!(out.stderr.contains("running"), "{out}");
    assert_eq!(get(&pods.status(&pod.uuid), "state"), "running");
    pods.ok(&["gc", "--grace-period=0s"]);
    assert_eq!(
        get(&pods.status(&pod.uuid), "state"),
        "running",
        "gc must skip running pods"
    );
    assert!(
        !mounts_below(&pod_dir).is_empty(),
        "gc unmounted a running pod"
    );

    gate.open_gate();
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    pods.wait_exited(&pod.uuid);
    let out = pods.ok(&["rm", &pod.uuid]);
    assert_eq!(out.trim(), pod.uuid);
    assert!(pods.list().is_empty(), "{:#?}", pods.list());
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());
    pods.assert_no_mounts("after rm");
    // The host directory a volume came from is untouched.
    assert!(gate.path().join("go").is_file());
}

#[test]
fn killed_pod_is_collected_and_others_are_undisturbed() {
    let pods = PodStore::new();
    let gate = HostDir::new();
    let mut victim = pods.sleeping_pod(&[], "victim");
    let mut bystander = gated_pod(&pods, &gate, "bystander", 0, &[]);
    let victim_dir = pods.pod_dir(&victim.uuid).unwrap();
    let bystander_dir = pods.pod_dir(&bystander.uuid).unwrap();

    victim.child.kill().unwrap(); // SIGKILL to the app, which is the rukt process
    assert_eq!(victim.wait_code(), 137);
    let st = pods.wait_exited(&victim.uuid);
    assert_eq!(get(&st, "state"), "exited", "{st:?}");
    assert_eq!(get(&st, "app-victim"), "137", "{st:?}");
    assert_eq!(pods.listed(&victim.uuid).unwrap()["state"], "exited");

    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(
        pods.listed(&victim.uuid).is_none(),
        "gc left the killed pod"
    );
    assert!(!victim_dir.exists() && pods.pod_dir(&victim.uuid).is_none());
    let left = mounts_below(&victim_dir);
    assert!(left.is_empty(), "mounts of the killed pod left: {left:?}");

    let st = pods.status(&bystander.uuid);
    assert_eq!(get(&st, "state"), "running", "{st:?}");
    assert_eq!(get(&st, "pid"), bystander.pid().to_string(), "{st:?}");
    assert!(
        !mounts_below(&bystander_dir).is_empty(),
        "gc unmounted the other, running pod"
    );
    assert!(bystander.child.try_wait().unwrap().is_none());
    gate.open_gate();
    assert_eq!(
        bystander.wait_code(),
        0,
        "stderr:\n{}",
        bystander.take_stderr()
    );
    let st = pods.wait_exited(&bystander.uuid);
    assert_eq!(get(&st, "app-bystander"), "0", "{st:?}");

    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.list().is_empty());
    pods.assert_no_mounts("after the final gc");
}

#[test]
fn stop_terminates_and_force_kills() {
    let pods = PodStore::new();
    let mut gentle = pods.sleeping_pod(&[], "gentle");
    let mut forced = pods.sleeping_pod(&[], "forced");

    let start = Instant::now();
    let out = pods.ok(&["stop", &gentle.uuid]);
    assert!(out.contains(&gentle.uuid), "{out}");
    assert_eq!(gentle.wait_code(), 143);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        start.elapsed()
    );
    let st = pods.wait_exited(&gentle.uuid);
    assert_eq!(get(&st, "app-gentle"), "143", "{st:?}");

    let out = pods.ok(&["stop", "--force", &forced.uuid]);
    assert!(out.contains(&forced.uuid), "{out}");
    assert_eq!(forced.wait_code(), 137);
    let st = pods.wait_exited(&forced.uuid);
    assert_eq!(get(&st, "app-forced"), "137", "{st:?}");
}

#[test]
fn stop_sends_the_apps_stop_signal_first() {
    let pods = PodStore::new();
    let app = [
        "--name",
        "q",
        "--stop-signal=3",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
    ];
    let mut pod = pods.spawn_pod(&[], &[&app[..], &[QUITS_ON_SIGQUIT]].concat());
    pod.wait_line("ready");
    pod.stop_expecting_quit(&pods, 30);
}

/// A pod started from a shell script's background job (`rukt run ... &`: the shell ignores
/// SIGINT and SIGQUIT in it) or under `nohup`: its apps still start with every signal at its
/// default, so they can trap their stop signal. Under fly and nspawn.
#[test]
fn apps_start_with_every_signal_at_its_default() {
    for stage1 in ["fly", "nspawn"] {
        let pods = PodStore::with_stage1(stage1, Vec::new());
        // Not the shell's own status (it ignores SIGQUIT itself): a command it forks.
        let script = "grep SigIgn /proc/self/status; exit 0";
        let args = pods.pod_args(
            "run",
            &[],
            &["--name", "sigs", "--exec", "/bin/sh", "--", "-c", script],
        );
        let inner = pods.rukt().command(&args);
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "trap '' HUP INT QUIT; exec \"$0\" \"$@\""])
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in inner.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        let out = rukt_tests::rukt::run_command(cmd);
        assert!(out.success(), "{stage1}: {out}");
        assert_eq!(
            out.stdout.trim(),
            "SigIgn:\t0000000000000000",
            "{stage1}: {out}"
        );
    }
}

#[test]
fn enter_runs_in_the_apps_root_as_its_user() {
    let pods = PodStore::new();
    let gate = HostDir::new();
    assert!(
        !Path::new(MARKER_PATH).exists(),
        "the host must not have {MARKER_PATH} for this test to mean anything"
    );
    let mut pod = gated_pod(&pods, &gate, "entered", 0, &["--user", APP_USER]);

    let out = pods.run(&["enter", &pod.uuid, "cat", MARKER_PATH]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), [MARKER_TEXT], "{out}");
    let out = pods.run(&["enter", "--app", "entered", &pod.uuid, "id", "-u"]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), [APP_UID.to_string()], "{out}");
    // Volumes are there too, and enter exits with the command's code.
    std::fs::write(gate.path().join("hello"), "hello from the host\n").unwrap();
    let out = pods.run(&[
        "enter",
        &pod.uuid,
        "/bin/sh",
        "-c",
        "cat /gate/hello; exit 9",
    ]);
    assert_eq!(
        out.code(),
        Some(9),
        "enter exits with the command's code:\n{out}"
    );
    assert_eq!(out.lines(), ["hello from the host"], "{out}");
    let out = pods.run(&["enter", "--app", "nosuchapp", &pod.uuid, "true"]);
    assert!(!out.success() && out.stderr.contains("nosuchapp"), "{out}");

    gate.open_gate();
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    pods.wait_exited(&pod.uuid);
    let out = pods.run(&["enter", &pod.uuid, "true"]);
    assert!(!out.success(), "enter into an exited pod must fail:\n{out}");
    assert!(!out.stderr.trim().is_empty(), "{out}");
}

/// `--dir` as a relative path (a user working next to their store): pods run, and `gc` and
/// `rm` still find and undo their mounts.
#[test]
fn relative_store_dir() {
    let pods = PodStore::new();
    let out = pods.run_relative(&pods.pod_args(
        "run",
        &[],
        &["--name", "rel", "--exec", "/bin/sh", "--", "-c", "exit 6"],
    ));
    assert_eq!(out.code(), Some(6), "{out}");
    let out = pods.run_relative(&["gc", "--grace-period=0s"]);
    assert!(out.success(), "gc with a relative --dir:\n{out}");
    assert!(pods.list().is_empty(), "{:#?}", pods.list());
    pods.assert_no_mounts("after gc with a relative --dir");

    let out =
        pods.run_relative(&pods.pod_args("run", &[], &["--name", "rel", "--exec", "/bin/true"]));
    assert!(out.success(), "{out}");
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_owned();
    let out = pods.run_relative(&["rm", &uuid]);
    assert!(out.success(), "rm with a relative --dir:\n{out}");
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());
    pods.assert_no_mounts("after rm with a relative --dir");
}
