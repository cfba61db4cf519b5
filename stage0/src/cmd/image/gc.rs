//! `rukt image rm` and `rukt image gc`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use rukt_images::lookup;

use super::list::human_size;
use crate::cmd::Globals;

pub fn rm(g: &Globals, images: &[String]) -> Result<ExitCode> {
    let store = g.store()?;
    let running = rukt_stage0::pods::images_of_running_pods(&crate::cmd::pod::existing_pods(g));
    let removed = store.update_index(|idx| -> Result<Vec<String>> {
        // Resolve everything first: one bad name removes nothing.
        let mut names = Vec::new();
        for i in images {
            for r in lookup::find(idx, i)? {
                if let Some(pod) = running.get(&r.id) {
                    anyhow::bail!(
                        "image {} is used by running pod {pod}; stop it first",
                        r.name
                    );
                }
                names.push(r.name.clone());
            }
        }
        for n in &names {
            idx.images.remove(n);
        }
        Ok(names)
    })??;
    let mut out = std::io::stdout().lock();
    for n in removed {
        writeln!(out, "{n}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(g: &Globals, grace_period: Option<Duration>) -> Result<ExitCode> {
    let store = g.store()?;
    let pods = crate::cmd::pod::existing_pods(g);
    let report = rukt_images::gc::gc(&store, grace_period, &|| {
        rukt_stage0::pods::images_in_use(&pods)
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
