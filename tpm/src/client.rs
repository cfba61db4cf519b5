//! A minimal TPM2 client: the three commands rukt needs, marshalled by hand
//! (TPM2 Part 3): `GetCapability(TPM_CAP_PCRS)` for the active banks,
//! `PCR_Read` and `PCR_Extend` (with the empty password session a PCR's
//! auth takes at locality 0). Big-endian throughout.

use crate::alg::HashAlg;
use crate::tcti::{Tcti, Transport};

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_PCR_EXTEND: u32 = 0x0000_0182;
const TPM_CC_PCR_READ: u32 = 0x0000_017E;
const TPM_CC_GET_CAPABILITY: u32 = 0x0000_017A;
const TPM_CAP_PCRS: u32 = 0x0000_0005;
const TPM_RS_PW: u32 = 0x4000_0009;
/// The number of PCRs a PC-client TPM has (3 bytes of selection bitmap).
pub const PCR_COUNT: u32 = 24;

/// What went wrong talking to the TPM.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The TPM could not be opened or the transfer failed.
    #[error("cannot reach the TPM at {tcti}")]
    Io {
        /// Where.
        tcti: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TPM refused the command.
    #[error("the TPM refused {command} with response code {code:#x}")]
    Refused {
        /// The command.
        command: &'static str,
        /// `TPM_RC`.
        code: u32,
    },
    /// The response did not parse.
    #[error("malformed {0} response from the TPM")]
    Malformed(&'static str),
}

/// An open TPM.
#[derive(Debug)]
pub struct Tpm {
    tcti: String,
    io: Transport,
}

impl Tpm {
    /// Connects to the TPM `tcti` names.
    pub fn open(tcti: &Tcti) -> Result<Tpm, TpmError> {
        let name = tcti.to_string();
        let io = Transport::open(tcti).map_err(|source| TpmError::Io {
            tcti: name.clone(),
            source,
        })?;
        Ok(Tpm { tcti: name, io })
    }

    fn call(
        &mut self,
        command: &'static str,
        tag: u16,
        cc: u32,
        body: &[u8],
    ) -> Result<Vec<u8>, TpmError> {
        let mut cmd = Vec::with_capacity(10 + body.len());
        cmd.extend(tag.to_be_bytes());
        cmd.extend((10 + body.len() as u32).to_be_bytes());
        cmd.extend(cc.to_be_bytes());
        cmd.extend(body);
        let resp = self.io.transact(&cmd).map_err(|source| TpmError::Io {
            tcti: self.tcti.clone(),
            source,
        })?;
        let mut r = Reader(&resp);
        let (_tag, size, code) = (r.u16(), r.u32(), r.u32());
        match (size, code) {
            (Some(size), Some(0)) if size as usize == resp.len() => Ok(resp[10..].to_vec()),
            (_, Some(code)) if code != 0 => Err(TpmError::Refused { command, code }),
            _ => Err(TpmError::Malformed(command)),
        }
    }

    /// The active PCR banks (allocated with at least one PCR selected).
    pub fn active_banks(&mut self) -> Result<Vec<HashAlg>, TpmError> {
        let mut body = Vec::new();
        body.extend(TPM_CAP_PCRS.to_be_bytes());
        body.extend(0u32.to_be_bytes());
        body.extend(1u32.to_be_bytes());
        let resp = self.call(
            "GetCapability",
            TPM_ST_NO_SESSIONS,
            TPM_CC_GET_CAPABILITY,
            &body,
        )?;
        let bad = || TpmError::Malformed("GetCapability");
        let mut r = Reader(&resp);
        r.u8().ok_or_else(bad)?; // moreData
        if r.u32() != Some(TPM_CAP_PCRS) {
            return Err(bad());
        }
        let mut banks = Vec::new();
        for (id, bitmap) in r.selections().ok_or_else(bad)? {
            if let Some(alg) = HashAlg::from_id(id)
                && bitmap.iter().any(|b| *b != 0)
            {
                banks.push(alg);
            }
        }
        banks.sort();
        Ok(banks)
    }

    /// The value of `pcr` in each of `banks`.
    pub fn pcr_read(
        &mut self,
        pcr: u32,
        banks: &[HashAlg],
    ) -> Result<Vec<(HashAlg, Vec<u8>)>, TpmError> {
        let mut out = Vec::new();
        // One bank per command: a TPM returns at most 8 digests per read,
        // and some fewer than asked.
        for &alg in banks {
            let mut body = Vec::new();
            body.extend(1u32.to_be_bytes());
            body.extend(alg.id().to_be_bytes());
            body.push(3);
            body.extend(bitmap(pcr));
            let resp = self.call("PCR_Read", TPM_ST_NO_SESSIONS, TPM_CC_PCR_READ, &body)?;
            let bad = || TpmError::Malformed("PCR_Read");
            let mut r = Reader(&resp);
            r.u32().ok_or_else(bad)?; // pcrUpdateCounter
            let sel = r.selections().ok_or_else(bad)?;
            if sel != [(alg.id(), bitmap(pcr).to_vec())] {
                // The TPM left the bank out: it is not active.
                return Err(TpmError::Malformed("PCR_Read"));
            }
            if r.u32() != Some(1) {
                return Err(bad());
            }
            let value = r.sized().ok_or_else(bad)?;
            if value.len() != alg.digest_len() {
                return Err(bad());
            }
            out.push((alg, value.to_vec()));
        }
        Ok(out)
    }

    /// Extends `pcr` with one digest per bank, in one command.
    pub fn extend(&mut self, pcr: u32, digests: &[(HashAlg, Vec<u8>)]) -> Result<(), TpmError> {
        let mut body = Vec::new();
        body.extend(pcr.to_be_bytes());
        // The authorization area: the empty password session.
        body.extend(9u32.to_be_bytes());
        body.extend(TPM_RS_PW.to_be_bytes());
        body.extend(0u16.to_be_bytes()); // nonce
        body.push(0); // session attributes
        body.extend(0u16.to_be_bytes()); // hmac
        body.extend((digests.len() as u32).to_be_bytes());
        for (alg, d) in digests {
            body.extend(alg.id().to_be_bytes());
            body.extend(d);
        }
        self.call("PCR_Extend", TPM_ST_SESSIONS, TPM_CC_PCR_EXTEND, &body)
            .map(drop)
    }
}

/// The 3-byte selection bitmap of one PCR.
fn bitmap(pcr: u32) -> [u8; 3] {
    let mut b = [0u8; 3];
    b[(pcr / 8) as usize] = 1 << (pcr % 8);
    b
}

/// A cursor over a response.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A `TPM2B`: u16 size, then that many bytes.
    fn sized(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n.into())
    }
    /// A `TPML_PCR_SELECTION`: (hash id, bitmap) pairs.
    fn selections(&mut self) -> Option<Vec<(u16, Vec<u8>)>> {
        let count = self.u32()?;
        if count > 16 {
            return None;
        }
        (0..count)
            .map(|_| {
                let id = self.u16()?;
                let n = self.u8()?;
                Some((id, self.take(n.into())?.to_vec()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_bitmaps() {
        assert_eq!(bitmap(0), [1, 0, 0]);
        assert_eq!(bitmap(15), [0, 0x80, 0]);
        assert_eq!(bitmap(23), [0, 0, 0x80]);
        let data = [0, 0, 0, 2, 0, 0x0B, 3, 0, 0x80, 0, 0, 4, 3, 0, 0, 0];
        assert_eq!(
            Reader(&data).selections(),
            Some(vec![(0x0B, vec![0, 0x80, 0]), (4, vec![0, 0, 0])])
        );
        assert_eq!(Reader(&data[..6]).selections(), None);
    }
}
