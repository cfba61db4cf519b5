//! `rukt image inspect`, `cat-manifest` and `verify`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{find_many, find_one};
use crate::cmd::Globals;

pub fn inspect(g: &Globals, image: &str) -> Result<ExitCode> {
    let store = g.store()?;
    let rec = find_one(g, image)?;
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&rec.id)?)
        .with_context(|| format!("the stored config of {image} is corrupt"))?;
    let mut v = serde_json::to_value(&rec)?;
    v["config"] = config;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &v)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn cat_manifest(g: &Globals, image: &str) -> Result<ExitCode> {
    let store = g.store()?;
    let rec = find_one(g, image)?;
    std::io::stdout()
        .lock()
        .write_all(&store.read_blob(&rec.manifest)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify(g: &Globals, images: &[String]) -> Result<ExitCode> {
    let store = g.store()?;
    let mut out = std::io::stdout().lock();
    let mut bad = 0;
    for rec in find_many(g, images)? {
        let problems = rukt_images::verify::verify(&store, &rec);
        if problems.is_empty() {
            writeln!(out, "{}: ok", rec.name)?;
        } else {
            bad += 1;
            for p in problems {
                writeln!(out, "{}: {p}", rec.name)?;
            }
        }
    }
    if bad > 0 {
        bail!("{bad} image(s) failed verification");
    }
    Ok(ExitCode::SUCCESS)
}
