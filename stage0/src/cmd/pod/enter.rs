//! `rukt enter`: execs the stage1 `enter` entrypoint for a running app.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use rukt_contract::EnterArgs;
use rukt_stage0::pods::State;

use super::{existing_pods, uuid_arg};
use crate::cmd::Globals;

pub fn run(
    g: &Globals,
    app: Option<&str>,
    file: Option<&Path>,
    words: &[String],
    debug: bool,
) -> Result<ExitCode> {
    let (uuid, command) = match file {
        Some(f) => (uuid_arg(None, Some(f))?, words.to_vec()),
        None => match words.split_first() {
            Some((u, rest)) => (u.clone(), rest.to_vec()),
            None => bail!("no pod UUID given"),
        },
    };
    let pod = existing_pods(g).find(&uuid)?;
    if pod.state() != State::Running {
        bail!("pod {} is {}, not running", pod.uuid, pod.state());
    }
    let manifest = pod.manifest()?;
    let app = match app {
        Some(a) => manifest
            .app(a)
            .ok_or_else(|| anyhow!("pod {} has no app {a:?}", pod.uuid))?,
        None => match manifest.apps.as_slice() {
            [one] => one,
            apps => bail!(
                "pod {} has several apps; pick one with --app ({})",
                pod.uuid,
                apps.iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let pid: u32 = std::fs::read_to_string(pod.path.join(rukt_contract::PID_FILE))
        .map_err(|e| anyhow!("pod {} has no pid file yet: {e}", pod.uuid))?
        .trim()
        .parse()
        .map_err(|_| anyhow!("pod {} has a malformed pid file", pod.uuid))?;
    let command = if command.first().map(String::as_str) == Some("--") {
        command[1..].to_vec()
    } else {
        command
    };
    let args = EnterArgs {
        debug,
        pid,
        app: app.name.clone(),
        uuid: pod.uuid.clone(),
        command,
    };
    let err = rukt_stage0::exe_guard::command(&manifest.stage1.path)
        .args(args.to_argv())
        .current_dir(&pod.path)
        .exec();
    Err(anyhow!(err).context(format!(
        "cannot execute stage1 {}",
        manifest.stage1.path.display()
    )))
}
