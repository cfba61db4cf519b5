//! What the apps of one pod share (network, UTS, IPC by default, the pod's cgroup) and what
//! they do not (mount namespace and root, PID namespace by default, their own child cgroup),
//! the `--ipc`/`--pid` options, and that two pods share nothing: loopback traffic between
//! the apps of one pod, unreachable and invisible from another pod.

use rukt_tests::inspector;
use rukt_tests::pods::HostDir;

use super::app::{App, OutDir, report, run, spawn};
use super::host::descendant;
use super::{ns, store, wait_line_times, wait_lines};

#[test]
fn apps_share_the_pods_namespaces() {
    let pods = store();
    let out = OutDir::new();
    // The pod stays up while a second one runs: namespace inodes of a pod that has ended
    // are reused by the next.
    let wait = "echo ready; while [ ! -e /out/go ]; do sleep 0.05; done";
    let apps = [
        App::report_to_out("one", wait),
        App::report_to_out("two", wait),
    ];
    let mut pod = spawn(&pods, &["--volume", &out.volume()], &apps);
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
    let apps = [
        App::report_to_out("one", "true"),
        App::report_to_out("two", "true"),
    ];
    let ran = run(
        &pods,
        &["--volume", &vol, "--pid=pod", "--ipc=private"],
        &apps,
    );
    assert!(ran.success(), "{ran}");
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
    // The cgroups as the host sees them: each app's /proc/<pid>/cgroup from outside.
    let apps = [
        App::sh("one", "echo one-ready; exec sleep 4243"),
        App::sh("two", "echo two-ready; exec sleep 4244"),
    ];
    let mut pod = spawn(&pods, &[], &apps);
    wait_lines(&mut pod, &["one-ready", "two-ready"]);
    let memory_cgroup = |cmdline: &str| {
        let pid = descendant(pod.pid(), cmdline);
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
    let server = App::inspector("server", &["listen", PORT, "1"]);
    let client = format!(
        "echo ready; while [ ! -e /gate/go ]; do sleep 0.05; done; {} connect {PORT} 10 from-client",
        inspector::PATH
    );
    let client = App::sh("client", &client).with(&["--mount", "volume=gate,target=/gate"]);
    let mut pod = spawn(
        &pods,
        &["--volume", &gate.volume_flag("gate", false)],
        &[server, client],
    );
    wait_lines(&mut pod, &[&format!("listening {PORT}"), "ready"]);

    // Another pod: its own loopback has nothing on the port, and the server is not among the
    // processes it sees.
    let outsider = format!(
        "{0} connect {PORT} 0 from-outsider; {0} report",
        inspector::PATH
    );
    let other = run(&pods, &["--pid=pod"], &[App::sh("outsider", &outsider)]);
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
