//! rukt under systemd without systemd as PID 1: readiness through a `NOTIFY_SOCKET` the test
//! binds (a path and an abstract `@name`), `READY=1` after the apps started (pod mode) or only
//! when the gating app says so (`--sd-notify=app`), `STOPPING=1`, `--sd-notify=ignore`; and
//! socket activation through the real `systemd-socket-activate` for nspawn, fly and kvm pods
//! (kvm's supervisor proxies the connection into the VM, and relays the gating app's readiness
//! over the control port).

use std::io::{BufRead, BufReader};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rukt_tests::inspector::{self, PATH as INSPECTOR};
use rukt_tests::pods::{HostDir, PodStore, RunningPod, WAIT, wait_timeout};

/// A datagram socket standing in for the service manager's.
pub(super) struct Manager {
    socket: UnixDatagram,
    /// `NOTIFY_SOCKET`'s value.
    name: String,
    _dir: tempfile::TempDir,
}

impl Manager {
    pub(super) fn path() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let name = path.to_str().unwrap().to_owned();
        Manager {
            socket,
            name,
            _dir: dir,
        }
    }

    fn abstract_name() -> Manager {
        let name = format!(
            "rukt-test-notify-{}-{:?}",
            std::process::id(),
            Instant::now()
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        Manager {
            socket,
            name: format!("@{name}"),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(super) fn env(&self) -> [(&'static str, String); 1] {
        [("NOTIFY_SOCKET", self.name.clone())]
    }

    /// The next datagram within `limit`, if any.
    fn next(&self, limit: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Datagrams until one has line `line`; panics after `WAIT`.
    pub(super) fn until(&self, line: &str) -> Vec<String> {
        let start = Instant::now();
        let mut got = Vec::new();
        while start.elapsed() < WAIT {
            if let Some(d) = self.next(Duration::from_millis(200)) {
                let done = d.lines().any(|l| l == line);
                got.push(d);
                if done {
                    return got;
                }
            }
        }
        panic!("no {line} within {WAIT:?}; got {got:?}");
    }
}

fn nspawn() -> PodStore {
    inspector::store("nspawn")
}

/// Spawns a pod of one app `sh -c SCRIPT` with `flags` and `env`.
fn spawn_sh(pods: &PodStore, flags: &[&str], script: &str, env: &[(&str, String)]) -> RunningPod {
    pods.spawn_pod_with_env(
        flags,
        &["--name", "app", "--exec", "/bin/sh", "--", "-c", script],
        env,
    )
}

#[test]
fn ready_after_the_apps_started_on_path_and_abstract_sockets() {
    let pods = nspawn();
    for manager in [Manager::path(), Manager::abstract_name()] {
        let mut pod = spawn_sh(
            &pods,
            &[],
            "trap 'exit 0' TERM; echo up; sleep 30 & wait",
            &manager.env(),
        );
        let got = manager.until("READY=1");
        let ready = got.last().unwrap();
        let dir = pods.pod_dir(&pod.uuid).unwrap();
        assert!(
            dir.join("ready").exists(),
            "READY=1 after the apps were started"
        );
        assert!(ready.contains(&format!("MAINPID={}", pod.pid())), "{ready}");
        assert_eq!(pods.status(&pod.uuid)["state"], "running");
        pod.wait_line("up");
        pod.signal("TERM");
        manager.until("STOPPING=1");
        pod.wait();
    }
}

#[test]
fn app_gated_readiness_relays_only_what_is_allowed() {
    let pods = nspawn();
    let manager = Manager::path();
    let gate = HostDir::new();
    let vol = gate.volume_flag("gate", true);
    let script = format!(
        "trap 'exit 0' TERM; echo up; while [ ! -e /gate/go ]; do sleep 0.05; done; \
         {INSPECTOR} notify 'MAINPID=1\\nSTATUS=warming up\\nFDSTORE=1'; \
         {INSPECTOR} notify 'READY=1\\nMAINPID=1'; sleep 30 & wait"
    );
    let mut pod = pods.spawn_pod_with_env(
        &["--sd-notify=app:web", "--volume", &vol],
        &[
            "--name",
            "web",
            "--mount",
            "volume=gate,target=/gate",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &script,
        ],
        &manager.env(),
    );
    pod.wait_line("up");
    // stage0's fetch progress only (STATUS, EXTEND_TIMEOUT_USEC), nothing of the app's yet.
    while let Some(d) = manager.next(Duration::from_millis(700)) {
        assert!(
            d.starts_with("STATUS=fetching") || d.starts_with("STATUS=starting"),
            "{d}"
        );
    }
    gate.open_gate();
    assert_eq!(manager.until("STATUS=warming up"), ["STATUS=warming up"]);
    assert_eq!(
        manager.until("READY=1"),
        ["READY=1"],
        "MAINPID is never relayed"
    );
    pod.signal("TERM");
    manager.until("STOPPING=1");
    pod.wait();

    let bad = pods.run(&pods.pod_args("run", &["--sd-notify=app:nope"], &["--name", "web"]));
    assert_eq!(bad.code(), Some(254), "{bad}");
    assert!(bad.stderr.contains("the pod has no app \"nope\""), "{bad}");
}

#[test]
fn ignore_sends_nothing() {
    let pods = nspawn();
    let manager = Manager::path();
    let mut pod = spawn_sh(
        &pods,
        &["--sd-notify=ignore"],
        "echo up; sleep 1",
        &manager.env(),
    );
    pod.wait_line("up");
    assert_eq!(pod.wait_code(), 0);
    assert_eq!(manager.next(Duration::from_millis(300)), None);
}

/// `systemd-socket-activate -l 127.0.0.1:PORT --fdname=web rukt run FLAGS APPS`, connected
/// to once: the line the app sent back (and the pod's stdout).
fn activated(pods: &PodStore, port: u16, flags: &[&str], apps: &[&str]) -> (String, String) {
    activated_with_env(pods, port, flags, apps, &[])
}

/// [`activated`] with `env` for `rukt run` (a `NOTIFY_SOCKET`).
fn activated_with_env(
    pods: &PodStore,
    port: u16,
    flags: &[&str],
    apps: &[&str],
    env: &[(&str, String)],
) -> (String, String) {
    let (line, out, _) = activated_counting(pods, port, flags, apps, env);
    (line, out)
}

/// [`activated_with_env`], also counting the bytes the app sent after its line.
fn activated_counting(
    pods: &PodStore,
    port: u16,
    flags: &[&str],
    apps: &[&str],
    env: &[(&str, String)],
) -> (String, String, usize) {
    let listen = format!("127.0.0.1:{port}");
    let mut args: Vec<String> = vec!["-l".into(), listen.clone(), "--fdname=web".into()];
    // systemd-socket-activate passes on only the variables it is told to.
    for (k, v) in env {
        args.extend(["-E".into(), format!("{k}={v}")]);
    }
    let bin = rukt_tests::rukt::binary();
    let store = pods.store().to_str().unwrap().to_owned();
    let bin = bin.to_str().unwrap();
    args.extend([bin, "--dir", &store].map(String::from));
    let run = pods.pod_args("run", flags, apps);
    args.extend(run.iter().map(|a| a.to_string()));
    let mut child = Command::new("systemd-socket-activate")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate");
    let start = Instant::now();
    let stream = loop {
        match std::net::TcpStream::connect(&listen) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("cannot connect to {listen}: {e}"),
        }
    };
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    let mut rest = Vec::new();
    let read = reader
        .read_line(&mut line)
        .and_then(|_| std::io::Read::read_to_end(&mut reader, &mut rest));
    if read.is_err() {
        let _ = child.kill();
    }
    let status = wait_timeout(&mut child, WAIT).expect("the pod ends");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(read.is_ok(), "no answer ({read:?}): {out}\n{err}");
    assert!(status.success(), "{status}: {out}\n{err}");
    (line.trim().to_owned(), out, rest.len())
}

#[test]
fn socket_activation_reaches_the_named_app_of_an_nspawn_pod() {
    let pods = nspawn();
    let other = "echo other sees LISTEN_FDS=${LISTEN_FDS:-none}; ls /proc/self/fd | wc -l";
    let apps = [
        "--name",
        "other",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        other,
        "---",
        &pods.image,
        "--name",
        "web",
        "--exec",
        INSPECTOR,
        "--",
        "serve-fd3",
    ];
    let (line, out) = activated(&pods, 47_811, &[], &apps);
    assert_eq!(
        line, "pid=1 LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=web",
        "{out}"
    );
    assert!(out.contains("other sees LISTEN_FDS=none"), "{out}");
    // stdin, stdout, stderr and the directory ls reads: nothing inherited leaks.
    assert!(out.lines().any(|l| l.trim() == "4"), "{out}");
}

#[test]
fn socket_activation_reaches_a_fly_app() {
    let pods = inspector::store("fly");
    let apps = ["--name", "web", "--exec", INSPECTOR, "--", "serve-fd3"];
    let (line, out) = activated(&pods, 47_812, &[], &apps);
    let pid: u32 = line
        .strip_prefix("pid=")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(
        line,
        format!("pid={pid} LISTEN_PID={pid} LISTEN_FDS=1 LISTEN_FDNAMES=web"),
        "{out}"
    );
}

/// The datagrams that were not stage0's fetch progress, read until none comes for a while.
fn relayed(manager: &Manager) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(d) = manager.next(Duration::from_millis(300)) {
        if !(d.starts_with("STATUS=fetching") || d.starts_with("STATUS=starting")) {
            got.push(d);
        }
    }
    got
}

#[test]
fn socket_activation_and_app_readiness_cross_into_a_kvm_pod() {
    let _vm = super::kvm::one_vm_at_a_time();
    let pods = inspector::store("kvm");
    let manager = Manager::path();
    let script = format!(
        "{INSPECTOR} notify 'READY=1\\nMAINPID=1\\nSTATUS=serving'; exec {INSPECTOR} serve-fd3 3"
    );
    let apps = ["--name", "web", "--exec", "/bin/sh", "--", "-c", &script];
    let flags = ["--kvm-accel=tcg", "--net=none", "--sd-notify=app:web"];
    let (line, out, sent) = activated_counting(&pods, 47_813, &flags, &apps, &manager.env());
    // The app is PID 1 of a PID namespace of its own in the guest, as under nspawn.
    assert_eq!(
        line, "pid=1 LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=web",
        "{out}"
    );
    // Every byte, also those still in the guest's socket when the app (and the pod) ended.
    assert_eq!(sent, 3 << 20);
    // Only the app's readiness, filtered (no MAINPID), and no READY=1 of the engine's own.
    assert_eq!(relayed(&manager), ["READY=1\nSTATUS=serving"]);
}

#[test]
fn a_fly_app_gates_readiness_itself() {
    let pods = inspector::store("fly");
    let manager = Manager::path();
    let script = format!("{INSPECTOR} notify 'READY=1\\nSTATUS=fly app'; echo done");
    let mut pod = spawn_sh(&pods, &["--sd-notify=app"], &script, &manager.env());
    pod.wait_line("done");
    assert_eq!(pod.wait_code(), 0);
    // Straight from the app (the unit's main process) through the bind-mounted socket; the
    // engine sent no READY=1 of its own.
    assert_eq!(relayed(&manager), ["READY=1\nSTATUS=fly app"]);
}

#[test]
fn a_kvm_pod_refuses_a_datagram_socket_it_cannot_proxy() {
    let pods = inspector::store("kvm");
    let listen = "127.0.0.1:47814";
    let store = pods.store().to_str().unwrap().to_owned();
    let bin = rukt_tests::rukt::binary();
    let run = pods.pod_args(
        "run",
        &["--kvm-accel=tcg", "--net=none"],
        &["--name", "web"],
    );
    let mut child = Command::new("systemd-socket-activate")
        .args(["--datagram", "-l", listen])
        .arg(bin)
        .args(["--dir", &store])
        .args(&run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    // A datagram starts the service; resend until it has.
    let status = loop {
        let _ = udp.send_to(b"hello", listen);
        if let Some(status) = wait_timeout(&mut child, Duration::from_millis(200)) {
            break status;
        }
        assert!(start.elapsed() < WAIT, "rukt did not end");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(254), "{err}");
    assert!(
        err.contains("the kvm stage1 proxies only stream sockets into the VM"),
        "{err}"
    );
}
