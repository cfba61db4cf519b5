//! `rukt`, stage0: a thin, synchronous command line over the `rukt-images`
//! and `rukt-pods` libraries.
//!
//! Exit codes: 0 success; 2 usage error (clap's, a malformed `run` word, a
//! flag the chosen stage1 would not enforce); 254 rukt's own failure (as
//! rkt); `run` and `run-prepared` exit with the pod's exit code (they become
//! it), `enter` with the command's; `tpm verify` 1 on MISMATCH and 3 on
//! PENDING.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod generator;
mod notify;
mod progress;
mod unit;

use std::process::ExitCode;

use clap::Parser;

/// rukt failed for a reason of its own.
const EXIT_FAILURE: u8 = 254;
/// The command line was wrong (clap uses the same code).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    // Installed as a systemd generator under another name (a symlink).
    let mut argv = std::env::args();
    let name = argv.next().unwrap_or_default();
    if std::path::Path::new(&name).file_name() == Some(std::ffi::OsStr::new(generator::NAME)) {
        return generator::main(&argv.collect::<Vec<_>>());
    }
    // Before anything is opened: the numbers socket activation names must
    // be the caller's descriptors, not ours.
    let listen_fds = rukt_pods::run::inherited_listen_fds();
    let cli = cli::Cli::parse();
    let level = if cli.debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUKT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "rukt={level},rukt_images={level},rukt_pods={level},rukt_tpm={level},rukt_events={level}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(cli.debug)
        .init();
    let listen_fds = listen_fds.unwrap_or_else(|e| {
        tracing::warn!("{e}");
        None
    });
    match cmd::run(cli, listen_fds) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`rukt image list | head`) is not a failure.
            if err.chain().any(is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            report(&err);
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Prints an error and its causes on one line, each cause once: the only
/// way rukt prints an error.
pub fn report(err: &anyhow::Error) {
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("rukt: {err:#}\n"));
}

/// The documented exit code for a failure.
fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = |c: &(dyn std::error::Error + 'static)| {
        c.is::<cli::words::SpecError>() || rukt_pods::features::is_unsupported(c)
    };
    if err.chain().any(usage) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == pipe
        || e.downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind)
            == pipe
}
