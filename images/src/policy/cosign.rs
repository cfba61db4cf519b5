//! Sigstore (cosign) signatures with public keys: ECDSA P-256 over the
//! payload bytes, carried in a `sha256-<hex>.sig` attachment manifest whose
//! layers are the payloads and whose layer annotations hold the signatures.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde::Deserialize;

use super::{MAX_SIGNATURE_SIZE, MAX_SIGNATURES};
use crate::digest::Digest;

/// The media type of a cosign payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 DER signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Trusted sigstore public keys.
#[derive(Debug, Default)]
pub struct Keys {
    keys: Vec<(VerifyingKey, String)>,
}

/// The fingerprint rukt shows for a public key: SHA-256 of its DER
/// SubjectPublicKeyInfo.
fn fingerprint(k: &VerifyingKey) -> String {
    let der = k
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    format!("SHA256:{}", Digest::sha256_of(&der).hex())
}

impl Keys {
    /// Parses one PEM `PUBLIC KEY` (P-256).
    pub fn parse(pem: &[u8]) -> Result<Keys, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "not a PEM public key")?;
        let key = VerifyingKey::from_public_key_pem(text.trim())
            .map_err(|e| format!("not a PEM P-256 public key: {e}"))?;
        let fpr = fingerprint(&key);
        Ok(Keys {
            keys: vec![(key, fpr)],
        })
    }

    /// Adds another set's keys.
    pub fn extend(&mut self, other: Keys) {
        self.keys.extend(other.keys);
    }

    /// The keys' fingerprints.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|(_, f)| f.clone()).collect()
    }

    /// Verifies `signature` (base64 DER) over `payload`; returns the
    /// fingerprint of the key that made it.
    pub fn verify(&self, payload: &[u8], signature: &str) -> Result<String, String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| "the signature annotation is not base64")?;
        let sig = DerSignature::try_from(der.as_slice())
            .map_err(|_| "the signature is not a DER ECDSA signature")?;
        self.keys
            .iter()
            .find(|(k, _)| k.verify(payload, &sig).is_ok())
            .map(|(_, f)| f.clone())
            .ok_or_else(|| "no trusted sigstore key made this signature".to_string())
    }
}

/// One signature found in an attachment.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The payload blob.
    pub payload: Digest,
    /// Its size.
    pub size: u64,
    /// The base64 signature.
    pub signature: String,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// The signatures an attachment manifest lists (layers of other types
/// are skipped; more than [`MAX_SIGNATURES`] refuse the attachment).
pub fn parse_attachment(bytes: &[u8]) -> Result<Vec<Attached>, String> {
    let m: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid signature attachment: {e}"))?;
    if m.manifests.is_some() {
        return Err("the signature attachment is an index, not a manifest".into());
    }
    if m.layers.len() > MAX_SIGNATURES {
        return Err(format!(
            "the signature attachment has {} signatures (at most {MAX_SIGNATURES})",
            m.layers.len()
        ));
    }
    let mut out = Vec::new();
    for l in m.layers {
        if l.media_type != PAYLOAD_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = l.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        if l.size > MAX_SIGNATURE_SIZE {
            return Err("a signature payload is larger than 4 MiB".into());
        }
        let payload = l
            .digest
            .parse()
            .map_err(|e| format!("invalid payload digest in the attachment: {e}"))?;
        out.push(Attached {
            payload,
            size: l.size,
            signature: signature.clone(),
        });
    }
    Ok(out)
}

/// The attachment tag for a manifest digest (from a validated digest only).
pub fn attachment_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().name(), digest.hex())
}
