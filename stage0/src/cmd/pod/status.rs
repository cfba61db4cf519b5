//! `rukt status` and `rukt cat-manifest`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rukt_stage0::pods::status::{PodStatus, status};
use rukt_stage0::pods::{Pod, Pods, State};

use super::{existing_pods, uuid_arg};
use crate::cli::Format;
use crate::cmd::Globals;

/// ` (exit 3)` for exited pods whose exit code is known.
pub fn exit_suffix(st: &PodStatus) -> String {
    match (st.state, rukt_stage0::pods::status::pod_exit_code(st)) {
        (State::Exited | State::ExitedGarbage, Some(c)) => format!(" (exit {c})"),
        _ => String::new(),
    }
}

/// After the lock is released, stage1's exit recorder may need a moment to
/// write the apps' exit codes.
const STATUS_GRACE: Duration = Duration::from_secs(3);

/// Waits for the pod to exit (and its exit codes to be written).
fn wait(pods: &Pods, pod: &Pod, limit: Option<Duration>) -> Result<Pod> {
    let start = Instant::now();
    let deadline = limit.map(|l| start + l);
    let mut exited_at = None;
    loop {
        let current = pods.refind(&pod.uuid).unwrap_or_else(|| pod.clone());
        let st = status(&current);
        let running = matches!(
            st.state,
            State::Running | State::Preparing | State::Prepared | State::Embryo
        );
        if !running {
            let at = *exited_at.get_or_insert_with(Instant::now);
            if st.apps.iter().all(|a| a.exit_code.is_some()) || at.elapsed() > STATUS_GRACE {
                return Ok(current);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bail!(
                "pod {} did not exit within {}",
                pod.uuid,
                humantime::format_duration(limit.unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn run(
    g: &Globals,
    uuid: Option<&str>,
    file: Option<&Path>,
    wait_for: Option<Duration>,
    format: Format,
) -> Result<ExitCode> {
    let pods = existing_pods(g);
    let mut pod = pods.find(&uuid_arg(uuid, file)?)?;
    if let Some(limit) = wait_for {
        pod = wait(&pods, &pod, (!limit.is_zero()).then_some(limit))?;
    }
    let st = status(&pod);
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
    writeln!(
        out,
        "exited={}",
        matches!(
            st.state,
            State::Exited | State::ExitedGarbage | State::Deleting
        )
    )?;
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
    let pod = existing_pods(g).find(&uuid_arg(uuid, file)?)?;
    let data = std::fs::read(pod.path.join(rukt_contract::POD_MANIFEST))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
