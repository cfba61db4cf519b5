//! `rukt version`, `rukt config`, `rukt completion` and `rukt generate man`:
//! rukt describing itself, its engines and its host, as rkt's `version` and
//! `config` did. Probing an engine runs it (`interface-version`,
//! `features`, cached in the store); an engine that is missing or broken is
//! reported, not an error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use serde_json::{Value, json};

use super::Globals;
use crate::cli::{Cli, Format};

/// The engines rukt ships.
const ENGINES: [&str; 3] = ["nspawn", "kvm", "fly"];

/// `rukt version`.
pub fn version(g: &Globals, format: Format) -> Result<ExitCode> {
    let engines: Vec<Value> = ENGINES.iter().map(|e| engine(g, e)).collect();
    let report = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "interface": {
            "current": rukt_contract::INTERFACE_VERSION,
            "oldest": rukt_contract::MIN_INTERFACE_VERSION,
        },
        "engines": engines,
        "host": host(),
    });
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Table => print_version(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_version(out: &mut impl Write, r: &Value) -> std::io::Result<()> {
    writeln!(out, "rukt version {}", r["version"].as_str().unwrap_or("?"))?;
    writeln!(
        out,
        "stage1 interface versions: {}..={}",
        r["interface"]["oldest"], r["interface"]["current"]
    )?;
    for e in r["engines"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or("?");
        match e["error"].as_str() {
            Some(err) => writeln!(out, "engine {name}: unavailable ({err})"),
            None => writeln!(
                out,
                "engine {name}: {} (interface {}) features: {}",
                e["path"].as_str().unwrap_or("?"),
                e["interface_versions"],
                names(&e["features"]).join(",")
            ),
        }?;
    }
    let h = &r["host"];
    writeln!(out, "cgroups: {}", h["cgroups"].as_str().unwrap_or("?"))?;
    writeln!(out, "kvm: {}", h["kvm"].as_str().unwrap_or("?"))?;
    writeln!(out, "tpm: {}", h["tpm"].as_str().unwrap_or("?"))
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// What engine `flavor` is, or why it cannot be used.
fn engine(g: &Globals, flavor: &str) -> Value {
    match rukt_pods::stage1::Stage1::probe(flavor, &g.dir) {
        Ok(s) => {
            let features: Vec<&str> = s.features().enforces.iter().map(|f| f.name()).collect();
            json!({
                "name": flavor,
                "path": s.info().path,
                "interface_versions": s.info().interface_versions,
                "interface": s.version(),
                "features": features,
            })
        }
        Err(e) => json!({ "name": flavor, "error": format!("{e}") }),
    }
}

/// What the host offers the engines.
fn host() -> Value {
    let cgroups = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2 (unified)"
    } else if Path::new("/sys/fs/cgroup/unified").is_dir() {
        "v1 (hybrid: v2 mounted at /sys/fs/cgroup/unified)"
    } else {
        "v1"
    };
    let kvm = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => "/dev/kvm (the kvm engine probes whether it can run its guest, else uses TCG)"
            .to_string(),
        Err(e) => format!("no usable /dev/kvm ({e}): the kvm engine emulates (TCG)"),
    };
    let tpm = ["/dev/tpmrm0", "/dev/tpm0"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map_or_else(
            || "no TPM device (--tpm needs --tpm-tcti to a software TPM)".to_string(),
            |p| p.to_string(),
        );
    json!({ "cgroups": cgroups, "kvm": kvm, "tpm": tpm })
}

/// `rukt config`.
pub fn config(g: &Globals, format: Format) -> Result<ExitCode> {
    let conf = &g.config_dir;
    let catalog = g.net_catalog();
    let engines: Vec<Value> = ENGINES.iter().map(|e| engine(g, e)).collect();
    let report = json!({
        "store": g.dir,
        "config_dir": conf,
        "registries_conf": existing(conf.join("registries.conf")),
        "auth_files": rukt_images::registry::authfile::search_path(conf),
        "login_file": rukt_images::registry::authfile::login_file(conf),
        "certs_dirs": rukt_images::registry::tls::certs_dirs(conf),
        "signature_policy": g.trust.policy.clone().unwrap_or_else(|| conf.join("policy.json")),
        "registries_d": g.trust.registries_d.clone().unwrap_or_else(|| conf.join("registries.d")),
        "trust_keys": conf.join("trustedkeys"),
        "networks": {
            "net_d": conf.join("net.d"),
            "plugin_dirs": catalog.plugin_dirs,
        },
        "tpm": {
            "policy": g.tpm.policy.map(|p| format!("{p:?}").to_lowercase()),
            "tcti": g.tpm.tpm_tcti,
            "pcr": g.tpm.tpm_pcr,
            "log": g.tpm.tpm_log,
        },
        "engines": engines,
    });
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Table => print_config(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn existing(p: PathBuf) -> Value {
    json!({ "path": p, "exists": p.exists() })
}

fn print_config(out: &mut impl Write, r: &Value) -> std::io::Result<()> {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    writeln!(out, "store: {}", s(&r["store"]))?;
    writeln!(out, "config dir: {}", s(&r["config_dir"]))?;
    let reg = &r["registries_conf"];
    let state = if reg["exists"] == true {
        ""
    } else {
        " (absent)"
    };
    writeln!(out, "registries.conf: {}{state}", s(&reg["path"]))?;
    let list = |v: &Value| -> Vec<String> { v.as_array().into_iter().flatten().map(s).collect() };
    writeln!(out, "auth files, looked up per host in this order:")?;
    for f in list(&r["auth_files"]) {
        writeln!(out, "  {f}")?;
    }
    writeln!(out, "rukt login writes: {}", s(&r["login_file"]))?;
    writeln!(out, "certs.d: {}", list(&r["certs_dirs"]).join(", "))?;
    writeln!(out, "signature policy: {}", s(&r["signature_policy"]))?;
    writeln!(out, "registries.d: {}", s(&r["registries_d"]))?;
    writeln!(out, "networks: {}", s(&r["networks"]["net_d"]))?;
    let dirs: Vec<String> = r["networks"]["plugin_dirs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    writeln!(out, "CNI plugins: {}", dirs.join(":"))?;
    let t = &r["tpm"];
    let or = |v: &Value, default: &str| v.as_str().map_or(default.to_string(), str::to_string);
    writeln!(
        out,
        "tpm: {} (tcti {}, pcr {}, log {})",
        or(&t["policy"], "default"),
        or(&t["tcti"], "default"),
        t["pcr"]
            .as_u64()
            .map_or("default".to_string(), |p| p.to_string()),
        or(&t["log"], "default")
    )?;
    for e in r["engines"].as_array().into_iter().flatten() {
        let where_ = e["path"].as_str().map_or_else(
            || format!("unavailable ({})", e["error"].as_str().unwrap_or("?")),
            str::to_string,
        );
        writeln!(out, "engine {}: {where_}", s(&e["name"]))?;
    }
    Ok(())
}

/// `rukt completion SHELL`.
pub fn completion(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rukt", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        // A reader that left early (`| head`) is not a failure of ours.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the completion script")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `rukt generate man DIR`: a page per command, subcommands named
/// `rukt-VERB-SUB.1`.
pub fn man(dir: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = Cli::command();
    cmd.build();
    write_pages(&cmd, "rukt", dir)?;
    Ok(ExitCode::SUCCESS)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
