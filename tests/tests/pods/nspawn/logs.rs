//! `logs/<app>.log` of nspawn pods and `rukt logs`: both streams in order with their tags
//! (also when an app exits before either was read),
//! a 100 KiB line split into `P` pieces, the caller still getting the output, rotation at a
//! small cap, `--follow` until the pod exits, `--since/--until/--tail`, and clear errors for
//! an unknown app, a garbled line and a fly pod.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rukt_tests::pods::{HostDir, PodStore, WAIT, wait_timeout};
use serde_json::Value;

use super::app::{App, run, spawn};
use super::{only_pod, store};

/// The log file of `app` in pod `uuid`.
fn log_file(pods: &PodStore, uuid: &str, app: &str) -> std::path::PathBuf {
    pods.pod_dir(uuid)
        .expect("the pod's directory")
        .join(format!("logs/{app}.log"))
}

/// `(stream, tag, message)` of every entry of a CRI log file, checking each timestamp.
fn entries(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            let time = p.next().unwrap();
            assert!(
                time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
                "RFC 3339 with nanoseconds: {l:?}"
            );
            let (stream, tag) = (p.next().unwrap(), p.next().unwrap());
            (stream.into(), tag.into(), p.next().unwrap_or("").into())
        })
        .collect()
}

/// `rukt logs --format json ARGS UUID`, parsed.
fn json_lines(pods: &PodStore, args: &[&str], uuid: &str) -> Vec<Value> {
    let mut a = vec!["logs", "--format", "json"];
    a.extend_from_slice(args);
    a.push(uuid);
    pods.ok(&a)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn streams_in_order_long_lines_split_and_the_caller_still_served() {
    let pods = store();
    let script = "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; \
                  head -c 102400 /dev/zero | tr '\\0' x; echo; printf unended";
    let out = run(&pods, &[], &[App::sh("web", script)]);
    assert!(out.success(), "{out}");
    assert!(
        out.stdout.starts_with("out1\nout2\n"),
        "the caller's stdout: {out}"
    );
    assert!(out.stdout.ends_with("x\nunended"), "{out}");
    assert!(out.stderr.contains("err1"), "the caller's stderr: {out}");
    let uuid = only_pod(&pods);
    let text = std::fs::read_to_string(log_file(&pods, &uuid, "web")).unwrap();
    let e = entries(&text);
    let head: Vec<_> = e
        .iter()
        .take(3)
        .map(|(s, t, m)| (s.as_str(), t.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        head,
        [
            ("stdout", "F", "out1"),
            ("stderr", "F", "err1"),
            ("stdout", "F", "out2")
        ]
    );
    let long = &e[3..e.len() - 1];
    assert!(
        long.len() >= 7,
        "100 KiB in pieces of at most 16 KiB: {}",
        long.len()
    );
    assert!(
        long[..long.len() - 1]
            .iter()
            .all(|(s, t, _)| s == "stdout" && t == "P")
    );
    assert_eq!(long.last().unwrap().1, "F");
    let joined: String = long.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(joined, "x".repeat(102_400));
    assert_eq!(
        e.last().unwrap(),
        &("stdout".into(), "P".into(), "unended".into())
    );

    // rukt logs: streams kept apart, pieces joined, --tail counted in lines.
    let logs = pods.rukt().run(&["logs", &uuid]);
    assert!(logs.success(), "{logs}");
    assert_eq!(
        logs.stdout, out.stdout,
        "rukt logs prints what the caller saw"
    );
    assert_eq!(logs.stderr, "err1\n");
    let json = json_lines(&pods, &["--tail", "2"], &uuid);
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["message"].as_str().unwrap().len(), 102_400);
    assert_eq!(
        (json[1]["message"].as_str(), json[1]["partial"].as_bool()),
        (Some("unended"), Some(true))
    );
    let stamped = pods.ok(&["logs", "--timestamps", "--tail=3", &uuid]);
    assert!(
        stamped.lines().next().unwrap().ends_with("Z out2"),
        "{stamped}"
    );

    let bad = pods.rukt().run(&["logs", "--app", "nope", &uuid]);
    assert_eq!(bad.code(), Some(254), "{bad}");
    assert!(
        bad.stderr.contains("has no app \"nope\" (its apps: web)"),
        "{bad}"
    );
}

#[test]
fn a_line_to_each_stream_then_exit_is_logged_in_the_order_written() {
    // Apps that exit at once often leave both lines unread until the supervisor drains the
    // pipes after the last exit: the drain, too, must take stdout before stderr.
    let pods = store();
    let apps: Vec<App> = (0..8)
        .map(|i| App::sh(&format!("a{i}"), "echo hello; echo oops >&2"))
        .collect();
    let out = run(&pods, &[], &apps);
    assert!(out.success(), "{out}");
    let uuid = only_pod(&pods);
    for i in 0..8 {
        let text = std::fs::read_to_string(log_file(&pods, &uuid, &format!("a{i}"))).unwrap();
        let lines: Vec<_> = entries(&text)
            .into_iter()
            .map(|(s, _, m)| format!("{s} {m}"))
            .collect();
        assert_eq!(lines, ["stdout hello", "stderr oops"], "app a{i}");
    }
}

#[test]
fn rotation_at_a_small_cap_and_a_garbled_line() {
    let pods = store();
    let script =
        "i=0; while [ $i -lt 400 ]; do echo \"line $i of the rotation test\"; i=$((i+1)); done";
    let out = run(
        &pods,
        &["--log-max-size=4Ki", "--log-max-files=3"],
        &[App::sh("rot", script)],
    );
    assert!(out.success(), "{out}");
    let uuid = only_pod(&pods);
    let live = log_file(&pods, &uuid, "rot");
    let dir = live.parent().unwrap();
    for f in ["rot.log", "rot.log.1", "rot.log.2"] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0 && len <= 4096, "{f}: {len} bytes");
    }
    assert!(!dir.join("rot.log.3").exists(), "three files kept");
    let lines = messages(&json_lines(&pods, &[], &uuid));
    assert_eq!(lines.last().unwrap(), "line 399 of the rotation test");
    let first: usize = lines[0].split(' ').nth(1).unwrap().parse().unwrap();
    let expected: Vec<String> = (first..400)
        .map(|i| format!("line {i} of the rotation test"))
        .collect();
    assert_eq!(lines, expected, "what the kept files hold, contiguous");

    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    f.write_all(b"garbage here\n").unwrap();
    let bad = pods.rukt().run(&["logs", &uuid]);
    assert_eq!(bad.code(), Some(254), "{bad}");
    assert!(bad.stderr.contains("rot.log: line"), "{bad}");
    assert!(bad.stderr.contains("not a CRI log line"), "{bad}");
    assert!(!bad.stderr.contains("panicked"), "{bad}");
}

