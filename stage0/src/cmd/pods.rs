//! What the pod verbs share: opening the pods directory and finding the pods
//! a command names, by UUID, unique prefix or `--uuid-file`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rukt_pods::{Pod, Pods};

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

/// The UUID (or prefix) given directly or through `--uuid-file`.
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

/// The one pod named by a UUID or `--uuid-file`.
pub fn find_one(g: &Globals, uuid: Option<&str>, file: Option<&Path>) -> Result<Pod> {
    Ok(existing_pods(g).find(&uuid_arg(uuid, file)?)?)
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
