//! rukt stage1 engine `fly`: one app per pod, chrooted into its root
//! filesystem but otherwise in the host's namespaces, as rkt's stage1-fly.
//!
//! stage0 → stage1 → app are all execs, so the app keeps the PID the caller
//! started and signals reach it directly. There is no isolation beyond the
//! chroot: fly is for agents that manage their own host (kubelet, etcd,
//! configuration management) through mounted host directories.
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`):
//! `run` ([`run`]), `enter` ([`enter`]), `stop` ([`stop`]), `gc` ([`gc`])
//! and `interface-version`. Every one starts in the pod directory. Errors end
//! here, printed once as `rukt-stage1-fly: <context>: <cause>`, with exit
//! code 254.

mod enter;
mod exec;
mod exitinfo;
mod gc;
mod mountinfo;
mod mounts;
mod pod;
mod resolve;
mod run;
mod stop;
mod user;
mod watcher;

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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rukt-stage1-fly: {e:#}");
            ExitCode::from(EXIT_STAGE1_FAILURE)
        }
    }
}

/// Runs the entrypoint named by `args[0]`; `run` and `enter` return only on
/// failure, having exec'd the app or the command otherwise.
fn dispatch(args: &[OsString]) -> anyhow::Result<()> {
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
            writeln!(std::io::stdout(), "{INTERFACE_VERSION}").context("cannot write to stdout")
        }
        Entrypoint::Run => {
            let args = RunArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            match run::run(&args)? {}
        }
        Entrypoint::Enter => {
            let args = EnterArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            match enter::enter(&args)? {}
        }
        Entrypoint::Stop => {
            let args = StopArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            stop::stop(&args)
        }
        Entrypoint::Gc => {
            let args = GcArgs::parse(args).context("usage")?;
            init_logging(args.debug);
            gc::gc(&args)
        }
    }
}

/// `--debug`: tracing events to stderr. Without it nothing is logged.
fn init_logging(debug: bool) {
    if debug {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn refuses_unknown_and_missing_entrypoints() {
        let e = dispatch(&argv(&["app-add", "x"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown entrypoint \"app-add\"");
        let e = dispatch(&[]).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing entrypoint");
    }

    #[test]
    fn refuses_malformed_arguments_before_touching_anything() {
        let e = dispatch(&argv(&["run", "--net=host", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown flag \"--net=host\"");
        let e = dispatch(&argv(&["stop", "--timeout=soon", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: invalid value for --timeout");
        let e = dispatch(&argv(&["enter", "--app=a", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing --pid");
        let e = dispatch(&argv(&["interface-version", "2"])).unwrap_err();
        assert!(format!("{e:#}").contains("takes no arguments"));
    }
}
