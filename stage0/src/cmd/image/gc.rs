//! `rukt image rm` and `rukt image gc`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::list::human_size;
use crate::cmd::Globals;
use crate::cmd::pods::existing_pods;

pub fn rm(g: &Globals, images: &[String]) -> Result<ExitCode> {
    let removed = rukt_pods::images::remove_images(&g.store()?, &existing_pods(g), images)?;
    let mut out = std::io::stdout().lock();
    for n in removed {
        writeln!(out, "{n}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(g: &Globals, grace_period: Option<Duration>) -> Result<ExitCode> {
    let store = g.store()?;
    let pods = existing_pods(g);
    let report = rukt_images::gc::gc(&store, grace_period, &|| {
        rukt_pods::images::images_in_use(&pods)
    })?;
    let mut out = std::io::stdout().lock();
    for n in &report.images {
        writeln!(out, "removed unused image {n}")?;
    }
    writeln!(
        out,
        "removed {} blobs, {} layers, {} scratch directories; freed {}",
        report.blobs,
        report.layers,
        report.scratch,
        human_size(report.bytes)
    )?;
    Ok(ExitCode::SUCCESS)
}
