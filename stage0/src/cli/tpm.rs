//! The TPM event log's flags (global: every verb that measures takes them)
//! and `rukt tpm ...`. Each may also come from the environment or from
//! `<config-dir>/tpm.toml` (`policy`, `tcti`, `pcr`, `log`), so a systemd
//! unit or a kubelet need not pass flags.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::Format;

/// `--tpm` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TpmPolicyArg {
    /// Measure nothing.
    Off,
    /// Measure; warn once and go on when it fails.
    BestEffort,
    /// Refuse a pod whose measurement fails.
    Required,
}

/// Where and whether to measure.
#[derive(Debug, Clone, Args)]
pub struct TpmFlags {
    /// TPM event logging (default: best-effort when a TPM is configured
    /// or /dev/tpmrm0 exists, else off).
    #[arg(
        id = "tpm",
        long = "tpm",
        global = true,
        env = "RUKT_TPM",
        value_enum,
        value_name = "off|best-effort|required"
    )]
    pub policy: Option<TpmPolicyArg>,
    /// The TPM: device:/dev/tpmrm0 (default) or swtpm:host=HOST,port=PORT.
    #[arg(long, global = true, env = "RUKT_TPM_TCTI", value_name = "TCTI")]
    pub tpm_tcti: Option<String>,
    /// The PCR to measure into (default 15; never 16 or 23, which userspace can reset).
    #[arg(long, global = true, env = "RUKT_TPM_PCR", value_name = "N")]
    pub tpm_pcr: Option<u32>,
    /// The event log (default /run/rukt/tpm/measure.log).
    #[arg(long, global = true, env = "RUKT_TPM_LOG", value_name = "FILE")]
    pub tpm_log: Option<PathBuf>,
}

/// `rukt tpm ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum TpmCommand {
    /// Show the event log's records.
    Log {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Only this pod's records (UUID or prefix).
        #[arg(long)]
        pod: Option<String>,
    },
    /// Check the log's records and replay it against the PCR (exit 0 OK,
    /// 1 MISMATCH, 3 PENDING).
    Verify {
        /// Check exported evidence (a directory from `rukt tpm quote
        /// --export`) instead of the local TPM: the quote's signature, nonce
        /// and PCR digest, and the exported log against the quoted PCR.
        #[arg(long, value_name = "DIR", requires_all = ["nonce", "ak_pub"])]
        quote: Option<PathBuf>,
        /// The nonce the quote must carry (hex).
        #[arg(long, value_name = "HEX")]
        nonce: Option<String>,
        /// The attestation key's public part (PEM, as tpm2_createak -f pem writes it).
        #[arg(long, value_name = "FILE")]
        ak_pub: Option<PathBuf>,
    },
    /// Quote the PCR with an attestation key (via tpm2-tools) and export
    /// the quote with a copy of the log.
    Quote {
        /// The verifier's nonce (hex).
        #[arg(long, value_name = "HEX")]
        nonce: String,
        /// The attestation key's context (tpm2_createak -c).
        #[arg(long, value_name = "CTX")]
        ak: PathBuf,
        /// Directory to write the evidence to (created; must not exist).
        #[arg(long, value_name = "DIR")]
        export: PathBuf,
    },
    /// Report on the TPM and the chosen PCR (banks, values, who else uses
    /// it) and warn about secrets sealed to it.
    Check,
}
