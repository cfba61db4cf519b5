//! The journal end to end on a temporary store: sequence numbers across
//! rotation, torn-line repair, damaged lines skipped and reported, a
//! follower across rotations, and concurrent appenders (threads and
//! processes) whose lines never interleave.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rukt_events::{Entry, Event, EventType, Follower, Journal, Reader};

fn pod_event(i: usize) -> Event {
    Event::new(EventType::PodStarted, format!("pod-{i:04}")).with_attr("n", i.to_string())
}

fn events(entries: Vec<Entry>) -> Vec<Event> {
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Event(e) => Some(e),
            Entry::Damaged(_) => None,
        })
        .collect()
}

fn seqs(store: &Path) -> Vec<u64> {
    events(Reader::open(store).read().unwrap())
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[test]
fn seq_continues_from_the_last_line_and_lines_have_the_modes() {
    let store = tempfile::tempdir().unwrap();
    let j = Journal::open(store.path()).unwrap();
    let a = j.append(pod_event(1)).unwrap();
    let b = Journal::open(store.path())
        .unwrap()
        .append(pod_event(2))
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert!(b.time_ns >= a.time_ns);
    assert!(a.time.ends_with('Z') && a.time.len() == "2026-12-01T14:00:00.123456789Z".len());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = store.path().join("events");
    assert_eq!(mode(&dir), 0o2750);
    assert_eq!(mode(&dir.join("events.log")), 0o640);
    assert_eq!(mode(&dir.join("events.lock")), 0o640);
    let text = std::fs::read_to_string(dir.join("events.log")).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.starts_with("{\"seq\":1,\"time\":\""));
}

#[test]
fn a_torn_line_is_repaired_skipped_and_reported_once() {
    let store = tempfile::tempdir().unwrap();
    let j = Journal::open(store.path()).unwrap();
    j.append(pod_event(1)).unwrap();
    let log = store.path().join("events/events.log");
    // A writer killed mid-line.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"{\"seq\":2,\"time\":\"2026-12-").unwrap();
    let mut reader = Reader::open(store.path());
    // The incomplete line is not read while it may still be completed.
    assert_eq!(events(reader.read().unwrap()).len(), 1);
    assert_eq!(reader.damaged(), 0);
    let next = j.append(pod_event(2)).unwrap();
    assert_eq!(next.seq, 2, "numbered after the last valid line");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 3);
    let new = reader.read().unwrap();
    assert!(matches!(&new[0], Entry::Damaged(d) if d.excerpt.starts_with("{\"seq\":2,\"time")));
    assert!(matches!(&new[1], Entry::Event(e) if e.seq == 2));
    assert_eq!(reader.damaged(), 1);
    assert!(reader.read().unwrap().is_empty(), "reported once");
    // A fresh reader skips it too and goes on.
    let mut fresh = Reader::open(store.path());
    let all = fresh.read().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(fresh.damaged(), 1);
    assert_eq!(seqs(store.path()), [1, 2]);
}

