//! An nspawn pod's end as the caller sees it: exit codes (the first failing app's), signals
//! (128+N), the other apps stopped when one fails, `rukt stop` within its timeout, and
//! `enter` into a running app with exactly the app's view and privileges.

use std::time::{Duration, Instant};

use rukt_tests::inspector::{self, parse_report};
use rukt_tests::pods::{APP_UID, MARKER_PATH, MARKER_TEXT, PodStore, RunningPod, send_signal};

use super::app::{App, OutDir, run, run_words, spawn, strs};
use super::host::{descendant, descendants};
use super::{caps, default_caps_without, fd_numbers, get, only_pod, run_dir, store};

/// Starts a pod whose app `name` prints `ready` and then runs `script` (shell).
fn spawn_sh(pods: &PodStore, pod_flags: &[&str], name: &str, script: &str) -> RunningPod {
    let mut pod = spawn(
        pods,
        pod_flags,
        &[App::sh(name, &format!("echo ready; {script}"))],
    );
    pod.wait_line("ready");
    pod
}

#[test]
fn exit_codes_propagate() {
    let pods = store();
    for code in [0, 3, 255] {
        let out = run(&pods, &[], &[App::sh("exit", &format!("exit {code}"))]);
        assert_eq!(out.code(), Some(code), "exit {code}:\n{out}");
    }
    let mut recorded: Vec<String> = pods
        .list()
        .iter()
        .map(|r| {
            let st = pods.wait_exited(r["uuid"].as_str().unwrap());
            get(&st, "app-exit").to_owned()
        })
        .collect();
    recorded.sort_unstable();
    assert_eq!(
        recorded,
        ["0", "255", "3"],
        "the apps' exit codes in `status`"
    );
}

#[test]
fn killed_app_gives_128_plus_the_signal() {
    let pods = store();
    // From the host: the app is PID 1 of its namespace, so only SIGKILL ends it unasked.
    let mut pod = spawn_sh(&pods, &[], "victim", "exec sleep 4246");
    let app = descendant(pod.pid(), "sleep 4246");
    send_signal(app, "KILL");
    assert_eq!(pod.wait_code(), 137, "stderr:\n{}", pod.take_stderr());
    let st = pods.wait_exited(&pod.uuid);
    assert_eq!(get(&st, "app-victim"), "137", "{st:?}");

    // From inside, with a PID namespace for the pod: the app is not its init.
    let out = run(&pods, &["--pid=pod"], &[App::sh("self", "kill -USR1 $$")]);
    assert_eq!(out.code(), Some(128 + 10), "killed by SIGUSR1:\n{out}");
}

#[test]
fn one_failing_app_stops_the_others() {
    let pods = store();
    let start = Instant::now();
    let long = "trap 'echo long got TERM; exit 0' TERM; while :; do sleep 0.05; done";
    let out = run(
        &pods,
        &[],
        &[
            App::sh("failing", "sleep 0.2; exit 5"),
            App::sh("long", long),
        ],
    );
    assert_eq!(out.code(), Some(5), "the first failing app's code:\n{out}");
    assert!(out.lines().contains(&"long got TERM"), "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "the other app was not stopped: {:?}",
        start.elapsed()
    );
    let st = pods.wait_exited(&only_pod(&pods));
    assert_eq!(get(&st, "app-failing"), "5", "{st:?}");
    assert_eq!(get(&st, "app-long"), "0", "{st:?}");
}

