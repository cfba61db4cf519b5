//! `rukt trust`: rkt's trusted keys per prefix, stored under the
//! configuration directory and merged into the one signature policy.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rukt_images::policy::TrustPolicy;
use rukt_images::policy::keystore::{Keystore, inspect_key};

use super::Globals;
use crate::cli::{TrustArgs, TrustCommand};

pub fn run(g: &Globals, args: TrustArgs) -> Result<ExitCode> {
    match args.command {
        Some(TrustCommand::List { policy, no_legend }) => list(g, policy, no_legend),
        Some(TrustCommand::Rm {
            fingerprint,
            prefix,
            root,
        }) => rm(g, &fingerprint, prefix.as_deref(), root),
        None => {
            let Some(key) = args.key else {
                bail!("name the key file to trust");
            };
            add(g, args.prefix.as_deref(), &key)
        }
    }
}

fn add(g: &Globals, prefix: Option<&str>, key: &std::path::Path) -> Result<ExitCode> {
    let data = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
    let (kind, fprs) =
        inspect_key(&data).map_err(|e| anyhow::anyhow!("cannot use {}: {e}", key.display()))?;
    if let Some(p) = prefix {
        Keystore::check_prefix(p)?;
    }
    TrustPolicy::check_new_scope(
        &g.config_dir,
        g.trust.policy.as_deref(),
        prefix.unwrap_or(""),
    )?;
    let stored = Keystore::new(&g.config_dir).add(prefix, &data)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "trusting {} key {} for {}",
        kind.name(),
        fprs.join(", "),
        prefix.map_or_else(
            || "every docker image (root)".to_string(),
            |p| format!("prefix {p}")
        )
    )?;
    writeln!(out, "stored at {}", stored.path.display())?;
    Ok(ExitCode::SUCCESS)
}

fn list(g: &Globals, policy: bool, no_legend: bool) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if policy {
        let p = TrustPolicy::load(
            &g.config_dir,
            g.trust.policy.as_deref(),
            g.trust.registries_d.as_deref(),
        )?;
        serde_json::to_writer_pretty(&mut out, p.merged())?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 3]> = Keystore::new(&g.config_dir)
        .list()?
        .into_iter()
        .map(|k| {
            [
                k.prefix.unwrap_or_else(|| "(root)".into()),
                k.kind.name().to_string(),
                k.fingerprint,
            ]
        })
        .collect();
    let header = (!no_legend).then_some(["PREFIX", "KIND", "FINGERPRINT"]);
    super::table::print(&mut out, header, &rows)?;
    Ok(ExitCode::SUCCESS)
}

fn rm(g: &Globals, fingerprint: &str, prefix: Option<&str>, root: bool) -> Result<ExitCode> {
    let gone = Keystore::new(&g.config_dir).remove(fingerprint, prefix, root)?;
    let mut out = std::io::stdout().lock();
    for k in gone {
        writeln!(
            out,
            "no longer trusting {} for {}",
            k.fingerprint,
            k.prefix.as_deref().unwrap_or("(root)")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
