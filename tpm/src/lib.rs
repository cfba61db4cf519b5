//! `rukt-tpm`: tamper-evident measurement of what pods run, into a TPM PCR
//! and an event log that anyone can replay (`docs/tpm.md`).
//!
//! - [`tcti`] and [`client`]: a small TPM2 client (active banks, PCR read,
//!   PCR extend) over `/dev/tpmrm0` or swtpm's TCP port; no daemon and no C
//!   library.
//! - [`pcr`]: which PCRs may be used (never one userspace can reset).
//! - [`record`] and [`log`]: CEL-JSON records in JSON-SEQ framing, with a
//!   canonical string per event whose hash is what is measured.
//! - [`measure`]: lock, append and sync, then extend, under a policy.
//! - [`replay`]: verification by replay per bank (OK, PENDING, MISMATCH).
//!
//! Quotes are not here: they need keys, sessions and signatures, and go
//! through tpm2-tools (`rukt tpm quote`).
//!
//! A floor crate: it depends on `rukt-sys` and pure-Rust crates only, logs
//! through `tracing` and never prints.

#![forbid(unsafe_code)]

pub mod alg;
pub mod client;
pub mod log;
pub mod measure;
pub mod pcr;
pub mod record;
pub mod replay;
pub mod tcti;

pub use alg::HashAlg;
pub use client::{Tpm, TpmError};
pub use measure::{Config, MeasureError, Measurer, Policy};
pub use record::{EventKind, Fields, Record};
pub use replay::{Report, Verdict, verify};
pub use tcti::Tcti;

/// `e` and its causes, `: `-separated (for one log line).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
