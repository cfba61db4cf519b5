//! The floor of `bench/nspawn.sh`: one container run with youki's
//! libcontainer and nothing else, as a one-shot CLI would: create, start,
//! wait for the init, delete. No rukt logic (no pod, no store, no overlay,
//! no supervisor); the bundle's `config.json` carries the whole spec.
//!
//!   bare BUNDLE STATE_ROOT [ID]
//!
//! Exits with the container's exit code (128+N when killed by signal N), or
//! 125 when the container could not be run.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "bare: {e:#}");
            ExitCode::from(125)
        }
    }
}

fn run(args: Vec<OsString>) -> anyhow::Result<u8> {
    let (bundle, root, id) = match args.as_slice() {
        [b, r] => (b, r, format!("bare-{}", std::process::id())),
        [b, r, id] => (b, r, id.to_string_lossy().into_owned()),
        _ => bail!("usage: bare BUNDLE STATE_ROOT [ID]"),
    };
    let bundle = PathBuf::from(bundle);
    let root = PathBuf::from(root);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    // As rukt's stage1 builds an app's container (stage1-nspawn/src/apps.rs),
    // less its executor (which only resets the signal mask and sets a
    // parent-death signal before the same execvp).
    let mut container = ContainerBuilder::new(id, SyscallType::default())
        .with_root_path(&root)
        .context("invalid state root")?
        .validate_id()
        .context("invalid container id")?
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .context("cannot create the container")?;
    let started = container.start().context("cannot start the container");
    let status = match container.pid() {
        Some(pid) if started.is_ok() => wait(pid.as_raw()),
        _ => Ok(0),
    };
    let deleted = container
        .delete(true)
        .context("cannot delete the container");
    started?;
    let status = status?;
    deleted?;
    Ok(exit_code(status))
}

/// A blocking waitpid: no SIGCHLD race (the init is our direct child, and
/// it stays a zombie until this reaps it).
fn wait(pid: i32) -> anyhow::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the wait status into our local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("cannot wait for the container");
        }
    }
}

fn exit_code(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        128u8.wrapping_add(libc::WTERMSIG(status) as u8)
    } else {
        125
    }
}
