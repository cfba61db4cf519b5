//! rukt stage1 engine `nspawn`, the default: every pod in its own
//! namespaces and cgroup, apps confined by the defaults of the most careful
//! container runtimes (a minimal capability set, a seccomp allowlist,
//! no_new_privs, masked `/proc` and `/sys` paths, a minimal `/dev`). Built on
//! youki's libcontainer, which must be called from a single-threaded
//! process: this binary never starts a thread.
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`):
//! `run` ([`run`]: the pod's supervisor), `enter` ([`enter`]), `stop`
//! ([`stop`]), `gc` ([`gc`]) and `interface-version`. Every one starts in
//! the pod directory. Errors end here, printed once as
//! `rukt-stage1-nspawn: <context>: <cause>`, with exit code 254.

mod apps;
mod cgroups;
mod console;
mod enter;
mod etc;
mod executor;
mod gc;
mod podns;
mod run;
mod seccomp;
mod signals;
mod spec;
mod stop;
mod supervise;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rukt_contract::{
    ArgsError, EXIT_STAGE1_FAILURE, EnterArgs, Entrypoint, GcArgs, INTERFACE_VERSION, RunArgs,
    StopArgs,
};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rukt-stage1-nspawn: {e:#}");
            ExitCode::from(EXIT_STAGE1_FAILURE)
        }
    }
}

/// Runs the entrypoint named by `args[0]`; returns the exit code (the
/// pod's for `run`, the command's for `enter`).
fn dispatch(args: &[OsString]) -> anyhow::Result<u8> {
    let word = args.first().map(|a| a.to_string_lossy().into_owned());
    let entry = match word.as_deref().map(Entrypoint::from_name) {
        Some(Some(entry)) => entry,
        Some(None) => return Err(ArgsError::Entrypoint(word.unwrap_or_default())).context("usage"),
        None => return Err(ArgsError::Missing("entrypoint")).context("usage"),
    };
    match entry {
        Entrypoint::InterfaceVersion => {
            if args.len() > 1 {
                bail!("usage: interface-version takes no arguments");
            }
            writeln!(std::io::stdout(), "{INTERFACE_VERSION}").context("cannot write to stdout")?;
            Ok(0)
        }
        Entrypoint::Run => {
            let args = RunArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            run::run(&args)
        }
        Entrypoint::Enter => {
            let args = EnterArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            enter::enter(&args)
        }
        Entrypoint::Stop => {
            let args = StopArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            stop::stop(&args).map(|()| 0)
        }
        Entrypoint::Gc => {
            let args = GcArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            gc::gc(&args).map(|()| 0)
        }
    }
}

/// `--debug`: tracing events to stderr. Without it only warnings are shown,
/// and nothing of libcontainer's own log: its errors reach the user once, as
/// the cause in our error message.
fn init_logging(debug: bool) {
    let filter = if debug {
        "debug"
    } else {
        "warn,libcgroups=off,libcontainer=off"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
