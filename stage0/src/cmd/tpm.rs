//! `rukt tpm log|verify|check` (and the dispatch to `quote` and
//! `verify --quote`, in `tpm_quote`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rukt_sys::lock::LockMode;
use rukt_tpm::log::LockedLog;
use rukt_tpm::pcr::{check_pcr, usage};
use rukt_tpm::{Config, HashAlg, Record, Report, Tpm, Verdict};

use super::Globals;
use crate::cli::Format;
use crate::cli::tpm::TpmCommand;

/// `rukt tpm verify`'s exit code for PENDING (MISMATCH is 1).
const EXIT_PENDING: u8 = 3;

pub fn run(g: &Globals, cmd: TpmCommand) -> Result<ExitCode> {
    let c = super::tpm_measure::config(&g.tpm, &g.config_dir, &g.dir)?;
    match cmd {
        TpmCommand::Log { format, pod } => log(&c, format, pod.as_deref()),
        TpmCommand::Verify {
            quote: Some(dir),
            nonce: Some(nonce),
            ak_pub: Some(ak),
        } => super::tpm_quote::verify(&c, &dir, &nonce, &ak),
        TpmCommand::Verify { .. } => verify(&c),
        TpmCommand::Quote { nonce, ak, export } => {
            super::tpm_quote::quote(&c, &nonce, &ak, &export)
        }
        TpmCommand::Check => check(&c),
    }
}

/// The log's records, read under a shared lock (none when it is missing).
fn records(c: &Config) -> Result<Vec<Record>> {
    if !c.log.exists() {
        return Ok(Vec::new());
    }
    let log = LockedLog::open(&c.log, LockMode::Shared)?;
    Ok(log.records()?)
}

