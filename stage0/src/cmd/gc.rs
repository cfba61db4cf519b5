//! `rukt rm` and `rukt gc`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use rukt_pods::GcOptions;

use super::Globals;
use super::pods::{existing_pods, find_all};

pub fn rm(g: &Globals, uuids: &[String], file: Option<&Path>) -> Result<ExitCode> {
    let pods = existing_pods(g);
    let tpm = g.measurer()?;
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for pod in find_all(g, uuids, file)? {
        super::tpm_measure::measure_exits_of(&tpm, &pod);
        match rukt_pods::rm(&pods, &pod, g.debug) {
            Ok(()) => {
                super::tpm_measure::measure_gc(&tpm, &pod.uuid);
                writeln!(out, "{}", pod.uuid)?
            }
            Err(e) => {
                crate::report(&e.into());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} pod(s) not removed");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn gc(
    g: &Globals,
    grace_period: Duration,
    expire_prepared: Duration,
    mark_only: bool,
) -> Result<ExitCode> {
    let opts = GcOptions {
        grace_period,
        expire_prepared,
        mark_only,
        debug: g.debug,
    };
    let pods = existing_pods(g);
    let tpm = g.measurer()?;
    // Exits not yet measured are, before gc removes their records.
    for pod in tpm
        .is_on()
        .then(|| pods.all().ok())
        .flatten()
        .unwrap_or_default()
    {
        super::tpm_measure::measure_exits_of(&tpm, &pod);
    }
    let report = rukt_pods::gc(&pods, opts)?;
    for u in &report.removed {
        super::tpm_measure::measure_gc(&tpm, u);
    }
    let mut out = std::io::stdout().lock();
    for u in &report.marked {
        writeln!(out, "marked {u}")?;
    }
    for u in &report.removed {
        writeln!(out, "removed {u}")?;
    }
    let failed = report.failed.len();
    for (u, e) in report.failed {
        crate::report(&anyhow::Error::from(e).context(format!("cannot remove pod {u}")));
    }
    if failed > 0 {
        bail!("{failed} pod(s) could not be removed");
    }
    Ok(ExitCode::SUCCESS)
}
