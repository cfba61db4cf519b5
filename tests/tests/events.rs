//! The event journal (`<store>/events/`) and `rukt events`, with real nspawn pods: every
//! writer's events in order with increasing `seq` (fetch, prepare, the supervisor's start and
//! exit, gc, `image rm`), `--filter` and `--format json`, a follower seeing a pod start and
//! exit at once, a torn line (a writer killed mid-write) skipped and reported while the next
//! event still lands, rotation at a tiny `RUKT_EVENTS_MAX_SIZE` losing nothing, and 20 pods
//! at once writing whole lines.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rukt_tests::pods::{PodStore, WAIT, wait_timeout};
use rukt_tests::rukt::run_command;
use serde_json::Value;

fn store() -> PodStore {
    PodStore::with_stage1("nspawn", Vec::new())
}

fn events_log(pods: &PodStore) -> PathBuf {
    pods.store().join("events/events.log")
}

/// `rukt events --stream=false --format json ARGS...`, parsed.
fn replay(pods: &PodStore, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["events", "--stream=false", "--format", "json"];
    a.extend_from_slice(args);
    pods.ok(&a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// `rukt run --stage1=nspawn IMAGE --exec /bin/sh -- -c SCRIPT` to completion; its UUID.
fn run_sh(pods: &PodStore, script: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("uuid");
    let f = file.to_str().unwrap();
    let args = pods.pod_args(
        "run",
        &["--uuid-file-save", f],
        &["--exec", "/bin/sh", "--", "-c", script],
    );
    let mut cmd = pods.rukt().command(&args);
    cmd.envs(env.iter().copied());
    let out = run_command(cmd);
    let uuid = std::fs::read_to_string(&file)
        .unwrap_or_else(|_| panic!("no UUID saved:\n{out}"))
        .trim()
        .to_owned();
    (out.code().expect("an exit code"), uuid)
}

/// `rukt events --format json` (following) in the background, its lines with the time each
/// was read.
struct Follower {
    child: Child,
    lines: Receiver<(SystemTime, Value)>,
}

impl Follower {
    fn start(pods: &PodStore, env: &[(&str, &str)]) -> Follower {
        let mut cmd = pods.rukt().command(&["events", "--format", "json"]);
        cmd.envs(env.iter().copied()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("rukt events");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line).expect("a JSON line");
                if tx.send((SystemTime::now(), v)).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Events until one matches `last` (included).
    fn until(&self, last: impl Fn(&Value) -> bool) -> Vec<(SystemTime, Value)> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, v) = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("follower: {e}; so far {got:#?}"));
            let done = last(&v);
            got.push((at, v));
            if done {
                return got;
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_timeout(&mut self.child, Duration::from_secs(10));
    }
}

fn is(v: &Value, kind: &str, uuid: &str) -> bool {
    v["type"] == kind && v["id"] == uuid
}

#[test]
fn every_writer_in_order_with_increasing_seq_and_filters() {
    let pods = store();
    let (code, uuid) = run_sh(&pods, "exit 3", &[]);
    assert_eq!(code, 3);
    pods.ok(&["gc", "--grace-period=0s"]);
    pods.ok(&["image", "rm", &pods.image_id]);
    let all = replay(&pods, &[]);
    assert_eq!(
        types(&all),
        [
            "image_imported",
            "pod_prepared",
            "app_started",
            "pod_started",
            "app_exited",
            "pod_exited",
            "pod_garbage_collected",
            "image_removed",
        ],
        "{all:#?}"
    );
    assert_eq!(seqs(&all), (1..=8).collect::<Vec<u64>>());
    let times: Vec<u64> = all.iter().map(|e| e["time_ns"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    for e in &all[1..7] {
        assert_eq!(e["id"], uuid.as_str(), "{e}");
    }
    for e in [&all[0], &all[7]] {
        assert_eq!(e["id"], pods.image_id.as_str(), "{e}");
    }
    assert_eq!(all[5]["exit_code"], 3);
    assert_eq!(all[3]["attrs"]["stage1"], "nspawn");
    // Filtered, as podman spells it.
    let exits = replay(&pods, &["--filter", "type=app_exited"]);
    assert_eq!(exits.len(), 1, "{exits:#?}");
    let exit = &exits[0];
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["oom"], false);
    assert_eq!(exit["app"], exit["name"]);
    assert!(exit["image"].as_str().is_some(), "{exit}");
    let short = &uuid[..8];
    let pod_only = replay(
        &pods,
        &[
            "--filter",
            &format!("pod={short},type=pod_started,pod_exited"),
        ],
    );
    assert_eq!(types(&pod_only), ["pod_started", "pod_exited"]);
    let image_only = replay(&pods, &["--filter", &format!("image={}", pods.image_id)]);
    assert_eq!(types(&image_only), ["image_imported", "image_removed"]);
    // The human line, and --until in the past exits after the replay even when following.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let until = format!("{:.3}", now.as_secs_f64());
    let text = pods.ok(&["events", "--until", &until, "--filter", "type=app_exited"]);
    let line = text.lines().next().unwrap_or_default();
    assert!(
        line.contains(" app_exited ") && line.contains(&uuid) && line.contains("exit_code=3"),
        "{text}"
    );
    assert!(replay(&pods, &["--since", "2030-01-01"]).is_empty());
    // A filter that is not one is a usage error.
    let bad = pods.run(&["events", "--filter", "colour=red"]);
    assert_eq!(bad.code(), Some(2), "{bad}");
    // Group-readable for the API service, written by root only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&pods.store().join("events")), 0o2750);
    assert_eq!(mode(&events_log(&pods)), 0o640);
}

#[test]
fn a_follower_sees_a_pod_start_and_exit_within_a_second() {
    let pods = store();
    let follower = Follower::start(&pods, &[]);
    // The replay (the image) first: the follower is running.
    follower.until(|v| v["type"] == "image_imported");
    let (code, uuid) = run_sh(&pods, "sleep 0.2", &[]);
    assert_eq!(code, 0);
    let got = follower.until(|v| is(v, "pod_exited", &uuid));
    let kinds: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "pod_prepared",
            "app_started",
            "pod_started",
            "app_exited",
            "pod_exited"
        ]
    );
    for (read, v) in &got {
        let written = UNIX_EPOCH + Duration::from_nanos(v["time_ns"].as_u64().unwrap());
        let lag = read.duration_since(written).unwrap_or_default();
        assert!(
            lag < Duration::from_secs(1),
            "{} read {lag:?} after it was written",
            v["type"]
        );
    }
}

