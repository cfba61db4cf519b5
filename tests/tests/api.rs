//! The read-only API service (`rukt api-service`, docs/api-service.md) driven by an
//! independent client: Python grpcio from PyPI (`scripts/setup-venv.sh`) with stubs generated
//! from the repository's .proto (`tests/py/api_client.py`), over the unix socket and loopback
//! TCP. Real nspawn pods (`--net=none`) give pods, exit codes and logs; the event journal is
//! written by the test in the fixed on-disk format (docs/api.md) until the journal writers are
//! merged. Also: run as an unprivileged member of group `rukt` (a non-member is refused, the
//! store is unchanged), 20 followers across rotations while 50 pods run and gc loops, a killed
//! service resumed by sequence number, socket activation, and bad input answered with the
//! right codes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rukt_tests::pods::{HostDir, PodStore};
use rukt_tests::rukt::{assert_store_unchanged, binary, store_snapshot};
use serde_json::{Value, json};

const VENV_PYTHON: &str = "/opt/rukt-test/venv/bin/python";
/// The group whose members may call the service, and the test's users.
const GROUP: &str = "rukt";
const MEMBER: &str = "rukt-api-test";
const OUTSIDER: &str = "rukt-api-outsider";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The generated Python stubs (once per test run), readable by every user.
fn stubs() -> &'static Path {
    static STUBS: OnceLock<tempfile::TempDir> = OnceLock::new();
    STUBS
        .get_or_init(|| {
            assert!(
                Path::new(VENV_PYTHON).exists(),
                "{VENV_PYTHON} missing: run scripts/setup-venv.sh (scripts/setup.sh test)"
            );
            let dir = tempfile::Builder::new()
                .prefix("rukt-api-stubs-")
                .tempdir()
                .unwrap();
            let out = client_cmd(None, &["gen", repo().join("proto").to_str().unwrap()])
                .arg("--stubs")
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "stub generation: {out:?}");
            Command::new("chmod")
                .args(["-R", "a+rX"])
                .arg(dir.path())
                .status()
                .unwrap();
            dir
        })
        .path()
}

/// The group and the two users (idempotent, once per run).
fn users() {
    static USERS: OnceLock<()> = OnceLock::new();
    USERS.get_or_init(|| {
        let run = |args: &[&str]| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            // 9: the group or user exists already.
            assert!(
                out.status.success() || out.status.code() == Some(9),
                "{args:?}: {out:?}"
            );
        };
        run(&["groupadd", "--system", GROUP]);
        run(&[
            "useradd",
            "--system",
            "--no-create-home",
            "-g",
            GROUP,
            MEMBER,
        ]);
        run(&["useradd", "--system", "--no-create-home", "-U", OUTSIDER]);
    });
}

/// `python api_client.py ARGS` (without `--stubs`), as `user` when given.
/// The client streaming `rpc` with `body` from the service at `target`: a follower the
/// test reads, kills or waits for.
fn stream_cmd(target: &str, rpc: &str, body: &str) -> Command {
    let mut c = client_cmd(None, &["--target", target, "--stubs"]);
    c.arg(stubs()).args(["stream", rpc, body]);
    c
}

fn client_cmd(user: Option<&str>, args: &[&str]) -> Command {
    let script = repo().join("tests/py/api_client.py");
    let mut cmd = as_user(user, Path::new(VENV_PYTHON));
    cmd.arg(script).args(args);
    cmd
}

/// `program`, run as `user` (with its groups, through setpriv) when one is given.
fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={u}"),
                &format!("--regid={}", primary_group(u)),
                "--init-groups",
                "--",
            ])
            .arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn primary_group(user: &str) -> String {
    if user == MEMBER {
        GROUP.into()
    } else {
        user.into()
    }
}

