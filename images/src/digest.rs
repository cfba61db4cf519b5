//! Content digests (`sha256:…`, `sha512:…`): parsing, hashing and the
//! verifying reader every blob passes through while it streams.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm the store accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and store paths.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated `algorithm:hex` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// A string that is not a digest this store understands.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256:<64 hex> or sha512:<128 hex>")]
pub struct DigestParseError(String);

impl Digest {
    /// The digest's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(data);
        h.finish()
    }

    /// The first 12 hex characters: the short id shown in tables.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DigestParseError(s.to_string());
        let (alg, hex) = s.split_once(':').ok_or_else(err)?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(err()),
        };
        let valid = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(err());
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for either algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// Why a blob failed verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The content hashed to something else.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Digest {
        /// The digest the descriptor promised.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Fewer bytes than the descriptor's size.
    #[error("truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// The descriptor's size.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// More bytes than the descriptor's size.
    #[error("longer than its descriptor's size of {expected} bytes")]
    TooLong {
        /// The descriptor's size.
        expected: u64,
    },
}

/// A reader that hashes and counts what passes through it, refuses to yield
/// more than the expected size, and checks both at the end.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Hasher,
    read: u64,
    expected_size: Option<u64>,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, hashing with `algorithm`; `expected_size` of `None`
    /// means any length.
    pub fn new(inner: R, algorithm: Algorithm, expected_size: Option<u64>) -> Self {
        VerifyingReader {
            inner,
            hasher: Hasher::new(algorithm),
            read: 0,
            expected_size,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads the rest of the stream (so the hash covers all of it) and
    /// returns the digest and length.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finish(), self.read))
    }

    /// Reads the rest and checks digest and size against `expected`.
    pub fn verify(self, expected: &Digest) -> Result<u64, VerifyStreamError> {
        self.verify_into_inner(expected).map(|(_, len)| len)
    }

    /// Like [`VerifyingReader::verify`], handing back the inner reader.
    pub fn verify_into_inner(mut self, expected: &Digest) -> Result<(R, u64), VerifyStreamError> {
        io::copy(&mut self, &mut io::sink())?;
        let (actual, len) = (self.hasher.finish(), self.read);
        check(expected, self.expected_size, &actual, len)?;
        Ok((self.inner, len))
    }
}

/// Compares what was read with what a descriptor promised.
pub fn check(
    expected: &Digest,
    expected_size: Option<u64>,
    actual: &Digest,
    len: u64,
) -> Result<(), VerifyError> {
    if let Some(size) = expected_size
        && len < size
    {
        return Err(VerifyError::Truncated {
            expected: size,
            actual: len,
        });
    }
    if actual != expected {
        return Err(VerifyError::Digest {
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}

/// Failure while reading a stream to verify it: I/O or the check itself.
#[derive(Debug, thiserror::Error)]
pub enum VerifyStreamError {
    /// Reading failed (this includes [`VerifyError::TooLong`] raised mid-stream).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The stream was read whole but does not match.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if n == 0
            && !buf.is_empty()
            && let Some(size) = self.expected_size
            && self.read < size
        {
            // Say "truncated" now, before a decompressor reading this says
            // something vaguer about its stream ending early.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                VerifyError::Truncated {
                    expected: size,
                    actual: self.read,
                },
            ));
        }
        if let Some(size) = self.expected_size
            && self.read > size
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                VerifyError::TooLong { expected: size },
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(
            "md5:d41d8cd98f00b204e9800998ecf8427e"
                .parse::<Digest>()
                .is_err()
        );
        assert!(
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                .parse::<Digest>()
                .is_err()
        );
    }

    #[test]
    fn sha512_round_trip() {
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"abc");
        let d = h.finish();
        assert!(d.hex().starts_with("ddaf35a193617aba"));
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn verifying_reader_catches_mismatch_truncation_and_excess() {
        let good = Digest::sha256_of(b"hello");
        let r = VerifyingReader::new(&b"hello"[..], Algorithm::Sha256, Some(5));
        assert_eq!(r.verify(&good).unwrap(), 5);

        let r = VerifyingReader::new(&b"hellO"[..], Algorithm::Sha256, Some(5));
        assert!(matches!(
            r.verify(&good),
            Err(VerifyStreamError::Verify(VerifyError::Digest { .. }))
        ));

        let r = VerifyingReader::new(&b"hell"[..], Algorithm::Sha256, Some(5));
        let err = r.verify(&good).unwrap_err();
        let VerifyStreamError::Io(io) = err else {
            panic!("expected an io error: {err}")
        };
        assert!(matches!(
            io.get_ref().and_then(|e| e.downcast_ref::<VerifyError>()),
            Some(VerifyError::Truncated {
                expected: 5,
                actual: 4
            })
        ));

        let r = VerifyingReader::new(&b"hello!"[..], Algorithm::Sha256, Some(5));
        assert!(matches!(r.verify(&good), Err(VerifyStreamError::Io(_))));
    }
}
