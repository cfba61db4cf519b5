//! What the apps of one pod share (network, UTS, IPC by default, the pod's cgroup) and what
//! they do not (mount namespace and root, PID namespace by default, their own child cgroup),
//! the `--ipc`/`--pid` options, and that two pods share nothing: loopback traffic between
//! the apps of one pod, unreachable and invisible from another pod.

use rukt_tests::inspector;
use rukt_tests::pods::{HostDir, PodStore};

use super::{OutDir, ns, report, report_app, store, wait_line_times, wait_lines};

/// `rukt run POD_FLAGS IMAGE APP1 --- IMAGE APP2` to completion, asserting success.
fn run_two(pods: &PodStore, pod_flags: &[&str], app1: &[String], app2: &[String]) {
    let mut app_args: Vec<&str> = app1.iter().map(String::as_str).collect();
    app_args.extend(["---", pods.image.as_str()]);
    app_args.extend(app2.iter().map(String::as_str));
    let out = pods.run(&pods.pod_args("run", pod_flags, &app_args));
    assert!(out.success(), "{out}");
}

#[test]
fn apps_share_the_pods_namespaces() {
    let pods = store();
    let out = OutDir::new();
    let vol = out.volume();
    // The pod stays up while a second one runs: namespace inodes of a pod that has ended
    // are reused by the next.
    let wait = "echo ready; while [ ! -e /out/go ]; do sleep 0.05; done";
    let mut app_args = report_app("one", &[], wait);
    app_args.extend(["---".to_owned(), pods.image.clone()]);
    app_args.extend(report_app("two", &[], wait));
    let words: Vec<&str> = app_args.iter().map(String::as_str).collect();
    let mut pod = pods.spawn_pod(&["--volume", &vol], &words);
    wait_line_times(&mut pod, "ready", 2);
    let (one, two) = (out.report("one"), out.report("two"));
    for kind in ["net", "uts", "ipc"] {
        assert_eq!(ns(&one, kind), ns(&two, kind), "apps of a pod share {kind}");
    }
    for kind in ["mnt", "pid"] {
        assert_ne!(
            ns(&one, kind),
            ns(&two, kind),
            "each app has its own {kind}"
        );
    }
    assert_eq!(one["hostname"], two["hostname"]);
    assert_eq!(one["hostname"], format!("rukt-{}", &pod.uuid[..8]));

    // A second pod shares none of them.
    let other = report(&pods, &[], "other", &[]);
    for kind in ["net", "uts", "ipc", "pid", "mnt"] {
        assert_ne!(ns(&one, kind), ns(&other, kind), "two pods share {kind}");
    }
    out.0.open_gate();
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
}

#[test]
fn pid_and_ipc_options() {
    let pods = store();
    let out = OutDir::new();
    let vol = out.volume();
    run_two(
        &pods,
        &["--volume", &vol, "--pid=pod", "--ipc=private"],
        &report_app("one", &[], "true"),
        &report_app("two", &[], "true"),
    );
    let (one, two) = (out.report("one"), out.report("two"));
    assert_eq!(
        ns(&one, "pid"),
        ns(&two, "pid"),
        "--pid=pod: one PID namespace"
    );
    assert_ne!(ns(&one, "ipc"), ns(&two, "ipc"), "--ipc=private: one each");
    assert_eq!(ns(&one, "net"), ns(&two, "net"));
}

#[test]
fn apps_get_child_cgroups_of_the_pod() {
    let pods = store();
    let out = OutDir::new();
    let vol = out.volume();
    // The cgroups as the host sees them: each app's /proc/<pid>/cgroup from outside.
    let mut pod = pods.spawn_pod(
        &["--volume", &vol],
        &[
            "--name",
            "one",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo one-ready; exec sleep 4243",
            "---",
            &pods.image,
            "--name",
            "two",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo two-ready; exec sleep 4244",
        ],
    );
    wait_lines(&mut pod, &["one-ready", "two-ready"]);
    let memory_cgroup = |cmdline: &str| {
        let pid = super::descendant(pod.pid(), cmdline);
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == "memory"))
            })
            .or_else(|| text.lines().find(|l| l.starts_with("0::")))
            .unwrap_or_else(|| panic!("no memory cgroup: {text}"))
            .to_owned();
        line.rsplit(':').next().unwrap().to_owned()
    };
    let one = memory_cgroup("sleep 4243");
    let two = memory_cgroup("sleep 4244");
    assert!(
        one.ends_with(&format!("/rukt/{}/one", pod.uuid)),
        "app one's cgroup: {one}"
    );
    assert!(
        two.ends_with(&format!("/rukt/{}/two", pod.uuid)),
        "app two's cgroup: {two}"
    );
    pods.ok(&["stop", "--force", &pod.uuid]);
    pod.wait();
}

#[test]
fn apps_talk_over_the_pods_loopback_other_pods_cannot() {
    const PORT: &str = "47123";
    let pods = store();
    let gate = HostDir::new();
    let gate_vol = gate.volume_flag("gate", false);
    let server = format!("{} listen {PORT} 1", inspector::PATH);
    let client = format!(
        "echo ready; while [ ! -e /gate/go ]; do sleep 0.05; done; {} connect {PORT} 10 from-client",
        inspector::PATH
    );
    let mut pod = pods.spawn_pod(
        &["--volume", &gate_vol],
        &[
            "--name",
            "server",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &server,
            "---",
            &pods.image,
            "--name",
            "client",
            "--mount",
            "volume=gate,target=/gate",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &client,
        ],
    );
    wait_lines(&mut pod, &[&format!("listening {PORT}"), "ready"]);

    // Another pod: its own loopback has nothing on the port, and the server is not among the
    // processes it sees.
    let other = pods.run(&pods.pod_args(
        "run",
        &["--pid=pod"],
        &[
            "--name",
            "outsider",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &format!(
                "{0} connect {PORT} 0 from-outsider; {0} report",
                inspector::PATH
            ),
        ],
    ));
    assert!(other.success(), "{other}");
    assert!(
        other.lines().contains(&"error ECONNREFUSED"),
        "another pod reached the server:\n{other}"
    );
    let seen = inspector::parse_report(&other.stdout);
    let listed = seen["processes"].to_string();
    assert!(
        !listed.contains("listen"),
        "another pod sees the server process: {listed}"
    );
    // Nor does the host reach it on its loopback.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", PORT.parse::<u16>().unwrap())).is_err(),
        "the host reached a pod's loopback server"
    );

    gate.open_gate();
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    let stdout = pod.stdout();
    assert!(
        stdout.iter().any(|l| l == "reply pong from-client"),
        "{stdout:?}"
    );
    assert!(
        stdout.iter().any(|l| l == "served from-client"),
        "{stdout:?}"
    );
}
