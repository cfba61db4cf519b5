//! `rukt run`, `rukt prepare` and `rukt run-prepared`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use rukt_images::fetch::{Fetcher, NoProgress, Progress};
use rukt_images::store::LockMode;
use rukt_stage0::pods::Dir;
use rukt_stage0::pods::prepare::prepare;
use rukt_stage0::pods::run::{RunOptions, exec_stage1};
use rukt_stage0::pods::spec::PodSpec;

use super::{existing_pods, pods, uuid_arg};
use crate::cli::{FetchFlags, PullPolicyArg};
use crate::cmd::Globals;

fn fetch_flags(spec: &PodSpec) -> Result<FetchFlags> {
    let pull_policy = match spec.pull_policy.as_deref() {
        None | Some("new") => PullPolicyArg::New,
        Some("never") => PullPolicyArg::Never,
        Some("update") => PullPolicyArg::Update,
        Some(other) => bail!("invalid --pull-policy {other:?}: use never, new or update"),
    };
    Ok(FetchFlags {
        pull_policy,
        os: None,
        arch: None,
        max_layer_size: rukt_images::fetch::DEFAULT_MAX_LAYER_SIZE,
        max_concurrent_downloads: u16::try_from(rukt_images::fetch::DEFAULT_CONCURRENCY)
            .unwrap_or(3),
    })
}

/// Prepares a pod from the words of `run`/`prepare`.
fn prepare_from(
    g: &Globals,
    words: &[String],
    durable: bool,
) -> Result<(PodSpec, rukt_stage0::pods::prepare::Preparing)> {
    let spec = PodSpec::parse(words)?;
    let store = g.store()?;
    let fetcher = Fetcher::new(
        &store,
        super::super::fetch::options(g, &fetch_flags(&spec)?),
    )
    .context("cannot load the registry configuration")?;
    let bars = crate::progress::Bars::for_terminal(spec.quiet);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let preparing = prepare(&pods(g)?, &store, &fetcher, &spec, progress, durable)
        .context("cannot prepare the pod")?;
    if let Some(f) = &spec.uuid_file_save {
        save_uuid(f, &preparing.pod.uuid)?;
    }
    Ok((spec, preparing))
}

fn save_uuid(file: &Path, uuid: &str) -> Result<()> {
    std::fs::write(file, format!("{uuid}\n"))
        .with_context(|| format!("cannot write the UUID to {}", file.display()))
}

pub fn prepare_cmd(g: &Globals, words: &[String]) -> Result<ExitCode> {
    let (_, preparing) = prepare_from(g, words, true)?;
    let pods = pods(g)?;
    pods.move_to(&preparing.pod, Dir::Prepared)?;
    drop(preparing.lock);
    writeln!(std::io::stdout(), "{}", preparing.pod.uuid)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &Globals, words: &[String], debug: bool) -> Result<ExitCode> {
    let (spec, preparing) = prepare_from(g, words, false)?;
    let pods = pods(g)?;
    let pod = pods.move_to(&preparing.pod, Dir::Run)?;
    let opts = RunOptions {
        debug,
        interactive: spec.interactive,
    };
    let err = exec_stage1(&g.dir, &pod, preparing.lock, &preparing.manifest, opts);
    Err(anyhow!(err).context(format!("cannot start pod {}", pod.uuid)))
}

pub fn run_prepared(
    g: &Globals,
    uuid: Option<&str>,
    uuid_file: Option<&Path>,
    interactive: bool,
    debug: bool,
) -> Result<ExitCode> {
    let pods = existing_pods(g);
    let pod = pods.find(&uuid_arg(uuid, uuid_file)?)?;
    if pod.dir != Dir::Prepared {
        bail!("pod {} is {}, not prepared", pod.uuid, pod.state());
    }
    let lock = pod
        .try_lock(LockMode::Exclusive)?
        .ok_or_else(|| anyhow!("pod {} is in use by another rukt process", pod.uuid))?;
    // It may have been moved (gc, another run-prepared) before we locked it.
    let Some(pod) = pods.refind(&pod.uuid).filter(|p| p.dir == Dir::Prepared) else {
        bail!("pod {} is no longer prepared", pod.uuid);
    };
    let manifest = pod.manifest()?;
    let pod = pods.move_to(&pod, Dir::Run)?;
    let err = exec_stage1(
        &g.dir,
        &pod,
        lock,
        &manifest,
        RunOptions { debug, interactive },
    );
    Err(anyhow!(err).context(format!("cannot start pod {}", pod.uuid)))
}
