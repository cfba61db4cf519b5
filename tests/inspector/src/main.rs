//! `rukt-inspector`: a small static binary rukt's functional tests put into pod images (at
//! `/usr/bin/rukt-inspector`) to look at a pod from inside, as rkt's `inspect` and youki's
//! `runtimetest` do. It only reads and probes; nothing it does changes the host.
//!
//! ```text
//! rukt-inspector report                      one line of JSON: namespaces, capabilities,
//!                                            seccomp, ids, fds, masked/read-only paths,
//!                                            cgroup limits, /dev, interfaces, processes
//! rukt-inspector alloc MIB                   allocate and touch MIB MiB
//! rukt-inspector forkbomb N                  fork until refused (at most N), report
//! rukt-inspector listen PORT [COUNT]         serve COUNT (1) loopback TCP connections
//! rukt-inspector connect PORT [WAIT [MSG]]   talk to a loopback server, retrying WAIT seconds
//! rukt-inspector try-write-exe PID [WAIT]    open /proc/PID/exe for writing (never writes)
//! rukt-inspector sleep SECS
//! rukt-inspector notify MSG                  send MSG to NOTIFY_SOCKET (`\n` for newlines)
//! rukt-inspector serve-fd3 [MIB]             serve one TCP connection on socket-activated fd 3
//!                                           (then send MIB MiB of zeros)
//! ```
//!
//! Exit codes: 0 done, 1 the probe failed (`connect`), 2 usage, 3 an I/O error.

mod activation;
mod exe;
mod load;
mod net;
mod parse;
mod report;
mod sys;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// A parsed command line.
#[derive(Debug, PartialEq)]
enum Command {
    Report,
    Alloc(usize),
    ForkBomb(usize),
    Listen {
        port: u16,
        count: usize,
    },
    Connect {
        port: u16,
        wait: u64,
        message: String,
    },
    TryWriteExe {
        pid: u32,
        wait: u64,
    },
    Sleep(u64),
    Notify(String),
    ServeFd3(u64),
}

/// Parses the arguments after the program name.
fn parse_args(args: &[String]) -> Result<Command, String> {
    fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
        let s = args.get(i).ok_or_else(|| format!("missing {what}"))?;
        s.parse().map_err(|_| format!("invalid {what}: {s:?}"))
    }
    fn opt<T: std::str::FromStr>(args: &[String], i: usize, what: &str, d: T) -> Result<T, String> {
        if args.len() > i {
            num(args, i, what)
        } else {
            Ok(d)
        }
    }
    let sub = args.first().map(String::as_str).unwrap_or("");
    let (cmd, max) = match sub {
        "report" => (Command::Report, 1),
        "alloc" => (Command::Alloc(num(args, 1, "MIB")?), 2),
        "forkbomb" => (Command::ForkBomb(num(args, 1, "N")?), 2),
        "listen" => (
            Command::Listen {
                port: num(args, 1, "PORT")?,
                count: opt(args, 2, "COUNT", 1)?,
            },
            3,
        ),
        "connect" => (
            Command::Connect {
                port: num(args, 1, "PORT")?,
                wait: opt(args, 2, "WAIT", 0)?,
                message: args.get(3).cloned().unwrap_or_else(|| "ping".to_owned()),
            },
            4,
        ),
        "try-write-exe" => (
            Command::TryWriteExe {
                pid: num(args, 1, "PID")?,
                wait: opt(args, 2, "WAIT", 0)?,
            },
            3,
        ),
        "sleep" => (Command::Sleep(num(args, 1, "SECS")?), 2),
        "notify" => (
            Command::Notify(args.get(1).cloned().ok_or("missing MSG")?),
            2,
        ),
        "serve-fd3" => (Command::ServeFd3(opt(args, 1, "MIB", 0)?), 2),
        other => return Err(format!("unknown command {other:?}")),
    };
    if args.len() > max {
        return Err(format!("too many arguments for {sub}"));
    }
    Ok(cmd)
}

fn run(cmd: Command, out: &mut impl Write) -> std::io::Result<bool> {
    match cmd {
        Command::Report => writeln!(out, "{}", report::report())?,
        Command::Alloc(mib) => load::alloc(mib, out)?,
        Command::ForkBomb(n) => load::forkbomb(n, out)?,
        Command::Listen { port, count } => net::listen(port, count, out)?,
        Command::Connect {
            port,
            wait,
            message,
        } => return net::connect(port, Duration::from_secs(wait), &message, out),
        Command::TryWriteExe { pid, wait } => {
            let result = exe::try_write_exe(pid, Duration::from_secs(wait), out)?;
            writeln!(out, "{result}")?;
        }
        Command::Sleep(secs) => std::thread::sleep(Duration::from_secs(secs)),
        Command::Notify(message) => return activation::notify(&message, out),
        Command::ServeFd3(mib) => return activation::serve_fd3(mib, out),
    }
    Ok(true)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stderr = std::io::stderr();
    let cmd = match parse_args(&args) {
        Ok(cmd) => cmd,
        Err(e) => {
            let _ = writeln!(stderr, "rukt-inspector: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let result = run(cmd, &mut out).and_then(|ok| out.flush().map(|()| ok));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(stderr, "rukt-inspector: {e}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Command, String> {
        parse_args(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&["report"]), Ok(Command::Report));
        assert_eq!(parse(&["alloc", "64"]), Ok(Command::Alloc(64)));
        assert_eq!(parse(&["forkbomb", "100"]), Ok(Command::ForkBomb(100)));
        assert_eq!(
            parse(&["listen", "80"]),
            Ok(Command::Listen { port: 80, count: 1 })
        );
        assert_eq!(
            parse(&["connect", "80", "5", "hi"]),
            Ok(Command::Connect {
                port: 80,
                wait: 5,
                message: "hi".to_owned()
            })
        );
        assert_eq!(
            parse(&["try-write-exe", "42"]),
            Ok(Command::TryWriteExe { pid: 42, wait: 0 })
        );
        assert_eq!(parse(&["sleep", "3"]), Ok(Command::Sleep(3)));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["nope"]).is_err());
        assert!(parse(&["alloc"]).is_err());
        assert!(parse(&["alloc", "lots"]).is_err());
        assert!(parse(&["listen", "70000"]).is_err());
        assert!(parse(&["report", "extra"]).is_err());
        assert!(parse(&["sleep", "1", "2"]).is_err());
    }
}
