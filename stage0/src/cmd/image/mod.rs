//! `rukt image ...`: one file per verb.

mod gc;
mod list;
mod show;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rukt_images::lookup;
use rukt_images::store::ImageRecord;

use super::Globals;
use crate::cli::ImageCommand;

pub fn run(g: &Globals, cmd: ImageCommand) -> Result<ExitCode> {
    match cmd {
        ImageCommand::List(f) => list::run(g, f.format, f.no_legend, f.full),
        ImageCommand::Inspect { image } => show::inspect(g, &image),
        ImageCommand::CatManifest { image } => show::cat_manifest(g, &image),
        ImageCommand::Rm { images } => gc::rm(g, &images),
        ImageCommand::Gc { grace_period } => gc::gc(g, grace_period),
        ImageCommand::Verify { images } => show::verify(g, &images),
        ImageCommand::Export { image, destination } => {
            let store = g.store()?;
            let rec = find_one(g, &image)?;
            rukt_images::export::export(&store, &rec, &destination)
                .with_context(|| format!("cannot export {image}"))?;
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Extract { image, target } => {
            let store = g.store()?;
            let rec = find_one(g, &image)?;
            rukt_images::extract::extract(&store, &rec, &target)
                .with_context(|| format!("cannot extract {image}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The one stored image `input` names.
pub fn find_one(g: &Globals, input: &str) -> Result<ImageRecord> {
    let index = g.store()?.index()?;
    Ok(lookup::find_one(&index, input)?.clone())
}

/// Every stored image the inputs name; all of them when `inputs` is empty.
pub fn find_many(g: &Globals, inputs: &[String]) -> Result<Vec<ImageRecord>> {
    let index = g.store()?.index()?;
    if inputs.is_empty() {
        return Ok(index.images.values().cloned().collect());
    }
    let mut out = Vec::new();
    for i in inputs {
        out.extend(lookup::find(&index, i)?.into_iter().cloned());
    }
    if out.is_empty() {
        bail!("no images match");
    }
    Ok(out)
}