#[test]
fn stop_ends_the_pod_within_its_timeout() {
    let pods = store();
    // An app that handles SIGTERM ends at once.
    let mut gentle = spawn_sh(
        &pods,
        &[],
        "gentle",
        "trap 'exit 7' TERM; while :; do sleep 0.05; done",
    );
    let start = Instant::now();
    pods.ok(&["stop", &gentle.uuid]);
    assert_eq!(gentle.wait_code(), 7, "stderr:\n{}", gentle.take_stderr());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    // An app that ignores it (PID 1 without a handler) is killed when the timeout ends.
    let mut stubborn = spawn_sh(&pods, &[], "stubborn", "exec sleep 4247");
    let start = Instant::now();
    pods.ok(&["stop", "--timeout=1", &stubborn.uuid]);
    assert_eq!(
        stubborn.wait_code(),
        137,
        "stderr:\n{}",
        stubborn.take_stderr()
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stop --timeout=1 took {took:?}"
    );
    let st = pods.wait_exited(&stubborn.uuid);
    assert_eq!(get(&st, "app-stubborn"), "137", "{st:?}");

    // --force kills at once.
    let mut forced = spawn_sh(&pods, &[], "forced", "trap '' TERM; exec sleep 4248");
    let start = Instant::now();
    pods.ok(&["stop", "--force", &forced.uuid]);
    assert_eq!(forced.wait_code(), 137);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// Starts a pod with one app `name` (flags `extra`) that writes its report to `out` and
/// sleeps; returns once the report is written.
fn reporting_pod(pods: &PodStore, out: &OutDir, name: &str, extra: &[&str]) -> RunningPod {
    let app = App::report_to_out(name, "echo ready; exec sleep 4249").with(extra);
    let mut pod = spawn(pods, &["--volume", &out.volume()], &[app]);
    pod.wait_line("ready");
    pod
}

/// Runs the inspector through `rukt enter --app APP` and asserts it sees what the app saw
/// (`out`'s report): the same namespaces, capabilities, seccomp filter, no_new_privs, user,
/// cgroup, and no extra descriptors.
fn assert_enter_matches(pods: &PodStore, pod: &RunningPod, out: &OutDir, app: &str) {
    let seen = out.report(app);
    let entered = pods.run(&["enter", "--app", app, &pod.uuid, inspector::PATH, "report"]);
    assert!(entered.success(), "{entered}");
    let entered = parse_report(&entered.stdout);
    for kind in ["mnt", "net", "pid", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(
            entered["namespaces"][kind], seen["namespaces"][kind],
            "enter --app {app}: {kind} namespace"
        );
    }
    for key in [
        "uid",
        "gid",
        "groups",
        "seccomp",
        "no_new_privs",
        "hostname",
    ] {
        assert_eq!(entered[key], seen[key], "enter --app {app}: {key}");
    }
    for set in [
        "bounding",
        "permitted",
        "effective",
        "inheritable",
        "ambient",
    ] {
        assert_eq!(
            caps(&entered, set),
            caps(&seen, set),
            "enter --app {app}: capability set {set} (left: enter, right: the app)"
        );
    }
    assert_eq!(
        entered["cgroup"]["self"], seen["cgroup"]["self"],
        "enter --app {app}"
    );
    assert_eq!(
        fd_numbers(&entered),
        [0, 1, 2],
        "enter leaks descriptors: {}",
        entered["fds"]
    );
}

#[test]
fn enter_gets_the_apps_view_and_no_more() {
    let pods = store();
    let out = OutDir::new();
    let mut pod = reporting_pod(
        &pods,
        &out,
        "reduced",
        &["--caps-remove=CAP_CHOWN,CAP_KILL"],
    );
    assert_eq!(
        caps(&out.report("reduced"), "effective"),
        default_caps_without(&["CAP_CHOWN", "CAP_KILL"])
    );
    assert_enter_matches(&pods, &pod, &out, "reduced");

    // The app's root: the image's files, not the host's.
    let cat = pods.run(&["enter", &pod.uuid, "cat", MARKER_PATH]);
    assert!(cat.success(), "{cat}");
    assert_eq!(cat.lines(), [MARKER_TEXT], "{cat}");
    let code = pods.run(&["enter", &pod.uuid, "/bin/sh", "-c", "exit 9"]);
    assert_eq!(
        code.code(),
        Some(9),
        "enter exits with the command's code:\n{code}"
    );

    pods.ok(&["stop", "--force", &pod.uuid]);
    pod.wait();
    pods.wait_exited(&pod.uuid);
    let late = pods.run(&["enter", &pod.uuid, "true"]);
    assert!(
        !late.success(),
        "enter into an exited pod must fail:\n{late}"
    );
}

#[test]
fn enter_as_the_apps_user_gets_no_more_capabilities() {
    let pods = store();
    let out = OutDir::new();
    let mut pod = reporting_pod(&pods, &out, "user", &["--user", "app"]);
    assert_eq!(out.report("user")["uid"], APP_UID);
    assert_enter_matches(&pods, &pod, &out, "user");
    pods.ok(&["stop", "--force", &pod.uuid]);
    pod.wait();
}

#[test]
fn a_pod_whose_supervisor_was_killed_ends_and_gc_collects_it() {
    let pods = store();
    let mut pod = spawn_sh(&pods, &["--net=none"], "orphan", "exec sleep 1000");
    let uuid = pod.uuid.clone();
    // The supervisor's ephemeral state is on /run, as runc's: nothing of it in the store.
    let run_dir = run_dir(&uuid);
    let state = run_dir.join("containers/orphan/state.json");
    assert!(state.is_file(), "no {}", state.display());
    let pod_dir = pods.pod_dir(&uuid).unwrap();
    assert!(!pod_dir.join("stage1/containers").exists(), "{pod_dir:?}");
    // kill -9 of the supervisor (rukt run exec'd it: the pod's PID): nothing of the pod may
    // live on unsupervised holding its lock.
    send_signal(pod.pid(), "KILL");
    pod.wait();
    let st = pods.wait_exited(&uuid);
    assert_eq!(get(&st, "state"), "exited", "{st:?}");
    let out = pods.run(&["gc", "--grace-period=0s"]);
    assert!(out.success(), "{out}");
    assert!(
        pods.list().iter().all(|p| p["uuid"] != uuid.as_str()),
        "gc left the pod: {:?}\n{out}",
        pods.list()
    );
    assert!(!run_dir.exists(), "gc left {}", run_dir.display());
}

#[test]
fn gc_after_a_reboot_collects_a_pod_whose_run_directory_is_gone() {
    let pods = store();
    let out = run(&pods, &["--net=none"], &[App::sh("once", "exit 0")]);
    assert!(out.success(), "{out}");
    let uuid = only_pod(&pods);
    pods.wait_exited(&uuid);
    // What a reboot does to /run (a tmpfs): the pod directory stays, its run directory goes.
    let run_dir = run_dir(&uuid);
    assert!(run_dir.join("bundles/once/config.json").is_file());
    std::fs::remove_dir_all(&run_dir).unwrap();
    let st = pods.status(&uuid);
    assert_eq!(get(&st, "state"), "exited", "{st:?}");
    let out = pods.run(&["gc", "--grace-period=0s"]);
    assert!(out.success(), "{out}");
    assert!(pods.pod_dir(&uuid).is_none(), "gc left the pod\n{out}");
}

#[test]
fn the_cgroup_warmup_writer_stage0_starts_is_taken_over_and_ended_before_the_apps_run() {
    let pods = store();
    let mut words = vec!["--debug".to_string()];
    words.extend(run_words(
        &["--net=none"],
        &pods.image,
        &[App::sh("once", "exit 0")],
    ));
    let out = pods.run(&strs(&words));
    assert!(out.success(), "{out}");
    assert!(
        out.stderr
            .contains("took over stage0's cgroup warm-up writer"),
        "the supervisor must take over the writer stage0 started:\n{out}"
    );
    // Once an app runs, no writer is left: none of the supervisor's descendants is stage0's
    // copy (its command line is `rukt ... run --stage1=nspawn ...`; a reaped or dead one has
    // none). Killed before the apps start, it may still be on its way out on a busy host:
    // 200 ms, well before a writer left alone would stop by itself (half a second).
    let mut pod = spawn_sh(&pods, &["--net=none"], "idle", "exec sleep 4250");
    let writers = || -> Vec<_> {
        descendants(pod.pid())
            .into_iter()
            .filter(|(_, cmdline)| cmdline.contains("--stage1=nspawn"))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_millis(200);
    while !writers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let writers = writers();
    assert!(
        writers.is_empty(),
        "a writer outlived the apps' start: {writers:?}"
    );
    pods.ok(&["stop", "--force", &pod.uuid]);
    pod.wait();
}
