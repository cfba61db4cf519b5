//! `rukt enter`: execs the stage1 `enter` entrypoint for a running app.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use rukt_pods::EnterRequest;

use super::Globals;
use super::pods::{existing_pods, uuid_arg};

pub fn run(
    g: &Globals,
    app: Option<String>,
    file: Option<&Path>,
    words: &[String],
) -> Result<ExitCode> {
    let (uuid, mut command) = match file {
        Some(f) => (uuid_arg(None, Some(f))?, words.to_vec()),
        None => match words.split_first() {
            Some((u, rest)) => (u.clone(), rest.to_vec()),
            None => bail!("no pod UUID given"),
        },
    };
    if command.first().map(String::as_str) == Some("--") {
        command.remove(0);
    }
    let pod = existing_pods(g).find(&uuid)?;
    let req = EnterRequest {
        app,
        command,
        debug: g.debug,
    };
    Err(anyhow!(rukt_pods::enter(&pod, &req)))
}
