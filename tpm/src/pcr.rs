//! Which PCR rukt may measure into. A PCR that userspace can reset (16 and
//! 23 at locality 0) gives no tamper evidence, and one it cannot extend
//! (17–22, the DRTM PCRs) would fail every measurement: both are refused,
//! with the reason. What the remaining PCRs are used for by others is
//! [`usage`], which `rukt tpm check` reports.

use crate::client::PCR_COUNT;

/// The default PCR (systemd's "system identity" PCR, which rkt used too).
pub const DEFAULT_PCR: u32 = 15;

/// A PCR rukt will not use.
#[derive(Debug, thiserror::Error)]
pub enum PcrError {
    /// Out of range.
    #[error("PCR {0} does not exist (a TPM has PCRs 0-{max})", max = PCR_COUNT - 1)]
    NoSuchPcr(u32),
    /// Resettable from userspace.
    #[error(
        "PCR {0} can be reset by any root process (TPM2_PCR_Reset at locality 0), so a log replayed onto it proves nothing; use 15 or another of 8-15"
    )]
    Resettable(u32),
    /// Not extendable at locality 0.
    #[error(
        "PCR {0} is a DRTM PCR that userspace (locality 0) cannot extend; use 15 or another of 8-15"
    )]
    NotExtendable(u32),
    /// Firmware's PCRs: their log is the firmware's, not ours.
    #[error(
        "PCR {0} holds firmware measurements whose log rukt cannot replay; use 15 or another of 8-15"
    )]
    Firmware(u32),
}

/// Checks that rukt may measure into `pcr`.
pub fn check_pcr(pcr: u32) -> Result<u32, PcrError> {
    match pcr {
        0..=7 => Err(PcrError::Firmware(pcr)),
        16 | 23 => Err(PcrError::Resettable(pcr)),
        17..=22 => Err(PcrError::NotExtendable(pcr)),
        p if p >= PCR_COUNT => Err(PcrError::NoSuchPcr(pcr)),
        p => Ok(p),
    }
}

/// Who else measures into `pcr` on Linux (the UAPI group's PCR registry).
pub fn usage(pcr: u32) -> &'static str {
    match pcr {
        8 | 9 => "boot loader (grub) and kernel initrd; systemd NvPCR anchors in 9",
        10 => "IMA (the kernel's file measurements)",
        11 => "unified kernel image sections and systemd-pcrphase boot phases",
        12 => "kernel command line and credentials (systemd-stub)",
        13 => "system extension images (systemd-stub)",
        14 => "shim's MOK certificates",
        15 => {
            "systemd's system identity (machine-id, file system ids, LUKS volume keys); secrets sealed with systemd-cryptenroll --tpm2-pcrs=15 break once pods are measured"
        }
        _ => "unassigned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pcrs_without_tamper_evidence() {
        assert_eq!(check_pcr(15).unwrap(), 15);
        assert_eq!(check_pcr(8).unwrap(), 8);
        for p in [16, 23] {
            assert!(matches!(check_pcr(p), Err(PcrError::Resettable(_))));
        }
        for p in 17..=22 {
            assert!(matches!(check_pcr(p), Err(PcrError::NotExtendable(_))));
        }
        assert!(matches!(check_pcr(0), Err(PcrError::Firmware(0))));
        assert!(matches!(check_pcr(24), Err(PcrError::NoSuchPcr(24))));
        assert!(check_pcr(16).unwrap_err().to_string().contains("reset"));
    }
}
