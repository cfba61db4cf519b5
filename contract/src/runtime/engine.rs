//! The `main` of a stage1 engine: parse the entrypoint and its arguments,
//! set up logging, run the engine's handler, and turn the outcome into the
//! process's exit code, printing an error once as `<engine>: <context>:
//! <cause>` with exit code 254. Every engine has the same command line, so
//! it is written once here.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::{
    ArgsError, EXIT_STAGE1_FAILURE, EnterArgs, Entrypoint, GcArgs, INTERFACE_VERSION, RunArgs,
    StopArgs,
};

/// A stage1 engine's entrypoints.
pub trait Engine {
    /// The binary's name, for error messages (`rukt-stage1-nspawn`).
    const NAME: &'static str;

    /// `run`: the pod's exit code once it is over (an engine that execs the
    /// app never returns on success).
    fn run(args: &RunArgs) -> anyhow::Result<u8>;
    /// `enter`: the command's exit code.
    fn enter(args: &EnterArgs) -> anyhow::Result<u8>;
    /// `stop`.
    fn stop(args: &StopArgs) -> anyhow::Result<()>;
    /// `gc`.
    fn gc(args: &GcArgs) -> anyhow::Result<()>;

    /// The `tracing` filter (`EnvFilter` syntax); `None` logs nothing.
    fn log_filter(debug: bool) -> Option<&'static str> {
        debug.then_some("debug")
    }
}

/// Runs engine `E` on this process's arguments.
pub fn main<E: Engine>() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match dispatch::<E>(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}: {e:#}", E::NAME);
            ExitCode::from(EXIT_STAGE1_FAILURE)
        }
    }
}

/// Runs the entrypoint named by `args[0]`; returns the exit code.
pub fn dispatch<E: Engine>(args: &[OsString]) -> anyhow::Result<u8> {
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
            init_logging::<E>(args.debug);
            E::run(&args)
        }
        Entrypoint::Enter => {
            let args = EnterArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::enter(&args)
        }
        Entrypoint::Stop => {
            let args = StopArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::stop(&args).map(|()| 0)
        }
        Entrypoint::Gc => {
            let args = GcArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::gc(&args).map(|()| 0)
        }
    }
}

/// Tracing events to stderr, filtered by the engine's choice.
fn init_logging<E: Engine>(debug: bool) {
    if let Some(filter) = E::log_filter(debug) {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl Engine for Nothing {
        const NAME: &'static str = "test";
        fn run(_: &RunArgs) -> anyhow::Result<u8> {
            Ok(7)
        }
        fn enter(_: &EnterArgs) -> anyhow::Result<u8> {
            Ok(0)
        }
        fn stop(_: &StopArgs) -> anyhow::Result<()> {
            Ok(())
        }
        fn gc(_: &GcArgs) -> anyhow::Result<()> {
            Ok(())
        }
    }

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn refuses_unknown_and_missing_entrypoints() {
        let e = dispatch::<Nothing>(&argv(&["app-add", "x"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown entrypoint \"app-add\"");
        let e = dispatch::<Nothing>(&[]).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing entrypoint");
    }

    #[test]
    fn refuses_malformed_arguments_before_touching_anything() {
        let e = dispatch::<Nothing>(&argv(&["run", "--net=host", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown flag \"--net=host\"");
        let e = dispatch::<Nothing>(&argv(&["stop", "--timeout=soon", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: invalid value for --timeout");
        let e = dispatch::<Nothing>(&argv(&["enter", "--app=a", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing --pid");
        let e = dispatch::<Nothing>(&argv(&["interface-version", "2"])).unwrap_err();
        assert!(format!("{e:#}").contains("takes no arguments"));
    }

    #[test]
    fn runs_the_handler() {
        assert_eq!(dispatch::<Nothing>(&argv(&["run", "u"])).unwrap(), 7);
    }
}
