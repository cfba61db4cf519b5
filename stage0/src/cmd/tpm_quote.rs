//! `rukt tpm quote` and `rukt tpm verify --quote`: evidence for a remote
//! verifier, through tpm2-tools (a quote needs keys, sessions and
//! signatures, more than rukt's own small TPM client does). The export is a
//! directory: `quote.msg`, `quote.sig`, `quote.pcrs` (tpm2_quote's outputs),
//! `measure.log` (the log as it was when quoted, under its lock) and
//! `evidence.json` (PCR, bank, nonce).

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use rukt_sys::lock::LockMode;
use rukt_tpm::log::LockedLog;
use rukt_tpm::pcr::check_pcr;
use rukt_tpm::{Config, HashAlg};

/// The bank quoted.
const BANK: HashAlg = HashAlg::Sha256;

fn tool(name: &str, c: &Config) -> Command {
    let mut cmd = Command::new(name);
    cmd.env("TPM2TOOLS_TCTI", c.tcti.to_string());
    cmd
}

fn run_tool(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what} (install tpm2-tools)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_nonce(nonce: &str) -> Result<()> {
    if nonce.is_empty() || rukt_tpm::alg::unhex(nonce).is_none() {
        bail!("--nonce must be hex digits, an even number of them");
    }
    Ok(())
}

pub fn quote(c: &Config, nonce: &str, ak: &Path, export: &Path) -> Result<ExitCode> {
    check_nonce(nonce)?;
    let pcr = check_pcr(c.pcr).context("invalid --tpm-pcr")?;
    std::fs::create_dir(export).with_context(|| format!("cannot create {}", export.display()))?;
    // Held shared: no writer is between its append and its extend.
    let log = LockedLog::open(&c.log, LockMode::Shared)?;
    std::fs::copy(&c.log, export.join("measure.log"))
        .with_context(|| format!("cannot copy {}", c.log.display()))?;
    let mut cmd = tool("tpm2_quote", c);
    cmd.arg("-c").arg(ak);
    cmd.args(["-l", &format!("{BANK}:{pcr}"), "-q", nonce, "-g", "sha256"]);
    cmd.arg("-m").arg(export.join("quote.msg"));
    cmd.arg("-s").arg(export.join("quote.sig"));
    cmd.arg("-o").arg(export.join("quote.pcrs"));
    let quoted = run_tool(cmd, "tpm2_quote");
    drop(log);
    // Without a resource manager (a simulator) the loaded key stays.
    let mut flush = tool("tpm2_flushcontext", c);
    flush.arg("-t");
    let _ = flush.output();
    quoted?;
    let evidence = serde_json::json!({
        "pcr": pcr,
        "bank": BANK.name(),
        "nonce": nonce,
        "log": "measure.log",
        "quote": {"message": "quote.msg", "signature": "quote.sig", "pcrs": "quote.pcrs"},
    });
    rukt_sys::atomic::write_atomic(
        &export.join("evidence.json"),
        serde_json::to_string_pretty(&evidence)?.as_bytes(),
    )?;
    writeln!(std::io::stdout(), "{}", export.display())?;
    Ok(ExitCode::SUCCESS)
}

pub fn verify(c: &Config, dir: &Path, nonce: &str, ak_pub: &Path) -> Result<ExitCode> {
    check_nonce(nonce)?;
    let pcr = check_pcr(c.pcr).context("invalid --tpm-pcr")?;
    let mut cmd = tool("tpm2_checkquote", c);
    cmd.arg("-u").arg(ak_pub);
    cmd.arg("-m").arg(dir.join("quote.msg"));
    cmd.arg("-s").arg(dir.join("quote.sig"));
    cmd.arg("-f").arg(dir.join("quote.pcrs"));
    cmd.args(["-g", "sha256", "-q", nonce]);
    let mut out = std::io::stdout().lock();
    let checked = match run_tool(cmd, "tpm2_checkquote") {
        Ok(text) => text,
        Err(e) => {
            writeln!(
                out,
                "quote: does not verify (signature, nonce or PCR digest): {e:#}"
            )?;
            writeln!(out, "verdict: MISMATCH")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    writeln!(out, "quote: signature, nonce and PCR digest verify")?;
    let value = quoted_value(&checked, pcr)
        .with_context(|| format!("tpm2_checkquote shows no {BANK} value of PCR {pcr}"))?;
    let records = rukt_tpm::log::read(&dir.join("measure.log"))?;
    let report = rukt_tpm::verify(&records, pcr, &[(BANK, value)]);
    writeln!(out, "log: {} records", records.len())?;
    super::tpm::print_report(&mut out, &report)?;
    Ok(super::tpm::verdict_exit(&mut out, &report)?)
}

/// The PCR's value in tpm2_checkquote's YAML (`pcrs:` / `  sha256:` /
/// `    15: 0x…`).
fn quoted_value(yaml: &str, pcr: u32) -> Option<Vec<u8>> {
    let mut in_bank = false;
    for line in yaml.lines() {
        let t = line.trim();
        if t.ends_with(':') && !t.starts_with(|c: char| c.is_ascii_digit()) {
            in_bank = t == format!("{BANK}:");
            continue;
        }
        if in_bank && let Some(v) = t.strip_prefix(&format!("{pcr}: 0x")) {
            return rukt_tpm::alg::unhex(&v.to_ascii_lowercase());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_checkquote_yaml() {
        let y = "pcrs:\n  sha1:\n    15: 0x00\n  sha256:\n    15: 0xAB01\nsig: x\n";
        assert_eq!(super::quoted_value(y, 15), Some(vec![0xab, 1]));
        assert_eq!(super::quoted_value(y, 14), None);
    }
}
