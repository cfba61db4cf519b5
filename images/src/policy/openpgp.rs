//! OpenPGP simple signing: a keyring per requirement (never the user's
//! GnuPG home), and the check of one signature blob. The issuer is looked
//! up among the trusted keys before any cryptography; the key must be the
//! primary or a bound signing subkey, neither expired nor revoked; only a
//! binary signed message is accepted (no cleartext, no literal-only or
//! encrypted message), and its payload is returned unparsed.

use std::io::{BufReader, Read};
use std::time::{Duration, SystemTime};

use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, VerifyingKey};

use super::MAX_SIGNATURE_SIZE;

/// Trusted OpenPGP keys.
#[derive(Debug, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

/// A fingerprint as users see it: upper-case hex.
pub fn fingerprint_hex(k: &impl KeyDetails) -> String {
    format!("{:X}", k.fingerprint())
}

impl Keyring {
    /// Parses binary or ASCII-armored public keys (one or several).
    pub fn parse(data: &[u8]) -> Result<Keyring, String> {
        let trimmed = data.trim_ascii_start();
        let keys: Vec<SignedPublicKey> = if trimmed.starts_with(b"-----BEGIN") {
            let (it, _) = SignedPublicKey::from_armor_many(trimmed)
                .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
            it.collect::<Result<_, _>>()
        } else {
            SignedPublicKey::from_bytes_many(BufReader::new(trimmed))
                .map_err(|e| format!("not an OpenPGP public key: {e}"))?
                .collect::<Result<_, _>>()
        }
        .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
        if keys.is_empty() {
            return Err("no OpenPGP public key in the data".into());
        }
        Ok(Keyring { keys })
    }

    /// Adds another ring's keys.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    /// The primary keys' fingerprints.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| fingerprint_hex(&k.primary_key))
            .collect()
    }

    /// Verifies a simple-signing blob; returns the payload and the primary
    /// fingerprint of the key that signed it.
    pub fn verify(&self, blob: &[u8]) -> Result<(Vec<u8>, String), String> {
        if blob.len() as u64 > MAX_SIGNATURE_SIZE {
            return Err("signature larger than 4 MiB".into());
        }
        if blob.first().is_none_or(|b| b & 0x80 == 0) {
            return Err(
                "not a binary OpenPGP message (cleartext or armored signatures are refused)".into(),
            );
        }
        let msg = Message::from_bytes(blob).map_err(|e| format!("not an OpenPGP message: {e}"))?;
        let mut msg = msg
            .decompress()
            .map_err(|e| format!("cannot decompress the OpenPGP message: {e}"))?;
        match &msg {
            Message::Signed { reader, .. } if reader.num_signatures() == 1 => {}
            Message::Signed { .. } => {
                return Err("the message must carry exactly one signature".into());
            }
            Message::Literal { .. } => {
                return Err("the OpenPGP message is not signed (literal data only)".into());
            }
            Message::Encrypted { .. } => {
                return Err("the OpenPGP message is encrypted, not signed".into());
            }
            Message::Compressed { .. } => {
                return Err("the OpenPGP message is compressed twice".into());
            }
        }
        let mut payload = Vec::new();
        (&mut msg)
            .take(MAX_SIGNATURE_SIZE + 1)
            .read_to_end(&mut payload)
            .map_err(|e| format!("cannot read the signed data: {e}"))?;
        if payload.len() as u64 > MAX_SIGNATURE_SIZE {
            return Err("signed data larger than 4 MiB".into());
        }
        let Message::Signed { reader, .. } = &msg else {
            unreachable!("checked above");
        };
        let sig = reader
            .signature(0)
            .ok_or("the message has no final signature packet")?;
        if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
            return Err(format!("unexpected signature type {:?}", sig.typ()));
        }
        let (primary, signer) = self.issuer(sig)?;
        msg.verify(signer).map_err(|e| {
            format!(
                "signature by {} does not verify: {e}",
                fingerprint_hex(&primary.primary_key)
            )
        })?;
        check_signature_time(sig)?;
        Ok((payload, fingerprint_hex(&primary.primary_key)))
    }

    /// The trusted, valid key the signature names as its issuer.
    fn issuer(&self, sig: &Signature) -> Result<(&SignedPublicKey, &dyn VerifyingKey), String> {
        let fprs = sig.issuer_fingerprint();
        let ids = sig.issuer_key_id();
        let named = |k: &dyn KeyDetails| {
            let fp = k.fingerprint();
            let id = k.legacy_key_id();
            fprs.iter().any(|f| **f == fp) || ids.iter().any(|i| **i == id)
        };
        let now = SystemTime::now();
        for key in &self.keys {
            if named(&key.primary_key) {
                key_valid(key, now)?;
                return Ok((key, &key.primary_key));
            }
            for sub in &key.public_subkeys {
                if named(&sub.key) {
                    key_valid(key, now)?;
                    subkey_valid(key, sub, now)?;
                    return Ok((key, &sub.key));
                }
            }
        }
        let who = fprs
            .first()
            .map(|f| format!("{f:X}"))
            .or_else(|| ids.first().map(|i| format!("{i:?}")))
            .unwrap_or_else(|| "an unnamed key".into());
        Err(format!("signed by {who}, which is not trusted here"))
    }
}

fn expired(created: SystemTime, after: Option<pgp::types::Duration>, now: SystemTime) -> bool {
    match after.map(Duration::from) {
        Some(d) if !d.is_zero() => created + d <= now,
        _ => false,
    }
}

fn key_valid(key: &SignedPublicKey, now: SystemTime) -> Result<(), String> {
    let fpr = fingerprint_hex(&key.primary_key);
    key.verify_bindings()
        .map_err(|e| format!("key {fpr} has invalid self-signatures: {e}"))?;
    if key
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(&key.primary_key).is_ok())
    {
        return Err(format!("key {fpr} is revoked"));
    }
    // The newest self-signature (not a third party's certification) says
    // when the key expires.
    let own_fp = key.primary_key.fingerprint();
    let own_id = key.primary_key.legacy_key_id();
    let newest = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .filter(|s| {
            s.issuer_fingerprint().iter().any(|f| **f == own_fp)
                || s.issuer_key_id().iter().any(|i| **i == own_id)
        })
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0));
    let created: SystemTime = key.primary_key.created_at().into();
    if newest.is_some_and(|s| expired(created, s.key_expiration_time(), now)) {
        return Err(format!("key {fpr} has expired"));
    }
    Ok(())
}

fn subkey_valid(
    key: &SignedPublicKey,
    sub: &pgp::composed::SignedPublicSubKey,
    now: SystemTime,
) -> Result<(), String> {
    let fpr = fingerprint_hex(&sub.key);
    if sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
    }) {
        return Err(format!("subkey {fpr} is revoked"));
    }
    let binding = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
        .ok_or_else(|| format!("subkey {fpr} is not bound to its primary key"))?;
    if !binding.key_flags().sign() {
        return Err(format!("subkey {fpr} is not a signing key"));
    }
    let created: SystemTime = sub.key.created_at().into();
    if expired(created, binding.key_expiration_time(), now) {
        return Err(format!("subkey {fpr} has expired"));
    }
    Ok(())
}

fn check_signature_time(sig: &Signature) -> Result<(), String> {
    let created: SystemTime = sig
        .created()
        .ok_or("the signature has no creation time")?
        .into();
    if expired(created, sig.signature_expiration_time(), SystemTime::now()) {
        return Err("the signature has expired".into());
    }
    Ok(())
}
