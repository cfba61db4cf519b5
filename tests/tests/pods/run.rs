//! What an app sees and what the caller gets back from `rukt run --stage1=fly`: exit codes
//! (also for signals), separate stdout and stderr, app flags (environment, working directory,
//! user by number and by name, read-only root) and the image config's defaults; fly keeps the
//! caller's PID and signals reach the app directly.

use rukt_tests::pods::{
    APP_UID, APP_USER, IMAGE_WORKDIR, MARKER_PATH, MARKER_TEXT, PodStore, shell_code,
};

#[test]
fn exit_codes_propagate() {
    let pods = PodStore::new();
    for code in [0, 1, 3, 42, 255] {
        let out = pods.sh("exit", &format!("exit {code}"));
        assert_eq!(shell_code(out.status), code, "exit {code}:\n{out}");
    }
    // Killed by a signal: the shell's view is 128+N whether rukt exits 128+N or, as with fly
    // (the rukt process *is* the app), is itself killed.
    let out = pods.sh("killed", "kill -9 $$");
    assert_eq!(shell_code(out.status), 137, "SIGKILL:\n{out}");
    let out = pods.sh("terminated", "kill -TERM $$");
    assert_eq!(shell_code(out.status), 143, "SIGTERM:\n{out}");
}

#[test]
fn stdout_and_stderr_reach_the_caller_separately() {
    let pods = PodStore::new();
    let out = pods.sh(
        "streams",
        "echo to-stdout; echo to-stderr >&2; echo more-stdout",
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["to-stdout", "more-stdout"], "stdout:\n{out}");
    assert!(out.stderr.contains("to-stderr"), "stderr:\n{out}");
    assert!(
        !out.stdout.contains("to-stderr"),
        "stderr leaked into stdout:\n{out}"
    );
}

#[test]
fn app_flags_apply() {
    let pods = PodStore::new();

    // --environment, with a pod-wide --set-env under it.
    let out = pods.run(&pods.pod_args(
        "run",
        &["--set-env", "POD_VAR=pod", "--set-env=BOTH=pod"],
        &[
            "--name",
            "env",
            "--environment",
            "APP_VAR=hello world",
            "--environment=BOTH=app",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo \"$APP_VAR|$POD_VAR|$BOTH|$IMAGE_VAR\"",
        ],
    ));
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["hello world|pod|app|from-image"], "{out}");

    // --working-dir.
    let out = pods.run_pod(&[
        "--name",
        "wd",
        "--working-dir",
        "/etc",
        "--exec",
        "/bin/pwd",
    ]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["/etc"], "{out}");

    // --user: a number the image does not know, a name from the image's /etc/passwd (with
    // its primary group), and --group.
    let out = pods.run_pod(&[
        "--name", "num", "--user", "4321", "--exec", "/bin/id", "--", "-u",
    ]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["4321"], "{out}");
    let out = pods.sh_as(APP_USER, "id -u; id -g");
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        [APP_UID.to_string(), APP_UID.to_string()],
        "{out}"
    );
    let out = pods.run_pod(&[
        "--name", "grp", "--user", "4321", "--group", "99", "--exec", "/bin/id", "--", "-g",
    ]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["99"], "{out}");

    // Without --readonly-rootfs a write to the root works, into the pod's own upper layer
    // (the next pod does not see it).
    let out = pods.sh("rw", "echo x > /etc/written && cat /etc/written");
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["x"], "{out}");
    let out = pods.sh("fresh", "test ! -e /etc/written");
    assert!(out.success(), "a pod saw another pod's write:\n{out}");
}

/// `--readonly-rootfs`: writes to the root fail, reads work, and the writable places an app
/// is given (`/tmp`, a volume) stay writable. The image, like many minimal images, has no
/// `/dev`, `/proc`, `/sys` or volume target directories of its own.
#[test]
fn readonly_rootfs_refuses_writes() {
    let pods = PodStore::new();
    let script = format!(
        "cat {MARKER_PATH}; echo x > /etc/written && echo WROTE; test ! -e /etc/written || exit 1; \
         echo t > /tmp/t && echo v > /data/v && echo writable"
    );
    let out = pods.run(&pods.pod_args(
        "run",
        &["--volume", "data,kind=empty"],
        &[
            "--name",
            "ro",
            "--readonly-rootfs",
            "--mount",
            "volume=data,target=/data",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &script,
        ],
    ));
    assert!(
        out.success(),
        "a read-only root must refuse the write and nothing else:\n{out}"
    );
    assert_eq!(out.lines(), [MARKER_TEXT, "writable"], "{out}");
    assert!(
        out.stderr.to_lowercase().contains("read-only"),
        "no read-only error from the write:\n{out}"
    );
}

#[test]
fn image_config_defaults_apply() {
    let pods = PodStore::new();
    // No --exec: the image's Cmd, Env and WorkingDir; no User: root.
    let out = pods.run(&pods.pod_args("run", &[], &["--name", "defaults"]));
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        [format!(
            "default cmd in {IMAGE_WORKDIR} with from-image as 0"
        )],
        "{out}"
    );
    // `-- ARGS` without --exec replaces Cmd.
    let out = pods.run(&pods.pod_args(
        "run",
        &[],
        &[
            "--name",
            "args",
            "--",
            "/bin/sh",
            "-c",
            "echo replaced in $PWD",
        ],
    ));
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        [format!("replaced in {IMAGE_WORKDIR}")],
        "{out}"
    );
    // The image's User applies unless --user overrides it.
    let image = pods.image_tag("pod-user");
    let out = pods.run(&[
        "run",
        "--stage1=fly",
        &image,
        "--name",
        "img-user",
        "--exec",
        "/bin/id",
        "--",
        "-u",
    ]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), [APP_UID.to_string()], "{out}");
    let out = pods.run(&[
        "run",
        "--stage1=fly",
        &image,
        "--name",
        "override",
        "--user",
        "0",
        "--exec",
        "/bin/id",
        "--",
        "-u",
    ]);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["0"], "{out}");
}

#[test]
fn fly_keeps_the_callers_pid() {
    let pods = PodStore::new();
    let mut pod = pods.spawn_pod(
        &[],
        &[
            "--name",
            "pid",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo $$; sleep 1",
        ],
    );
    let lines = pod.wait_line_where(|l| !l.is_empty());
    let printed: u32 = lines[0]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the app printed no PID: {lines:?}"));
    assert_eq!(
        printed,
        pod.pid(),
        "with fly the app must be the process the caller started"
    );
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
}

#[test]
fn signals_reach_the_app_directly() {
    let pods = PodStore::new();
    let mut pod = pods.spawn_pod(
        &[],
        &[
            "--name",
            "trap",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ],
    );
    pod.wait_line("ready");
    pod.signal("TERM");
    let code = pod.wait_code();
    let stdout = pod.stdout();
    assert_eq!(code, 7, "stdout {stdout:?}, stderr:\n{}", pod.take_stderr());
    assert!(
        stdout.iter().any(|l| l == "got TERM"),
        "the app's trap did not run: {stdout:?}"
    );
    let st = pods.wait_exited(&pod.uuid);
    assert_eq!(st.get("app-trap").map(String::as_str), Some("7"), "{st:?}");
}
