//! Pod verbs: one file per verb, each glue between the CLI and
//! `rukt_stage0::pods`.

pub mod enter;
pub mod gc;
pub mod list;
pub mod run;
pub mod status;
pub mod stop;

use std::path::Path;

use anyhow::{Context, Result, bail};
use rukt_stage0::pods::{Pod, Pods};

use super::Globals;

/// The pods directory, for commands that only look or remove.
pub fn existing_pods(g: &Globals) -> Pods {
    Pods::at(&g.dir)
}

/// Opens the pods directory, creating it (for commands that make pods).
pub fn pods(g: &Globals) -> Result<Pods> {
    Pods::open(&g.dir)
        .with_context(|| format!("cannot open the pods directory under {}", g.dir.display()))
}

/// The UUID given directly or through `--uuid-file`.
pub fn uuid_arg(uuid: Option<&str>, file: Option<&Path>) -> Result<String> {
    match (uuid, file) {
        (Some(u), None) => Ok(u.to_string()),
        (None, Some(f)) => Ok(std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the UUID file {}", f.display()))?
            .trim()
            .to_string()),
        (Some(_), Some(_)) => bail!("give either a UUID or --uuid-file, not both"),
        (None, None) => bail!("no pod UUID given"),
    }
}

/// Every pod named by `uuids` and `--uuid-file`.
pub fn find_all(g: &Globals, uuids: &[String], file: Option<&Path>) -> Result<Vec<Pod>> {
    let pods = existing_pods(g);
    let mut names: Vec<String> = uuids.to_vec();
    if let Some(f) = file {
        names.push(uuid_arg(None, Some(f))?);
    }
    names
        .iter()
        .map(|u| pods.find(u).map_err(anyhow::Error::from))
        .collect()
}
