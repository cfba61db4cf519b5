//! rukt stage1 engine `kvm`: every pod in its own micro-VM.
//!
//! The stage1 process boots a qemu `microvm` with Debian's cloud kernel and
//! rukt's own initramfs (`rukt-kvm-init` as `/init`), shares the apps' roots
//! and the volumes with the guest over virtiofs, and stays as the VM's
//! supervisor: it holds the pod lock, relays the apps' output and exit
//! statuses, and serves `enter` and `stop` (docs/stage1-kvm.md).
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`): `run`
//! ([`run`]), `enter` ([`enter`]), `stop` ([`stop`]), `gc` ([`gc`]) and
//! `interface-version`. Errors end here, printed once as
//! `rukt-stage1-kvm: <context>: <cause>`, with exit code 254.

mod accel;
mod artifacts;
mod cache;
mod cmdline;
mod cpio;
mod enter;
mod gc;
mod host;
mod kernel;
mod pod;
mod procs;
mod run;
mod share;
mod sizing;
mod stop;
mod supervisor;
mod vmm;

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
            let _ = writeln!(std::io::stderr(), "rukt-stage1-kvm: {e:#}");
            ExitCode::from(EXIT_STAGE1_FAILURE)
        }
    }
}

/// Runs the entrypoint named by `args[0]`; the exit code.
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

/// Warnings always go to stderr (`rukt-stage1-kvm: warning: ...`); with
/// `--debug`, everything down to debug events.
fn init_logging(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn refuses_bad_arguments_before_touching_anything() {
        let e = dispatch(&argv(&["app-add", "x"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown entrypoint \"app-add\"");
        let e = dispatch(&argv(&["run", "--net=host", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown flag \"--net=host\"");
        assert_eq!(dispatch(&argv(&["interface-version"])).unwrap(), 0);
    }
}
