//! Measuring an event: lock the log, append the record and sync it, then
//! extend the PCR in every active bank (a crash in between leaves a record
//! the verifier reports as pending, never a gap), under a policy that says
//! what a failure means. A log from another boot is archived and a new one
//! begun with a `log-start` record holding the PCR's value at that moment.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rukt_sys::lock::LockMode;

use crate::alg::hex;
use crate::client::{Tpm, TpmError};
use crate::log::{LockedLog, LogError, boot_id};
use crate::pcr::{PcrError, check_pcr};
use crate::record::{Content, EventKind, Fields, Record};
use crate::replay::{Verdict, verify};
use crate::tcti::Tcti;

/// What a failed measurement means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Measure nothing.
    #[default]
    Off,
    /// Measure; on failure warn once and go on.
    BestEffort,
    /// Measure; on failure refuse what was being measured.
    Required,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "off" => Ok(Policy::Off),
            "best-effort" => Ok(Policy::BestEffort),
            "required" => Ok(Policy::Required),
            _ => Err(format!(
                "invalid TPM policy {s:?}: expected off, best-effort or required"
            )),
        }
    }
}

/// Where and how to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The policy.
    pub policy: Policy,
    /// The TPM.
    pub tcti: Tcti,
    /// The PCR (checked by [`check_pcr`]).
    pub pcr: u32,
    /// The event log.
    pub log: PathBuf,
    /// Where logs of earlier boots go.
    pub archive_dir: PathBuf,
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The PCR is not one rukt uses.
    #[error(transparent)]
    Pcr(#[from] PcrError),
    /// The TPM failed.
    #[error(transparent)]
    Tpm(#[from] TpmError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The TPM has no bank rukt can hash for.
    #[error("the TPM has no active PCR bank rukt knows (sha1, sha256, sha384, sha512)")]
    NoBanks,
}

/// Measures events under a [`Config`].
#[derive(Debug)]
pub struct Measurer {
    config: Config,
    warned: AtomicBool,
}

impl Clone for Measurer {
    fn clone(&self) -> Measurer {
        Measurer::new(self.config.clone())
    }
}

impl Measurer {
    /// A measurer for `config`.
    pub fn new(config: Config) -> Measurer {
        Measurer {
            config,
            warned: AtomicBool::new(false),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether it measures at all (the policy is not off).
    pub fn is_on(&self) -> bool {
        self.config.policy != Policy::Off
    }

    /// Measures `event` as the policy says: nothing when off; when best
    /// effort, a failure is logged (a warning the first time) and `Ok`;
    /// when required, a failure is returned. `Ok(Some(recnum))` when
    /// measured.
    pub fn measure(&self, event: EventKind, fields: Fields) -> Result<Option<u64>, MeasureError> {
        if self.config.policy == Policy::Off {
            return Ok(None);
        }
        match self.measure_now(event, fields) {
            Ok(n) => Ok(Some(n)),
            Err(e) if self.config.policy == Policy::BestEffort => {
                let why = crate::error_chain(&e);
                if self.warned.swap(true, Ordering::Relaxed) {
                    tracing::info!("{} not measured into the TPM: {why}", event.name());
                } else {
                    tracing::warn!(
                        "{} not measured into the TPM (--tpm=best-effort goes on): {why}",
                        event.name()
                    );
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Measures `event` whatever the policy; returns its recnum.
    pub fn measure_now(&self, event: EventKind, fields: Fields) -> Result<u64, MeasureError> {
        let pcr = check_pcr(self.config.pcr)?;
        let boot = boot_id();
        let mut log = LockedLog::open(&self.config.log, LockMode::Exclusive)?;
        let mut tpm = Tpm::open(&self.config.tcti)?;
        let banks = tpm.active_banks()?;
        if banks.is_empty() {
            return Err(MeasureError::NoBanks);
        }
        if log.drop_torn_tail()? {
            tracing::warn!(
                "cut a torn record from the end of {} (its writer died while appending it)",
                self.config.log.display()
            );
        }
        let mut ends = log.ends()?;
        if let Some((first_boot, _)) = &ends
            && *first_boot != boot
        {
            let archive = self
                .config
                .archive_dir
                .join(format!("measure-{first_boot}-{}.log", now_ns()));
            log.archive(&archive)?;
            tracing::info!(
                "archived the TPM event log of boot {first_boot} to {}",
                archive.display()
            );
            log = LockedLog::open(&self.config.log, LockMode::Exclusive)?;
            ends = log.ends()?;
            if ends.is_none() {
                let previous = Some(archive.display().to_string());
                self.start_log(&log, &mut tpm, pcr, &banks, &boot, previous)?;
                ends = Some((boot.clone(), 0));
            }
        } else if ends.is_none() {
            self.start_log(&log, &mut tpm, pcr, &banks, &boot, None)?;
            ends = Some((boot.clone(), 0));
        } else if log.pending_marked()? {
            complete_pending(&log, &mut tpm, pcr, &banks, &log.records()?)?;
        }
        let recnum = ends.map_or(0, |(_, last)| last + 1);
        let content = Content::new(event, boot, now_ns(), fields);
        let record = Record::new(recnum, pcr, &banks, content);
        write_and_extend(&log, &mut tpm, &record)?;
        Ok(recnum)
    }

    fn start_log(
        &self,
        log: &LockedLog,
        tpm: &mut Tpm,
        pcr: u32,
        banks: &[crate::alg::HashAlg],
        boot: &str,
        previous_log: Option<String>,
    ) -> Result<(), MeasureError> {
        let values = tpm.pcr_read(pcr, banks)?;
        let fields = Fields {
            pcr_start: values
                .iter()
                .map(|(a, v)| (a.name().to_string(), hex(v)))
                .collect(),
            previous_log,
            ..Fields::default()
        };
        let content = Content::new(EventKind::LogStart, boot.to_string(), now_ns(), fields);
        write_and_extend(log, tpm, &Record::new(0, pcr, banks, content))
    }
}

/// Appends and syncs `record`, extends it, clears the pending mark.
fn write_and_extend(log: &LockedLog, tpm: &mut Tpm, record: &Record) -> Result<(), MeasureError> {
    log.append(record)?;
    tpm.extend(record.pcr, &record.bank_digests())?;
    log.extended()?;
    Ok(())
}

/// A writer died after appending its record: extend that record if the PCR
/// shows it was not (the log says it happened; the PCR catches up), and
/// leave anything else for the verifier to report.
fn complete_pending(
    log: &LockedLog,
    tpm: &mut Tpm,
    pcr: u32,
    banks: &[crate::alg::HashAlg],
    records: &[Record],
) -> Result<(), MeasureError> {
    let actual = tpm.pcr_read(pcr, banks)?;
    if let (Verdict::Pending(1), Some(last)) =
        (verify(records, pcr, &actual).verdict, records.last())
    {
        tracing::warn!(
            "extending TPM event log record {}, which a writer appended but did not extend",
            last.recnum
        );
        tpm.extend(pcr, &last.bank_digests())?;
    }
    log.extended()?;
    Ok(())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