fn log(c: &Config, format: Format, pod: Option<&str>) -> Result<ExitCode> {
    let recs: Vec<Record> = records(c)?
        .into_iter()
        .filter(|r| {
            pod.is_none_or(|p| {
                r.content
                    .fields
                    .pod
                    .as_deref()
                    .is_some_and(|u| u.starts_with(p))
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &recs)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 6]> = recs
        .iter()
        .map(|r| {
            let f = &r.content.fields;
            let secs = r.content.time_ns / 1_000_000_000;
            let time = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            );
            let image = f
                .image
                .clone()
                .or_else(|| f.image_digests.first().map(|d| short(d)))
                .unwrap_or_default();
            let detail = match (f.exit_status, f.image.is_some()) {
                (Some(x), _) => format!("{image} (exit {x})"),
                _ => image,
            };
            [
                r.recnum.to_string(),
                time.to_string(),
                r.content.event.name().to_string(),
                f.pod.as_deref().map(short).unwrap_or_default(),
                f.app.clone().unwrap_or_default(),
                detail,
            ]
        })
        .collect();
    super::table::print(
        &mut out,
        Some(["RECNUM", "TIME", "EVENT", "POD", "APP", "IMAGE"]),
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn short(s: &str) -> String {
    let s = s.split_once(':').map_or(s, |(_, h)| h);
    s.chars().take(12).collect()
}

/// Replays the log (held shared, so no writer is between append and
/// extend) against the PCR read from the TPM.
fn verify(c: &Config) -> Result<ExitCode> {
    let pcr = check_pcr(c.pcr).context("invalid --tpm-pcr")?;
    if !c.log.exists() {
        bail!("there is no TPM event log at {}", c.log.display());
    }
    let log = LockedLog::open(&c.log, LockMode::Shared)?;
    let (recs, torn) = log.records_but_torn_tail()?;
    let pending_mark = log.pending_marked()?;
    let mut tpm = Tpm::open(&c.tcti)?;
    let banks = tpm.active_banks()?;
    let actual = tpm.pcr_read(pcr, &banks)?;
    drop(log);
    let report = rukt_tpm::verify(&recs, pcr, &actual);
    let mut out = std::io::stdout().lock();
    writeln!(out, "log: {} ({} records)", c.log.display(), recs.len())?;
    if let Some(first) = recs.first() {
        writeln!(out, "boot: {}", first.content.boot_id)?;
    }
    writeln!(out, "pcr: {pcr} (banks: {})", names(&banks))?;
    writeln!(out, "start: {}", start_origin(&report))?;
    print_report(&mut out, &report)?;
    if torn {
        writeln!(
            out,
            "note: a torn last record was left out (its writer died while appending it, before extending)"
        )?;
    } else if pending_mark {
        writeln!(
            out,
            "note: the log is marked as being written (a writer died between append and extend)"
        )?;
    }
    Ok(verdict_exit(&mut out, &report)?)
}

/// Prints the record problems and each bank's replay.
pub fn print_report(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for p in &report.problems {
        writeln!(out, "problem: {p}")?;
    }
    for b in &report.banks {
        let state = if b.matches() { "ok" } else { "differs" };
        writeln!(
            out,
            "{}: replayed {} tpm {} {state}",
            b.alg,
            b.replayed_hex(),
            b.actual_hex()
        )?;
    }
    Ok(())
}

/// Prints the verdict and returns its exit code.
pub fn verdict_exit(out: &mut impl Write, report: &Report) -> std::io::Result<ExitCode> {
    Ok(match report.verdict {
        Verdict::Ok => {
            writeln!(out, "verdict: OK")?;
            ExitCode::SUCCESS
        }
        Verdict::Pending(n) => {
            writeln!(
                out,
                "verdict: PENDING ({n} last record(s) appended but not yet extended into the PCR)"
            )?;
            ExitCode::from(EXIT_PENDING)
        }
        Verdict::Mismatch => {
            writeln!(out, "verdict: MISMATCH")?;
            ExitCode::FAILURE
        }
    })
}

/// Where the PCR's value at the log's start came from: its reset value, or
/// records of systemd's userspace log for the same PCR, or nothing known.
fn start_origin(report: &Report) -> String {
    let Some(b) = report
        .banks
        .iter()
        .find(|b| b.alg == HashAlg::Sha256)
        .or(report.banks.first())
    else {
        return "unknown".to_string();
    };
    if b.start.iter().all(|x| *x == 0) {
        return "the PCR's reset value".to_string();
    }
    match systemd_replay(report.pcr, b.alg) {
        Some((n, v)) if v == b.start => format!("{n} record(s) of systemd's log {SYSTEMD_LOG}"),
        _ => format!(
            "{}:{} (extended before the log began by a writer with no log here)",
            b.alg,
            rukt_tpm::alg::hex(&b.start)
        ),
    }
}

/// systemd's userspace measurement log.
const SYSTEMD_LOG: &str = "/run/log/systemd/tpm2-measure.log";

/// systemd's records for `pcr`, replayed from zero in bank `alg`.
fn systemd_replay(pcr: u32, alg: HashAlg) -> Option<(usize, Vec<u8>)> {
    let data = std::fs::read(SYSTEMD_LOG).ok()?;
    let mut v = vec![0; alg.digest_len()];
    let mut n = 0;
    for chunk in data.split(|b| *b == 0x1E).filter(|c| !c.is_empty()) {
        let rec: serde_json::Value = serde_json::from_slice(chunk).ok()?;
        if rec["pcr"].as_u64() != Some(pcr.into()) {
            continue;
        }
        let d = rec["digests"]
            .as_array()?
            .iter()
            .find(|d| d["hashAlg"].as_str() == Some(alg.name()))?;
        v = alg.extend(&v, &rukt_tpm::alg::unhex(d["digest"].as_str()?)?);
        n += 1;
    }
    Some((n, v))
}

fn names(banks: &[HashAlg]) -> String {
    banks.iter().map(|b| b.name()).collect::<Vec<_>>().join(",")
}

fn check(c: &Config) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "policy: {:?}", c.policy)?;
    writeln!(out, "tcti: {}", c.tcti)?;
    writeln!(out, "log: {}", c.log.display())?;
    let pcr = check_pcr(c.pcr).context("invalid --tpm-pcr")?;
    writeln!(out, "pcr: {pcr} (also used for: {})", usage(pcr))?;
    let mut tpm = Tpm::open(&c.tcti)?;
    let banks = tpm.active_banks()?;
    writeln!(out, "banks: {}", names(&banks))?;
    for (alg, v) in tpm.pcr_read(pcr, &banks)? {
        writeln!(out, "{alg}:{pcr} = {}", rukt_tpm::alg::hex(&v))?;
    }
    for w in sealing_warnings(pcr) {
        writeln!(out, "warning: {w}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What on this host may have sealed secrets to `pcr`.
fn sealing_warnings(pcr: u32) -> Vec<String> {
    let mut out = Vec::new();
    if pcr == 15 {
        out.push(
            "PCR 15 is systemd's: a disk enrolled with systemd-cryptenroll --tpm2-pcrs=15 (or a credential sealed to it) no longer unlocks once rukt has measured a pod; choose another PCR with --tpm-pcr"
                .to_string(),
        );
    }
    if let Ok(crypttab) = std::fs::read_to_string("/etc/crypttab") {
        for line in crypttab.lines().filter(|l| l.contains("tpm2-device")) {
            out.push(format!(
                "/etc/crypttab unlocks with the TPM ({}); check the PCRs it was enrolled with (systemd-cryptenroll --tpm2-pcrs) do not include {pcr}",
                line.split_whitespace().next().unwrap_or("?")
            ));
        }
    }
    if let Some((n, _)) = systemd_replay(pcr, HashAlg::Sha256).filter(|(n, _)| *n > 0) {
        out.push(format!("systemd measured {n} record(s) into PCR {pcr} at boot; anything sealed to its boot-time value breaks once pods are measured"));
    }
    out
}