/// A running service over a store, listening on a unix socket and loopback TCP.
struct Service {
    child: Child,
    sock: PathBuf,
    tcp: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Service {
    /// `rukt --dir STORE api-service --listen unix:S --listen tcp:127.0.0.1:P`, through the
    /// `rukt` front-end, as `user` when given; waits until it answers.
    fn start(store: &Path, user: Option<&str>) -> Service {
        let dir = tempfile::Builder::new()
            .prefix("rukt-api-sock-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        Service::start_at(store, user, dir, free_port())
    }

    fn start_at(store: &Path, user: Option<&str>, dir: tempfile::TempDir, port: u16) -> Service {
        let sock = dir.path().join("api.sock");
        let tcp = format!("127.0.0.1:{port}");
        let mut cmd = as_user(user, &binary());
        cmd.arg("--dir")
            .arg(store)
            .arg("api-service")
            .arg("--listen")
            .arg(format!("unix:{}", sock.display()))
            .arg("--listen")
            .arg(format!("tcp:{tcp}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        let svc = Service {
            child,
            sock,
            tcp,
            _dir: dir,
        };
        let start = Instant::now();
        while !svc.sock.exists() || std::net::TcpStream::connect(&svc.tcp).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the service did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        svc
    }

    fn unix(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One client call's JSON lines (and whether it exited 0).
fn client(user: Option<&str>, target: &str, args: &[&str]) -> (bool, Vec<Value>) {
    let out = client_cmd(user, &["--target", target])
        .arg("--stubs")
        .arg(stubs())
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({ "raw": l })))
        .collect();
    (out.status.success(), lines)
}

/// A call that must succeed: its response.
fn call(target: &str, rpc: &str, body: Value) -> Value {
    let (ok, lines) = client(None, target, &["call", rpc, &body.to_string()]);
    assert!(ok, "{rpc} {body}: {lines:?}");
    lines.into_iter().next().unwrap()
}

/// A call that must fail: its gRPC code name.
fn error(target: &str, rpc: &str, body: Value) -> String {
    let (ok, lines) = client(None, target, &["call", rpc, &body.to_string()]);
    assert!(!ok, "{rpc} {body} succeeded: {lines:?}");
    lines[0]["error"].as_str().unwrap_or_default().to_string()
}

/// A finished stream: every message.
fn stream(target: &str, rpc: &str, body: Value) -> Vec<Value> {
    let (ok, lines) = client(
        None,
        target,
        &["stream", rpc, &body.to_string(), "--timeout", "60"],
    );
    assert!(ok, "{rpc} {body}: {lines:?}");
    lines
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Appends journal events `seqs` to `<store>/events/events.log` as the writers do (one
/// `write(2)` per line, docs/api.md; the test is the only writer, so without the writers'
/// lock), rotating to events.log.1 beyond `cap` bytes.
/// Appends `count` probe events (named `probe`, alternately pod_started and pod_exited) to
/// the store's journal through the journal's own writer, which pods share; rotating at `cap`
/// bytes. Their seqs.
fn append_events(store: &Path, count: u64, cap: u64) -> Vec<u64> {
    use rukt_events::{Event, EventType, Journal};
    let journal = Journal::open(store).unwrap().with_max_size(cap);
    (0..count)
        .map(|i| {
            let kind = if i % 2 == 0 {
                EventType::PodStarted
            } else {
                EventType::PodExited
            };
            let id = format!(
                "00000000-0000-4000-8000-{:012}",
                now_ns() % 1_000_000_000_000
            );
            journal
                .append(Event::new(kind, id).with_name("probe"))
                .unwrap()
                .seq
        })
        .collect()
}

/// The journal's last seq now.
fn last_seq(store: &Path) -> u64 {
    rukt_events::last_seq(store).unwrap()
}

fn event_seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter()
        .flat_map(|m| m["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["seq"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// An nspawn store with one pod that printed two lines and exited 3.
fn store_with_pod() -> (PodStore, String) {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let out = pods.run(&pods.pod_args(
        "run",
        &["--net=none"],
        &[
            "--name",
            "talker",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo hello; sleep 0.2; echo oops >&2; exit 3",
        ],
    ));
    assert_eq!(out.code(), Some(3), "{out}");
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_string();
    (pods, uuid)
}

#[test]
fn every_rpc_over_unix_and_tcp() {
    let (pods, uuid) = store_with_pod();
    let store = pods.store();
    // The pod's own events come first (image_imported ... pod_exited), then three probes, a
    // damaged line and a last probe.
    let pod_events = last_seq(store);
    let probes = append_events(store, 3, u64::MAX);
    let log = store.join("events/events.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"{\"seq\":\n").unwrap();
    let last = append_events(store, 1, u64::MAX)[0];
    let svc = Service::start(store, None);

    for target in [svc.unix(), svc.tcp.clone()] {
        let t = target.as_str();
        let info = call(t, "GetInfo", json!({}));
        assert_eq!(info["info"]["api_version"], "v1", "{info}");
        assert_eq!(info["info"]["last_event_seq"], last.to_string(), "{info}");
        assert_eq!(info["info"]["global_flags"]["dir"], store.to_str().unwrap());

        let list = call(t, "ListPods", json!({}));
        let pod = &list["pods"][0];
        assert_eq!(pod["id"], uuid.as_str(), "{list}");
        assert_eq!(pod["state"], "POD_STATE_EXITED", "{pod}");
        assert_eq!(pod["stage1"], "nspawn");
        assert_eq!(pod["exit_code"], 3);
        assert_eq!(pod["apps"][0]["name"], "talker");
        assert_eq!(pod["apps"][0]["exit_code"], 3);
        assert_eq!(pod["apps"][0]["state"], "APP_STATE_EXITED");
        assert_eq!(pod["apps"][0]["image_id"], pods.image_id.as_str());
        assert!(pod.get("manifest").is_none(), "not detailed: {pod}");
        let detailed = call(t, "ListPods", json!({"detail": true}));
        assert!(detailed["pods"][0]["manifest"].is_string());
        for (filter, hits) in [
            (json!({"states": ["POD_STATE_RUNNING"]}), 0),
            (
                json!({"states": ["POD_STATE_EXITED"], "app_names": ["talker"]}),
                1,
            ),
            (json!({"ids": [&uuid[..8]]}), 1),
            (json!({"image_ids": [&pods.image_id[..15]]}), 1),
            (json!({"app_names": ["nobody"]}), 0),
        ] {
            let r = call(t, "ListPods", json!({"filters": [filter]}));
            let n = r["pods"].as_array().map_or(0, Vec::len);
            assert_eq!(n, hits, "{filter}: {r}");
        }

        let inspected = call(t, "InspectPod", json!({"id": &uuid[..8]}));
        let manifest = inspected["pod"]["manifest"].as_str().unwrap();
        let manifest: Value = serde_json::from_slice(&base64_decode(manifest)).unwrap();
        assert_eq!(manifest["uuid"], uuid.as_str());

        let images = call(t, "ListImages", json!({}));
        let image = &images["images"][0];
        assert_eq!(image["id"], pods.image_id.as_str(), "{images}");
        assert!(image["size"].as_str().unwrap().parse::<u64>().unwrap() > 0);
        let by_id = call(t, "InspectImage", json!({"id": &pods.image_id[..20]}));
        assert_eq!(by_id["image"]["id"], pods.image_id.as_str());
        assert!(by_id["image"]["manifest"].is_string());
        let none = call(
            t,
            "ListImages",
            json!({"filters": [{"keywords": ["no-such-image"]}]}),
        );
        assert!(none.get("images").is_none(), "{none}");

        let logs = stream(t, "GetLogs", json!({"pod_id": uuid, "app_name": "talker"}));
        let lines: Vec<&Value> = logs
            .iter()
            .flat_map(|m| m["lines"].as_array().into_iter().flatten())
            .collect();
        let text: Vec<(String, String)> = lines
            .iter()
            .map(|l| {
                (
                    l["stream"].as_str().unwrap().to_string(),
                    String::from_utf8(base64_decode(l["message"].as_str().unwrap())).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                ("LOG_STREAM_STDOUT".into(), "hello".into()),
                ("LOG_STREAM_STDERR".into(), "oops".into())
            ]
        );
        let tail = stream(t, "GetLogs", json!({"pod_id": uuid, "lines": 1}));
        assert_eq!(tail[0]["lines"].as_array().unwrap().len(), 1, "{tail:?}");

        let events = stream(
            t,
            "ListenEvents",
            json!({"filter": {"since_seq": probes[0].to_string(), "no_follow": true}}),
        );
        assert_eq!(
            event_seqs(&events),
            [probes[1], probes[2], last],
            "{events:?}"
        );
        let damaged: u64 = events
            .iter()
            .filter_map(|m| m["damaged_lines"].as_str())
            .map(|d| d.parse::<u64>().unwrap())
            .sum();
        assert_eq!(damaged, 1, "the damaged line is reported: {events:?}");
        let started = stream(
            t,
            "ListenEvents",
            json!({"filter": {"since_seq": "0", "since_time": "1", "no_follow": true,
                              "types": ["EVENT_TYPE_POD_STARTED"]}}),
        );
        // The pod's own start and the two probes that say pod_started.
        let seqs = event_seqs(&started);
        assert_eq!(seqs.len(), 4, "{started:?}");
        assert!(
            seqs[0] <= pod_events,
            "the real pod's pod_started: {started:?}"
        );
        assert_eq!(seqs[1..], [probes[0], probes[2], last]);

        // Bad input.
        let unknown = "0123abcd-0000-4000-8000-000000000000";
        assert_eq!(error(t, "InspectPod", json!({"id": unknown})), "NOT_FOUND");
        assert_eq!(
            error(t, "InspectImage", json!({"id": "sha256:0123abcd"})),
            "NOT_FOUND"
        );
        assert_eq!(
            error(t, "InspectPod", json!({"id": "../../etc"})),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            error(t, "ListPods", json!({"filters": [{"states": [42]}]})),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            error(
                t,
                "ListPods",
                json!({"filters": [{"cgroups": ["relative"]}]})
            ),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            error(t, "ListImages", json!({"filters": [{"ids": ["xyz"]}]})),
            "INVALID_ARGUMENT"
        );
        let (ok, bad_events) = client(
            None,
            t,
            &["stream", "ListenEvents", r#"{"filter":{"types":[77]}}"#],
        );
        assert!(
            !ok && bad_events[0]["error"] == "INVALID_ARGUMENT",
            "{bad_events:?}"
        );
        let (ok, no_app) = client(
            None,
            t,
            &[
                "stream",
                "GetLogs",
                &json!({"pod_id": uuid, "app_name": "ghost"}).to_string(),
            ],
        );
        assert!(!ok && no_app[0]["error"] == "NOT_FOUND", "{no_app:?}");

        let (ok, health) = client(None, t, &["health"]);
        assert!(ok && health[0]["status"] == "SERVING", "{health:?}");
        let (ok, reflect) = client(None, t, &["reflect"]);
        assert!(ok, "{reflect:?}");
        let services = reflect[0]["services"].as_array().unwrap();
        assert!(
            services.contains(&json!("rukt.api.v1.PublicAPI"))
                && services.contains(&json!("grpc.health.v1.Health")),
            "{services:?}"
        );
    }
    // fly keeps no logs: said without asking its binary.
    let out = pods.run(&["run", "--stage1=fly", &pods.image, "--exec", "/bin/true"]);
    assert!(out.success(), "{out}");
    let fly = call(
        &svc.unix(),
        "ListPods",
        json!({"filters": [{"stage1s": ["fly"]}]}),
    );
    let fly_id = fly["pods"][0]["id"].as_str().unwrap().to_string();
    let (ok, r) = client(
        None,
        &svc.unix(),
        &["stream", "GetLogs", &json!({"pod_id": fly_id}).to_string()],
    );
    assert!(!ok && r[0]["error"] == "FAILED_PRECONDITION", "{r:?}");
}

/// Standard base64 (the JSON mapping of `bytes`).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        let take = chunk.len() * 6 / 8;
        out.extend(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

#[test]
fn logs_and_events_followed_while_a_pod_runs() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let store = pods.store();
    append_events(store, 2, u64::MAX);
    let svc = Service::start(store, None);
    let target = svc.unix();
    // Followers: probe events from now on, logs of a pod that prints over time.
    let mut events = stream_cmd(&target, "ListenEvents", r#"{"filter":{"names":["probe"]}}"#)
        .args(["--count", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut pod = pods.spawn_pod(
        &["--net=none"],
        &[
            "--name",
            "ticker",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "for i in 1 2 3; do echo tick$i; sleep 0.3; done",
        ],
    );
    let uuid = pod.uuid.clone();
    let logs = stream_cmd(
        &target,
        "GetLogs",
        &json!({"pod_id": uuid, "follow": true}).to_string(),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // Events appended while the follower waits arrive within the delivery target.
    let before = now_ns();
    let probes = append_events(store, 3, u64::MAX);
    let mut got = Vec::new();
    for line in BufReader::new(events.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v.get("end").is_some() {
            break;
        }
        got.push(v);
    }
    assert_eq!(event_seqs(&got), probes, "{got:?}");
    let first = got[0]["_received_ns"].as_u64().unwrap();
    assert!(
        first - before < 500_000_000,
        "delivered {} ms after the write",
        (first - before) / 1_000_000
    );
    let _ = events.wait();
    assert_eq!(pod.wait_code(), 0);
    // The pod's own events, as its writers recorded them, replayed by its id.
    let own = stream(
        &target,
        "ListenEvents",
        json!({"filter": {"since_seq": "0", "since_time": "1", "no_follow": true, "ids": [uuid]}}),
    );
    let types: Vec<&str> = own
        .iter()
        .flat_map(|m| m["events"].as_array().into_iter().flatten())
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "EVENT_TYPE_POD_PREPARED",
            "EVENT_TYPE_APP_STARTED",
            "EVENT_TYPE_POD_STARTED",
            "EVENT_TYPE_APP_EXITED",
            "EVENT_TYPE_POD_EXITED"
        ],
        "{own:?}"
    );
    // The log follower ends by itself once the pod exited, with every line.
    let out = logs.wait_with_output().unwrap();
    let msgs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|m| m["lines"].as_array().cloned().unwrap_or_default())
        .map(|l| String::from_utf8(base64_decode(l["message"].as_str().unwrap())).unwrap())
        .collect();
    assert_eq!(msgs, ["tick1", "tick2", "tick3"], "{out:?}");
}

#[test]
fn many_followers_across_a_rotation_then_a_killed_service_resumes() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let store = pods.store();
    let mut svc = Service::start(store, None);
    let target = svc.unix();
    const CLIENTS: usize = 20;
    // Events are there before they connect (the image's import, a probe): each prints the
    // replay's first message once it is following.
    append_events(store, 1, 4096);
    let mut followers: Vec<(Child, Vec<Value>)> = (0..CLIENTS)
        .map(|_| {
            let child = stream_cmd(
                &target,
                "ListenEvents",
                r#"{"filter":{"since_seq":"0","since_time":"1"}}"#,
            )
            .args(["--timeout", "120"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
            (child, Vec::new())
        })
        .collect();
    let mut readers: Vec<_> = followers
        .iter_mut()
        .map(|(c, _)| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    for ((_, msgs), r) in followers.iter_mut().zip(&mut readers) {
        msgs.push(serde_json::from_str(&r.next().unwrap().unwrap()).unwrap());
    }
    // While they follow: 50 pods start and exit and gc runs, all writing their events, and
    // probes are appended rotating the journal every ~4 KiB (so several times).
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let gc = s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                assert!(pods.run(&["gc", "--grace-period=0s"]).success());
            }
        });
        let starters: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..25 {
                        let out = pods.run(&pods.pod_args(
                            "run",
                            &["--net=none"],
                            &["--exec", "/bin/true"],
                        ));
                        assert!(out.success(), "{out}");
                    }
                })
            })
            .collect();
        for _ in 0..15 {
            append_events(store, 10, 4096);
            std::thread::sleep(Duration::from_millis(50));
        }
        for st in starters {
            st.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        gc.join().unwrap();
    });
    let rotated = store.join("events/events.log.1").exists();
    assert!(rotated, "the journal never rotated");
    let events = last_seq(store);
    assert!(events > 150 + 50 * 5, "only {events} events");
    for ((mut child, mut msgs), r) in followers.into_iter().zip(readers) {
        // Each saw every event once, in order, across the rotations: read until the last.
        for line in r {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let end = event_seqs(std::slice::from_ref(&v)).last() == Some(&events);
            msgs.push(v);
            if end {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let seqs = event_seqs(&msgs);
        assert_eq!(seqs, (1..=events).collect::<Vec<_>>(), "{msgs:?}");
    }

    // Killed mid-stream: a client resumes from its last seq on a restarted service.
    let mut follower = stream_cmd(
        &target,
        "ListenEvents",
        &json!({"filter": {"since_seq": events.to_string()}}).to_string(),
    )
    .args(["--timeout", "60"])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let pair = append_events(store, 2, 4096);
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        seen.extend(event_seqs(&[v]));
    }
    svc.kill();
    let _ = follower.wait();
    let more = append_events(store, 2, 4096);
    let last = *seen.last().unwrap();
    assert_eq!(seen, pair);
    let svc2 = Service::start(store, None);
    let resumed = stream(
        &svc2.unix(),
        "ListenEvents",
        json!({"filter": {"since_seq": last.to_string(), "no_follow": true}}),
    );
    assert_eq!(event_seqs(&resumed), more);
}

#[test]
fn unprivileged_member_reads_everything_outsider_is_refused_store_unchanged() {
    users();
    let (pods, uuid) = store_with_pod();
    let store = pods.store();
    append_events(store, 2, u64::MAX);
    // The store readable by the group (as docs/api-service.md sets it up), its parent
    // traversable.
    for args in [vec!["chgrp", "-R", GROUP], vec!["chmod", "-R", "g+rX"]] {
        let st = Command::new(args[0])
            .args(&args[1..])
            .arg(store)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let before = store_snapshot(store);
    let svc = Service::start(store, Some(MEMBER));
    let sock_mode = std::fs::metadata(&svc.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(sock_mode, 0o660);
    let target = svc.unix();
    let as_member = |args: &[&str]| client(Some(MEMBER), &target, args);
    for (rpc, body) in [
        ("GetInfo", json!({})),
        ("ListPods", json!({"detail": true})),
        ("InspectPod", json!({"id": uuid})),
        ("ListImages", json!({"detail": true})),
        ("InspectImage", json!({"id": pods.image_id})),
    ] {
        let (ok, r) = as_member(&["call", rpc, &body.to_string()]);
        assert!(ok, "{rpc} as {MEMBER}: {r:?}");
        if rpc == "ListPods" {
            assert_eq!(r[0]["pods"][0]["state"], "POD_STATE_EXITED", "{r:?}");
            assert_eq!(r[0]["pods"][0]["exit_code"], 3, "{r:?}");
        }
    }
    for (rpc, body) in [
        ("GetLogs", json!({"pod_id": uuid})),
        (
            "ListenEvents",
            json!({"filter": {"since_seq": "0", "since_time": "1", "no_follow": true}}),
        ),
    ] {
        let (ok, r) = as_member(&["stream", rpc, &body.to_string()]);
        assert!(ok && r.len() >= 2, "{rpc} as {MEMBER}: {r:?}");
    }
    let (ok, r) = client(Some(OUTSIDER), &target, &["call", "GetInfo", "{}"]);
    assert!(!ok, "{OUTSIDER} may not call the service: {r:?}");
    assert_eq!(r[0]["error"], "UNAVAILABLE", "{r:?}");
    drop(svc);
    assert_store_unchanged(&before, &store_snapshot(store), "a round of API calls");
}

#[test]
fn runs_and_gcs_never_fail_while_the_service_reads() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let svc = Service::start(pods.store(), None);
    let target = svc.unix();
    let done = std::sync::atomic::AtomicBool::new(false);
    let stop = || done.load(std::sync::atomic::Ordering::SeqCst);
    let (reads, gcs) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut n = 0;
            while !stop() {
                for (rpc, body) in [
                    ("ListPods", json!({"detail": true})),
                    ("ListImages", json!({})),
                ] {
                    call(&target, rpc, body);
                    n += 1;
                }
            }
            n
        });
        let gc = s.spawn(|| {
            let mut outs = Vec::new();
            while !stop() {
                outs.push(pods.run(&["gc", "--grace-period=0s"]));
                outs.push(pods.run(&["image", "gc"]));
            }
            outs
        });
        let starters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| {
                            pods.run(&pods.pod_args(
                                "run",
                                &["--net=none"],
                                &["--exec", "/bin/true"],
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for st in starters {
            for out in st.join().unwrap() {
                assert!(out.success(), "a pod failed while the service read:\n{out}");
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (reader.join().unwrap(), gc.join().unwrap())
    });
    assert!(reads > 0);
    for out in &gcs {
        assert!(out.success(), "gc failed while the service read:\n{out}");
    }
    let listed: Vec<String> = pods
        .list()
        .iter()
        .map(|p| p["uuid"].as_str().unwrap().to_string())
        .collect();
    let served = call(&target, "ListPods", json!({}));
    let mut ids: Vec<String> = served["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut listed = listed;
    listed.sort();
    assert_eq!(ids, listed, "the service lists what rukt list does");
}

#[test]
fn a_killed_service_leaves_pods_alone() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let mut svc = Service::start(pods.store(), None);
    // The app runs until the test says so (a file in a host volume), however
    // slow the calls in between are on a loaded machine.
    let go = HostDir::new();
    let volume = go.volume_flag("go", true);
    let mut pod = pods.spawn_pod(
        &["--net=none", "--volume", &volume],
        &[
            "--name",
            "sleeper",
            "--mount",
            "volume=go,target=/go",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo up; while [ ! -e /go/now ]; do sleep 0.1; done; exit 7",
        ],
    );
    let uuid = pod.uuid.clone();
    pod.wait_line("up");
    let running = call(&svc.unix(), "InspectPod", json!({"id": uuid}));
    assert_eq!(running["pod"]["state"], "POD_STATE_RUNNING", "{running}");
    assert!(running["pod"]["pid"].as_i64().unwrap() > 0, "{running}");
    assert!(
        running["pod"]["cgroup"]
            .as_str()
            .is_some_and(|c| c.starts_with('/')),
        "{running}"
    );
    // A follower mid-stream when the service is killed.
    let mut follower = stream_cmd(
        &svc.unix(),
        "GetLogs",
        &json!({"pod_id": uuid, "follow": true}).to_string(),
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    svc.kill();
    assert!(!follower.wait().unwrap().success(), "its stream broke");
    std::fs::write(go.path().join("now"), "").unwrap();
    assert_eq!(pod.wait_code(), 7, "the pod ran on and exited by itself");
    let svc = Service::start(pods.store(), None);
    let exited = call(&svc.unix(), "InspectPod", json!({"id": uuid}));
    assert_eq!(exited["pod"]["state"], "POD_STATE_EXITED", "{exited}");
    assert_eq!(exited["pod"]["exit_code"], 7, "{exited}");
}

#[test]
fn socket_activated_and_never_both() {
    let store = tempfile::Builder::new()
        .prefix("rukt-api-store-")
        .tempdir()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let activate = |sock: &Path, extra: &[&str]| {
        let mut c = Command::new("systemd-socket-activate");
        c.arg("-l")
            .arg(sock)
            .arg(binary())
            .arg("--dir")
            .arg(store.path())
            .arg("api-service")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = c
            .spawn()
            .expect("systemd-socket-activate (package systemd)");
        let start = Instant::now();
        while !sock.exists() {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    // The passed socket is served, through the front-end's exec.
    let sock = dir.path().join("passed.sock");
    let mut child = activate(&sock, &[]);
    let info = call(&format!("unix:{}", sock.display()), "GetInfo", json!({}));
    assert_eq!(info["info"]["api_version"], "v1", "{info}");
    let _ = child.kill();
    let _ = child.wait();
    // Passed sockets and --listen at once: an error, as in rkt.
    let sock = dir.path().join("both.sock");
    let other = dir.path().join("other.sock");
    let child = activate(&sock, &["--listen", &format!("unix:{}", other.display())]);
    let _ = std::os::unix::net::UnixStream::connect(&sock);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exclusive"),
        "{out:?}"
    );
    assert!(!other.exists());
}
