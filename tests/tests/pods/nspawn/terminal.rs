//! The app's terminal: `--interactive` gives it a pty; without it the caller's stdio are
//! passed through, so pipes work both ways.

use std::process::Stdio;

use rukt_tests::rukt::run_command;

use super::app::{App, run, run_words};
use super::store;

#[test]
fn interactive_gives_the_app_a_pty() {
    let pods = store();
    let script = "test -t 0 && echo tty-in; test -t 1 && echo tty-out; tty";
    let out = run(&pods, &["--interactive"], &[App::sh("tty", script)]);
    assert!(out.success(), "{out}");
    let lines = out.lines();
    assert_eq!(lines[..2], ["tty-in", "tty-out"], "{out}");
    assert!(
        lines[2].starts_with("/dev/pts/"),
        "the app's terminal is not a pty of its own:\n{out}"
    );
}

#[test]
fn stdio_pass_through_as_pipes() {
    let pods = store();
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), "hello\nworld\n").unwrap();
    let script = "test -t 0 || echo not-a-tty; cat; echo to-stderr >&2";
    let words = run_words(&[], &pods.image, &[App::sh("pipe", script)]);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut cmd = pods.rukt().command(&words);
    cmd.stdin(Stdio::from(std::fs::File::open(input.path()).unwrap()));
    let out = run_command(cmd);
    assert!(out.success(), "{out}");
    assert_eq!(out.lines(), ["not-a-tty", "hello", "world"], "{out}");
    assert!(out.stderr.contains("to-stderr"), "{out}");
}