#[test]
fn follow_sees_lines_as_they_come_and_ends_when_the_pod_exits() {
    let pods = store();
    let gate = HostDir::new();
    let volume = gate.volume_flag("gate", true);
    let script = "echo first; while [ ! -e /gate/go ]; do sleep 0.05; done; echo second; sleep 0.3";
    let mut pod = spawn(
        &pods,
        &["--volume", &volume],
        &[App::sh("f", script).with(&["--mount", "volume=gate,target=/gate"])],
    );
    pod.wait_line("first");
    let mut follow = pods
        .rukt()
        .command(&["logs", "-f", &pod.uuid])
        .stdout(Stdio::piped())
        .spawn()
        .expect("rukt logs -f");
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    let opened = Instant::now();
    gate.open_gate();
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "followed as it came"
    );
    assert_eq!(pod.wait_code(), 0);
    let status = wait_timeout(&mut follow, WAIT).expect("rukt logs -f ends after the pod");
    assert!(status.success(), "{status}");
    assert!(lines.next().is_none());
}

#[test]
fn since_and_until_select_by_time() {
    let pods = store();
    let out = run(
        &pods,
        &[],
        &[App::sh("t", "echo early; sleep 1.5; echo late")],
    );
    assert!(out.success(), "{out}");
    let uuid = only_pod(&pods);
    let all = json_lines(&pods, &[], &uuid);
    assert_eq!(messages(&all), ["early", "late"]);
    let late = all[1]["time"].as_str().unwrap();
    assert_eq!(
        messages(&json_lines(&pods, &["--since", late], &uuid)),
        ["late"]
    );
    assert_eq!(
        messages(&json_lines(&pods, &["--until", late], &uuid)),
        ["early"]
    );
    assert_eq!(
        messages(&json_lines(&pods, &["--since", "1h"], &uuid)),
        ["early", "late"]
    );
    assert!(json_lines(&pods, &["--until", "1h"], &uuid).is_empty());
    let bad = pods.rukt().run(&["logs", "--since", "yesterday", &uuid]);
    assert_eq!(bad.code(), Some(2), "a usage error: {bad}");
}

