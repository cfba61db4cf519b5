//! `rukt run`, `rukt prepare` and `rukt run-prepared`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use rukt_images::fetch::Progress;
use rukt_images::store::Store;
use rukt_pods::{Dir, Pods, Preparing, RunOptions};

use super::Globals;
use super::fetch::with_fetcher;
use super::pods::{existing_pods, find_one, pods};
use crate::cli::words::RunWords;

/// A pod prepared from the words of `run`/`prepare`, and the store and pods
/// directory it was made in (opened once).
struct Prepared {
    words: RunWords,
    preparing: Preparing,
    store: Store,
    pods: Pods,
    tpm: rukt_tpm::Measurer,
}

/// Prepares a pod from the words of `run`/`prepare`.
fn prepare_from(g: &Globals, words: &[String], durable: bool) -> Result<Prepared> {
    prepare_words(g, RunWords::parse(words)?, durable)
}

/// Prepares the pod `w` describes.
fn prepare_words(g: &Globals, mut w: RunWords, durable: bool) -> Result<Prepared> {
    w.spec.environment = environment(&w)?;
    let tpm = g.measurer()?;
    let store = g.store()?;
    let pods = pods(g)?;
    let preparing = with_fetcher(
        g,
        &store,
        w.pull_policy,
        w.limits,
        w.quiet,
        |fetcher, progress| {
            let notifying = w.spec.sd_notify != rukt_contract::sdnotify::SdNotify::Ignore;
            let systemd = crate::notify::Fetching::wrap(progress, notifying);
            let progress = systemd.as_ref().map_or(progress, |s| s as &dyn Progress);
            let prepared = rukt_pods::prepare(
                &pods,
                &store,
                fetcher,
                &w.spec,
                &g.net_catalog(),
                progress,
                durable,
            )
            .context("cannot prepare the pod");
            systemd.iter().for_each(crate::notify::Fetching::done);
            prepared
        },
    )?;
    let (pod, manifest) = (&preparing.pod, &preparing.manifest);
    if let Err(e) = rukt_pods::measure::pod_prepared(&tpm, pod, manifest) {
        // Required and failed: leave nothing behind.
        let _ = rukt_pods::remove::remove_pod_dir(&pod.path);
        rukt_pods::events::prepare_aborted(store.root(), &pod.uuid.to_string(), &e);
        return Err(anyhow!(e).context(format!(
            "cannot measure pod {} into the TPM (--tpm=required); removed it",
            pod.uuid
        )));
    }
    if let Some(f) = &w.uuid_file_save {
        save_uuid(f, &preparing.pod.uuid.to_string())?;
    }
    Ok(Prepared {
        words: w,
        preparing,
        store,
        pods,
        tpm,
    })
}

/// Every app's environment, lowest precedence first: `--inherit-env`, then
/// each `--set-env-file`, then `--set-env`.
fn environment(w: &RunWords) -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    if w.inherit_env {
        env.extend(std::env::vars());
    }
    for file in &w.set_env_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --set-env-file {}", file.display()))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line.split_once('=').ok_or_else(|| {
                anyhow!(
                    "--set-env-file {}: {line:?} is not NAME=VALUE",
                    file.display()
                )
            })?;
            env.push((k.to_string(), v.to_string()));
        }
    }
    env.extend(w.spec.environment.iter().cloned());
    Ok(env)
}

fn save_uuid(file: &Path, uuid: &str) -> Result<()> {
    std::fs::write(file, format!("{uuid}\n"))
        .with_context(|| format!("cannot write the UUID to {}", file.display()))
}

pub fn prepare(g: &Globals, words: &[String]) -> Result<ExitCode> {
    let p = prepare_from(g, words, true)?;
    p.pods.move_to(&p.preparing.pod, Dir::Prepared)?;
    drop(p.preparing.lock);
    writeln!(std::io::stdout(), "{}", p.preparing.pod.uuid)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &Globals, words: &[String]) -> Result<ExitCode> {
    let p = prepare_from(g, words, false)?;
    let uuid = p.preparing.pod.uuid;
    let opts = RunOptions {
        debug: g.debug,
        interactive: p.words.spec.interactive,
        listen_fds: g.listen_fds.clone(),
        tpm: Some(p.tpm),
    };
    let err = rukt_pods::run_preparing(&p.pods, &p.store, p.preparing, opts);
    Err(anyhow!(err).context(format!("cannot start pod {uuid}")))
}

/// How long a detached sandbox may take to be ready.
const SANDBOX_READY: std::time::Duration = std::time::Duration::from_secs(60);

/// `rukt app sandbox`: a mutable pod with no apps, run in the foreground
/// as `rukt run` runs a pod, or detached.
pub fn sandbox(g: &Globals, words: &[String], detach: bool) -> Result<ExitCode> {
    let mut w = RunWords::parse_sandbox(words)?;
    w.spec.mutable = true;
    let p = prepare_words(g, w, false)?;
    let uuid = p.preparing.pod.uuid;
    if detach {
        let started =
            rukt_pods::sandbox::start_detached(&p.pods, p.preparing, g.debug, SANDBOX_READY)
                .with_context(|| format!("cannot start pod {uuid}"))?;
        writeln!(std::io::stdout(), "{}", started.pod.uuid)?;
        return Ok(ExitCode::SUCCESS);
    }
    let opts = RunOptions {
        debug: g.debug,
        interactive: false,
        listen_fds: g.listen_fds.clone(),
        tpm: Some(p.tpm),
    };
    let err = rukt_pods::run_preparing(&p.pods, &p.store, p.preparing, opts);
    Err(anyhow!(err).context(format!("cannot start pod {uuid}")))
}

pub fn run_prepared(
    g: &Globals,
    uuid: Option<&str>,
    uuid_file: Option<&Path>,
    interactive: bool,
) -> Result<ExitCode> {
    let pod = find_one(g, uuid, uuid_file)?;
    let opts = RunOptions {
        debug: g.debug,
        interactive,
        listen_fds: g.listen_fds.clone(),
        tpm: Some(g.measurer()?),
    };
    let err = rukt_pods::run_prepared(&existing_pods(g), &g.store()?, &pod, opts);
    Err(anyhow!(err).context(format!("cannot start pod {}", pod.uuid)))
}