#[test]
fn garbage_lines_are_skipped_and_counted() {
    let store = tempfile::tempdir().unwrap();
    let j = Journal::open(store.path()).unwrap();
    j.append(pod_event(1)).unwrap();
    let log = store.path().join("events/events.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"not json\n{\"seq\":9}\n\xff\xfe\n").unwrap();
    j.append(pod_event(2)).unwrap();
    let mut r = Reader::open(store.path());
    let got = r.read().unwrap();
    assert_eq!(r.damaged(), 3);
    assert_eq!(
        events(got).iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn a_reader_resumes_after_its_cursor() {
    let store = tempfile::tempdir().unwrap();
    let j = Journal::open(store.path()).unwrap();
    for i in 0..5 {
        j.append(pod_event(i)).unwrap();
    }
    let got = events(Reader::after(store.path(), 3).read().unwrap());
    assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
}

/// Runs the test `name` of this binary in a child process with `env`, so a
/// variable the journal reads at open applies to it alone.
fn in_child(name: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    cmd.env("RUKT_EVENTS_TEST_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn child() -> bool {
    std::env::var_os("RUKT_EVENTS_TEST_CHILD").is_some()
}

/// In a child: appends RUKT_EVENTS_TEST_COUNT events to the store named
/// by RUKT_EVENTS_TEST_STORE. Does nothing as a plain test.
#[test]
fn child_appender() {
    if !child() {
        return;
    }
    let store = std::env::var("RUKT_EVENTS_TEST_STORE").unwrap();
    let count: usize = std::env::var("RUKT_EVENTS_TEST_COUNT")
        .unwrap()
        .parse()
        .unwrap();
    let tag = std::process::id() as usize;
    let j = Journal::open(Path::new(&store)).unwrap();
    let pause: u64 = std::env::var("RUKT_EVENTS_TEST_PAUSE_MS").map_or(0, |p| p.parse().unwrap());
    for i in 0..count {
        j.append(pod_event(tag * 10_000 + i)).unwrap();
        std::thread::sleep(Duration::from_millis(pause));
    }
}

#[test]
fn rotation_keeps_seq_continuous_and_a_follower_loses_nothing() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_path_buf();
    // A follower started before the first event.
    let follower = std::thread::spawn(move || {
        let mut f = Follower::new(Reader::open(&dir));
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < 60 {
            match f.next(Some(deadline)).unwrap() {
                Some(Entry::Event(e)) => got.push(e.seq),
                Some(Entry::Damaged(d)) => panic!("damaged: {d:?}"),
                None => break,
            }
        }
        got
    });
    // 2000 bytes: a rotation every dozen lines, in three processes at once,
    // each writing an event every 20 ms (a follower only keeps up with what
    // the two files hold).
    let env = |n: usize| {
        vec![
            ("RUKT_EVENTS_MAX_SIZE", "2000".to_string()),
            ("RUKT_EVENTS_TEST_PAUSE_MS", "20".to_string()),
            ("RUKT_EVENTS_TEST_STORE", store.path().display().to_string()),
            ("RUKT_EVENTS_TEST_COUNT", n.to_string()),
        ]
    };
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let env = env(20);
            std::thread::spawn(move || {
                let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
                in_child("child_appender", &env);
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let got = follower.join().unwrap();
    assert_eq!(
        got,
        (1..=60).collect::<Vec<u64>>(),
        "every event, in order, once"
    );
    let log = std::fs::read_to_string(store.path().join("events/events.log")).unwrap();
    let old = std::fs::read_to_string(store.path().join("events/events.log.1")).unwrap();
    assert!(
        log.len() < 2200 && old.len() < 2200,
        "rotated: {} {}",
        log.len(),
        old.len()
    );
    // What is left is the newest events, continuous.
    let kept = seqs(store.path());
    assert_eq!(*kept.last().unwrap(), 60);
    assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "{kept:?}");
}

#[test]
fn concurrent_appenders_never_interleave() {
    let store = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let root = store.path().to_path_buf();
            std::thread::spawn(move || {
                let j = Journal::open(&root).unwrap();
                for i in 0..50 {
                    j.append(pod_event(t * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    let env = vec![
        ("RUKT_EVENTS_TEST_STORE", store.path().display().to_string()),
        ("RUKT_EVENTS_TEST_COUNT", "100".to_string()),
    ];
    let procs: Vec<_> = (0..3)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || {
                let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
                in_child("child_appender", &env);
            })
        })
        .collect();
    for t in threads.into_iter().chain(procs) {
        t.join().unwrap();
    }
    let text = std::fs::read_to_string(store.path().join("events/events.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 700);
    let mut ids = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        let e = Event::from_line(l.as_bytes()).unwrap_or_else(|| panic!("line {i}: {l}"));
        assert_eq!(e.seq, i as u64 + 1);
        assert!(ids.insert(e.attrs["n"].clone()), "each event once");
    }
}

#[test]
fn a_follower_gets_an_event_within_50_ms() {
    let store = tempfile::tempdir().unwrap();
    let j = Journal::open(store.path()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let root = store.path().to_path_buf();
    std::thread::spawn(move || {
        let mut f = Follower::new(Reader::open(&root));
        while let Ok(Some(Entry::Event(e))) = f.next(None) {
            if tx.send((Instant::now(), e.seq)).is_err() {
                break;
            }
        }
    });
    let mut lags = Vec::new();
    for i in 1..=10u64 {
        // The follower is waiting when the event comes.
        std::thread::sleep(Duration::from_millis(30));
        let at = Instant::now();
        j.append(pod_event(i as usize)).unwrap();
        let (got, seq) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(seq, i);
        lags.push(got.duration_since(at));
    }
    lags.sort();
    assert!(
        lags[5] < Duration::from_millis(50),
        "median lag {:?}",
        lags[5]
    );
}