#[test]
fn a_fly_pod_keeps_no_logs_and_says_why() {
    let pods = PodStore::new();
    let out = pods.sh("fly", "echo hi");
    assert!(out.success(), "{out}");
    let uuid = pods.list()[0]["uuid"].as_str().unwrap().to_owned();
    let bad = pods.rukt().run(&["logs", &uuid]);
    assert_eq!(bad.code(), Some(254), "{bad}");
    assert!(
        bad.stderr.contains("fly stage1, which keeps no logs"),
        "{bad}"
    );
    assert!(bad.stderr.contains("that is fly's point"), "{bad}");
}

#[test]
fn an_apps_pipeline_ends_when_its_reader_does() {
    // SIGPIPE is the default in the app, not the Rust supervisor's ignored one.
    let script = "yes | head -c 5 >/dev/null; echo ended";
    let pods = store();
    let out = run(&pods, &[], &[App::sh("pipe", script)]);
    assert!(out.success() && out.stdout == "ended\n", "{out}");
    let fly = PodStore::new();
    let out = fly.sh("pipe", script);
    assert!(out.success() && out.stdout == "ended\n", "fly: {out}");
}

/// The supervisor's log loop is linked into one section (`stage1-nspawn/hot.ld`, for the
/// log path's memory: docs/logs.md), so a rename, a new toolchain's symbol names or a build
/// without the linker script that leaves the section without the loop's code fails here
/// rather than only in `bench/logs.sh`'s RSS.
#[test]
fn the_log_loop_is_linked_into_one_section() {
    let binary = super::host::stage1_binary();
    let sections = std::process::Command::new("readelf")
        .arg("-SW")
        .arg(&binary)
        .output()
        .expect("readelf (binutils) runs");
    let sections = String::from_utf8_lossy(&sections.stdout);
    let (start, size) = sections
        .lines()
        .map(|l| l.replace("[ ", "["))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 5 && f[1] == ".text.rukt_hot").then(|| {
                let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
                (hex(f[3]), hex(f[5]))
            })
        })
        .unwrap_or_else(|| panic!("no .text.rukt_hot in {}:\n{sections}", binary.display()));
    let symbols = std::process::Command::new("nm")
        .args(["-C", "--defined-only"])
        .arg(&binary)
        .output()
        .expect("nm (binutils) runs");
    let inside: Vec<String> = String::from_utf8_lossy(&symbols.stdout)
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(' ')?;
            let addr = u64::from_str_radix(addr, 16).ok()?;
            (start..start + size)
                .contains(&addr)
                .then(|| rest.to_string())
        })
        .collect();
    for function in [
        "rukt_stage1_nspawn::supervise::Supervisor::supervise",
        "rukt_stage1_nspawn::logs::Output::ready",
        "rukt_stage1_nspawn::signals::Signals::wait",
        "rukt_stage1_nspawn::memory::shrink",
        "rukt_contract::runtime::applog::AppLog::record",
        "rukt_contract::logfmt::encode",
        "memchr::arch::x86_64::avx2::memchr::One::find_raw",
        // std's (v0 names, the pinned toolchain's): formatting a rotated file's name.
        "alloc::fmt::format::format_inner",
    ] {
        assert!(
            inside.iter().any(|s| s.contains(function)),
            "{function} is not in .text.rukt_hot ({} symbols there)",
            inside.len()
        );
    }
}
