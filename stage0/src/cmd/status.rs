//! `rukt status` and `rukt cat-manifest`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rukt_pods::status::pod_exit_code;
use rukt_pods::{PodStatus, State};

use super::Globals;
use super::pods::{existing_pods, find_one};
use crate::cli::Format;

/// ` (exit 3)` for exited pods whose exit code is known.
pub fn exit_suffix(st: &PodStatus) -> String {
    match (st.state, pod_exit_code(st)) {
        (State::Exited | State::ExitedGarbage, Some(c)) => format!(" (exit {c})"),
        _ => String::new(),
    }
}

pub fn run(
    g: &Globals,
    uuid: Option<&str>,
    file: Option<&Path>,
    wait_for: Option<Duration>,
    check_network: bool,
    format: Format,
) -> Result<ExitCode> {
    let mut pod = find_one(g, uuid, file)?;
    if let Some(limit) = wait_for {
        pod = rukt_pods::wait(&existing_pods(g), &pod, (!limit.is_zero()).then_some(limit))?;
    }
    if check_network {
        rukt_pods::check_network(&pod).context("the pod's networks do not pass CNI CHECK")?;
    }
    let st = rukt_pods::status(&pod);
    super::tpm_measure::measure_exits(&g.measurer()?, &pod, &st);
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &st)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "state={}", st.state)?;
    writeln!(out, "created={}", st.created.as_deref().unwrap_or(""))?;
    writeln!(out, "started={}", st.started.as_deref().unwrap_or(""))?;
    if let Some(m) = &st.gc_marked {
        writeln!(out, "gc-marked={m}")?;
    }
    writeln!(
        out,
        "pid={}",
        st.pid.map(|p| p.to_string()).unwrap_or_default()
    )?;
    writeln!(out, "exited={}", st.exited())?;
    if !st.networks.is_empty() {
        writeln!(out, "networks={}", st.networks_summary())?;
    }
    if check_network {
        writeln!(out, "network-check=ok")?;
    }
    for a in &st.apps {
        writeln!(
            out,
            "app-{}={}",
            a.name,
            a.exit_code.map(|c| c.to_string()).unwrap_or_default()
        )?;
        if let Some(reason) = &a.reason {
            writeln!(out, "app-{}-reason={reason}", a.name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cat_manifest(g: &Globals, uuid: Option<&str>, file: Option<&Path>) -> Result<ExitCode> {
    let pod = find_one(g, uuid, file)?;
    let data = std::fs::read(pod.path.join(rukt_contract::POD_MANIFEST))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
