//! `rukt fetch IMAGE...`: prints each image's ID.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rukt_images::fetch::{FetchOptions, Fetcher, NoProgress, Progress, PullPolicy};
use rukt_images::platform::Platform;
use rukt_images::reference::ImageRef;
use rukt_images::store::Store;

use super::Globals;
use crate::cli::words::FetchLimits;
use crate::cli::{FetchArgs, FetchFlags};

/// Library fetch options from the global and the fetch flags.
fn options(g: &Globals, flags: &FetchFlags) -> FetchOptions {
    FetchOptions {
        pull_policy: flags.pull_policy.into(),
        platform: Platform::with_overrides(flags.os.as_deref(), flags.arch.as_deref()),
        max_layer_size: flags.max_layer_size,
        concurrency: usize::from(flags.max_concurrent_downloads),
        stall_timeout: flags.stall_timeout,
        timeout: flags.timeout,
        ..g.fetch_options()
    }
}

/// Calls `f` with a fetcher for `store` under `pull_policy`, `limits` and the global
/// flags, and progress bars unless `quiet` (or not on a terminal).
pub fn with_fetcher<T>(
    g: &Globals,
    store: &Store,
    pull_policy: PullPolicy,
    limits: FetchLimits,
    quiet: bool,
    f: impl FnOnce(&Fetcher<'_>, &dyn Progress) -> Result<T>,
) -> Result<T> {
    let defaults = g.fetch_options();
    let options = FetchOptions {
        pull_policy,
        stall_timeout: limits.stall_timeout.unwrap_or(defaults.stall_timeout),
        timeout: limits.timeout,
        ..defaults
    };
    let fetcher = Fetcher::new(store, options).context("cannot load the fetch configuration")?;
    let bars = crate::progress::Bars::for_terminal(quiet);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    f(&fetcher, progress)
}

pub fn run(g: &Globals, args: FetchArgs) -> Result<ExitCode> {
    let refs = args
        .images
        .iter()
        .map(|s| ImageRef::parse(s).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let store = g.store()?;
    let fetcher = Fetcher::new(&store, options(g, &args.flags))
        .context("cannot load the fetch configuration")?;
    let bars = crate::progress::Bars::for_terminal(args.quiet);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let tpm = g.measurer()?;
    let mut out = std::io::stdout().lock();
    for (text, image) in args.images.iter().zip(&refs) {
        let record = fetcher
            .fetch(image, progress)
            .with_context(|| format!("cannot fetch {text}"))?;
        super::tpm_measure::measure_image(&tpm, &record)?;
        writeln!(out, "{}", record.id)?;
    }
    Ok(ExitCode::SUCCESS)
}
