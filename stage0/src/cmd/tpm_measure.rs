//! The measurer every measuring verb gets from the TPM settings (flag, then
//! environment, then `<config-dir>/tpm.toml`, then the defaults), and the
//! hooks through which `fetch`, `status`, `gc` and `rm` measure.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rukt_tpm::log::DEFAULT_LOG;
use rukt_tpm::pcr::{DEFAULT_PCR, check_pcr};
use rukt_tpm::tcti::DEFAULT_TCTI;
use rukt_tpm::{Config, Measurer, Policy, Tcti};
use serde::Deserialize;

use super::Globals;
use crate::cli::tpm::{TpmFlags, TpmPolicyArg};

/// `<config-dir>/tpm.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    policy: Option<String>,
    tcti: Option<String>,
    pcr: Option<u32>,
    log: Option<PathBuf>,
}

/// The measurement configuration from the flags, the config file and the
/// defaults.
pub fn config(flags: &TpmFlags, config_dir: &Path, state_dir: &Path) -> Result<Config> {
    let path = config_dir.join("tpm.toml");
    let file: FileConfig = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let tcti_text = flags.tpm_tcti.clone().or(file.tcti);
    let configured = tcti_text.is_some();
    let tcti: Tcti = tcti_text
        .as_deref()
        .unwrap_or(DEFAULT_TCTI)
        .parse()
        .context("invalid --tpm-tcti")?;
    let policy = match (flags.policy, file.policy) {
        (Some(TpmPolicyArg::Off), _) => Policy::Off,
        (Some(TpmPolicyArg::BestEffort), _) => Policy::BestEffort,
        (Some(TpmPolicyArg::Required), _) => Policy::Required,
        (None, Some(p)) => p
            .parse()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("invalid policy in {}", path.display()))?,
        // Off where no TPM is found or named.
        (None, None) => match &tcti {
            _ if configured => Policy::BestEffort,
            Tcti::Device(p) if p.exists() => Policy::BestEffort,
            _ => Policy::Off,
        },
    };
    Ok(Config {
        policy,
        tcti,
        pcr: flags.tpm_pcr.or(file.pcr).unwrap_or(DEFAULT_PCR),
        log: flags
            .tpm_log
            .clone()
            .or(file.log)
            .unwrap_or_else(|| DEFAULT_LOG.into()),
        archive_dir: state_dir.join("tpm/archive"),
    })
}

/// The measurer for verbs that measure; a PCR rukt must not use is a
/// usage error unless measuring is off.
pub fn measurer(g: &Globals) -> Result<Measurer> {
    let c = config(&g.tpm, &g.config_dir, &g.dir)?;
    if c.policy != Policy::Off {
        check_pcr(c.pcr).context("invalid --tpm-pcr")?;
    }
    Ok(Measurer::new(c))
}

/// Measures `pod`'s exits if it is over and nobody did yet. An exit has
/// already happened: a failure is reported, never refused.
pub fn measure_exits(m: &Measurer, pod: &rukt_pods::Pod, st: &rukt_pods::PodStatus) {
    if let Err(e) = rukt_pods::measure::pod_exited(m, pod, st) {
        crate::report(
            &anyhow::Error::from(e).context(format!("cannot measure the exit of pod {}", pod.uuid)),
        );
    }
}

/// [`measure_exits`] of `pod`, reading its status only when measuring.
pub fn measure_exits_of(m: &Measurer, pod: &rukt_pods::Pod) {
    if m.is_on() {
        measure_exits(m, pod, &rukt_pods::status(pod));
    }
}

/// Measures the removal of `uuid`; reported, never refused (it is gone).
pub fn measure_gc(m: &Measurer, uuid: &rukt_pods::PodUuid) {
    if let Err(e) = rukt_pods::measure::pod_gc(m, uuid) {
        crate::report(
            &anyhow::Error::from(e).context(format!("cannot measure the removal of pod {uuid}")),
        );
    }
}

/// `image-verified` for an image `rukt fetch` fetched and verified.
pub fn measure_image(m: &Measurer, rec: &rukt_images::store::ImageRecord) -> Result<()> {
    rukt_pods::measure::image_verified(m, rec).with_context(|| {
        format!(
            "cannot measure image {} into the TPM (--tpm=required)",
            rec.name
        )
    })
}