#[test]
fn a_torn_line_is_skipped_and_reported_and_the_next_event_lands() {
    let pods = store();
    // A writer killed in the middle of its write(2).
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(events_log(&pods))
        .unwrap();
    log.write_all(br#"{"seq":2,"time":"2026-12-01T14:0"#)
        .unwrap();
    drop(log);
    let (code, uuid) = run_sh(&pods, "exit 0", &[]);
    assert_eq!(code, 0);
    let out = pods.run(&["events", "--stream=false", "--format", "json"]);
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stderr.matches("damaged").count(),
        1,
        "reported once: {}",
        out.stderr
    );
    assert!(out.stderr.contains("\\\"seq\\\":2"), "{}", out.stderr);
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&events), (1..=6).collect::<Vec<u64>>(), "{events:#?}");
    assert!(is(&events[5], "pod_exited", &uuid));
    // The fragment is one line of its own: every other line is whole.
    let text = std::fs::read_to_string(events_log(&pods)).unwrap();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .collect();
    assert_eq!(bad, [r#"{"seq":2,"time":"2026-12-01T14:0"#]);
}

#[test]
fn rotation_keeps_seq_continuous_and_a_follower_loses_nothing() {
    let pods = store();
    let cap = [("RUKT_EVENTS_MAX_SIZE", "1000")];
    let follower = Follower::start(&pods, &cap);
    let mut last = String::new();
    for _ in 0..4 {
        let (code, uuid) = run_sh(&pods, "exit 0", &cap);
        assert_eq!(code, 0);
        last = uuid;
    }
    let got = follower.until(|v| is(v, "pod_exited", &last));
    let seen: Vec<u64> = got
        .iter()
        .map(|(_, v)| v["seq"].as_u64().unwrap())
        .collect();
    // The image, then 4 pods of 5 events.
    assert_eq!(seen, (1..=21).collect::<Vec<u64>>());
    let dir = pods.store().join("events");
    let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len();
    assert!(size("events.log.1") < 1500 && size("events.log") < 1500);
    // A reader started now has the newest events, continuous, ending with the last.
    let kept = seqs(&replay(&pods, &[]));
    assert_eq!(kept.last(), Some(&21));
    assert!(
        kept.len() < 21 && kept.windows(2).all(|w| w[1] == w[0] + 1),
        "{kept:?}"
    );
}

#[test]
fn twenty_pods_at_once_write_whole_lines() {
    let pods = store();
    let children: Vec<Child> = (0..20)
        .map(|_| {
            let args = pods.pod_args("run", &[], &["--exec", "/bin/true"]);
            let mut cmd = pods.rukt().command(&args);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            cmd.spawn().expect("rukt run")
        })
        .collect();
    for mut c in children {
        let status = wait_timeout(&mut c, WAIT * 2).expect("the pod ended");
        assert!(status.success(), "{status}");
    }
    let text = std::fs::read_to_string(events_log(&pods)).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: a torn line {l:?}")))
        .collect();
    assert_eq!(seqs(&lines), (1..=101).collect::<Vec<u64>>());
    for kind in [
        "pod_prepared",
        "app_started",
        "pod_started",
        "app_exited",
        "pod_exited",
    ] {
        assert_eq!(
            types(&lines).iter().filter(|t| **t == kind).count(),
            20,
            "{kind}"
        );
    }
}

/// Replays until an event matches `last`, for writers that finish after the command returns
/// (fly's exit-status watcher).
fn replay_until(pods: &PodStore, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = replay(pods, &[]);
        if all.iter().any(&last) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "no such event within {WAIT:?}: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pod events of `uuid`: `(type, exit_code)`, and each one's `attrs.stage1`.
fn pod_events(all: &[Value], uuid: &str) -> Vec<(String, Option<i64>, String)> {
    all.iter()
        .filter(|e| e["id"] == uuid)
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["exit_code"].as_i64(),
                e["attrs"]["stage1"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn expected(stage1: &str, code: i64) -> Vec<(String, Option<i64>, String)> {
    [
        ("pod_prepared", None),
        ("app_started", None),
        ("pod_started", None),
        ("app_exited", Some(code)),
        ("pod_exited", Some(code)),
    ]
    .into_iter()
    .map(|(t, c)| (t.to_owned(), c, stage1.to_owned()))
    .collect()
}

#[test]
fn fly_records_the_start_before_its_exec_and_the_exit_from_its_watcher() {
    let pods = PodStore::new();
    let (code, uuid) = run_sh(&pods, "exit 4", &[]);
    assert_eq!(code, 4);
    let all = replay_until(&pods, |e| is(e, "pod_exited", &uuid));
    assert_eq!(pod_events(&all, &uuid), expected("fly", 4));
}

#[test]
fn kvm_records_the_guests_start_and_exit() {
    let _vm = crate::pods::kvm::one_vm_at_a_time();
    let pods = PodStore::with_stage1("kvm", Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("uuid");
    let args = pods.pod_args(
        "run",
        &[
            "--kvm-accel=tcg",
            "--uuid-file-save",
            file.to_str().unwrap(),
        ],
        &["--exec", "/bin/sh", "--", "-c", "exit 5"],
    );
    let out = pods.run(&args);
    assert_eq!(out.code(), Some(5), "{out}");
    let uuid = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    let all = replay(&pods, &[]);
    assert_eq!(pod_events(&all, &uuid), expected("kvm", 5));
}
