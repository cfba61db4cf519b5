//! An app with a terminal of its own in a mutable nspawn pod (`rukt app add --tty`): it sees a
//! pty as its stdin, stdout and stderr, its output is logged as stdout, and `rukt app attach`
//! from a terminal (a pty of the test's) types at it, shows what it writes and passes the
//! window's size on, at the start and after a SIGWINCH. Without a terminal, attach just
//! copies bytes.

use std::process::Command;
use std::time::Duration;

use rukt_tests::pods::PodStore;
use rukt_tests::pty::PtySession;

use super::app::App;
use super::mutable::{sandbox, stop_and_collect, wait_app};
use super::store;

/// A new mutable pod with app `term` added with `flags` running `/bin/sh -c script`, started.
fn started(pods: &PodStore, flags: &[&str], script: &str) -> String {
    let uuid = sandbox(pods, &[]);
    let image = pods.image.clone();
    let mut args = vec!["app", "add", &uuid, &image, "--name", "term"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--exec", "/bin/sh", "--", "-c", script]);
    pods.ok(&args);
    pods.ok(&["app", "start", &uuid, "--app", "term"]);
    uuid
}

#[test]
fn an_app_with_a_tty_is_logged_as_stdout_and_attached_to_from_a_terminal() {
    let pods = store();
    let script = "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-a-tty; echo to-stderr >&2; \
                  read x; echo \"size $(stty size) got $x\"; \
                  read y; echo \"size $(stty size) got $y\"";
    let uuid = started(&pods, &["-t", "--stdin"], script);

    // `rukt app attach` on a terminal of 33 rows by 77 columns.
    let mut attach = PtySession::spawn(
        pods.rukt()
            .command(&["app", "attach", &uuid, "--app", "term"]),
        33,
        77,
    );
    std::thread::sleep(Duration::from_millis(500));
    attach.write("one\r");
    attach.expect("size 33 77 got one", Duration::from_secs(20));
    // A resize, then SIGWINCH as the terminal would send it.
    attach.resize(40, 100);
    let winch = Command::new("kill")
        .args(["-WINCH", &attach.pid().to_string()])
        .status()
        .unwrap();
    assert!(winch.success());
    std::thread::sleep(Duration::from_millis(300));
    attach.write("two\r");
    let (ok, shown) = attach.wait(Duration::from_secs(20));
    assert!(ok, "rukt app attach failed:\n{shown}");
    assert!(shown.contains("size 40 100 got two"), "{shown}");
    let st = wait_app(&pods, &uuid, "term", |s| s["state"] == "exited");
    assert_eq!(st["exit_code"], 0, "{st}");

    // The log: one stream, stdout, with what was written before anyone attached.
    let log = std::fs::read_to_string(pods.pod_dir(&uuid).unwrap().join("logs/term.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().all(|l| l.split(' ').nth(1) == Some("stdout")),
        "{log}"
    );
    let text = pods.ok(&["logs", &uuid, "--app", "term"]);
    for want in ["/dev/pts/", "all-a-tty", "to-stderr", "size 33 77 got one"] {
        assert!(text.contains(want), "{want:?} not logged:\n{text}");
    }
    stop_and_collect(&pods, &uuid);
}

#[test]
fn attach_without_a_terminal_copies_bytes_to_a_tty_app() {
    let pods = store();
    let script = "read x; echo \"got $x\"; cat; echo bye";
    let uuid = started(&pods, &["--tty", "--stdin-once"], script);
    // stdin_once: the end of the client's input is an end-of-file (^D) at the terminal.
    let (stdout, stderr) = pods.attach(&uuid, "term", b"hello\n", Duration::from_millis(300));
    assert!(stdout.contains("got hello\r\n"), "{stdout}\n{stderr}");
    assert!(stdout.ends_with("bye\r\n"), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let st = wait_app(&pods, &uuid, "term", |s| s["state"] == "exited");
    assert_eq!(st["exit_code"], 0, "{st}");
    stop_and_collect(&pods, &uuid);
}

#[test]
fn rukt_run_gives_a_tty_app_a_terminal_whose_output_is_the_pods() {
    let pods = store();
    let script = "tty; [ -t 0 ] && [ -t 1 ] && echo all-a-tty; echo to-stderr >&2";
    let out = super::app::run(&pods, &[], &[App::sh("term", script).with(&["--tty"])]);
    assert!(out.success(), "{out}");
    // One stream: the terminal's, the pod's stdout.
    assert_eq!(
        out.stdout.replace('\r', ""),
        "/dev/pts/0\nall-a-tty\nto-stderr\n",
        "{out}"
    );
}
