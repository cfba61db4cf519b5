//! `policy.json` as containers-policy.json(5) defines it, parsed strictly:
//! an unknown field, a duplicate field or scope, or a requirement with the
//! wrong combination of members rejects the whole file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The transports a policy may name (rukt's image sources).
pub const TRANSPORTS: [&str; 4] = ["docker", "oci", "oci-archive", "docker-archive"];

/// A whole policy: the default and per-transport scopes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Requirements for images no scope names.
    pub default: Vec<Requirement>,
    /// Transport → scope → requirements (`""` is the transport's default).
    #[serde(
        default,
        deserialize_with = "unique_map_of_maps",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

/// One requirement; all of a scope's requirements must hold.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Requirement {
    /// Any image, signed or not.
    #[serde(rename = "insecureAcceptAnything")]
    InsecureAcceptAnything {},
    /// No image.
    #[serde(rename = "reject")]
    Reject {},
    /// A simple-signing (OpenPGP) signature by one of the keys.
    #[serde(rename = "signedBy", rename_all = "camelCase")]
    SignedBy {
        /// Only `GPGKeys`.
        key_type: String,
        /// A keyring file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_path: Option<PathBuf>,
        /// Several keyring files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_paths: Option<Vec<PathBuf>>,
        /// A keyring, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_data: Option<String>,
        /// Which identities a signature may claim.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_identity: Option<SignedIdentity>,
    },
    /// A sigstore (cosign) signature by one of the public keys.
    #[serde(rename = "sigstoreSigned", rename_all = "camelCase")]
    SigstoreSigned {
        /// A PEM public key file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_path: Option<PathBuf>,
        /// Several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_paths: Option<Vec<PathBuf>>,
        /// A PEM public key, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_data: Option<String>,
        /// Several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_datas: Option<Vec<String>>,
        /// Fulcio certificates: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fulcio: Option<serde_json::Value>,
        /// X.509 roots: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pki: Option<serde_json::Value>,
        /// Rekor keys: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_public_key_path: Option<serde_json::Value>,
        /// Rekor keys: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_public_key_paths: Option<serde_json::Value>,
        /// Rekor keys: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_public_key_data: Option<serde_json::Value>,
        /// Rekor keys: not supported yet (refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_public_key_datas: Option<serde_json::Value>,
        /// Which identities a signature may claim.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_identity: Option<SignedIdentity>,
    },
}

/// Which identity (`docker-reference`) a signature may claim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum SignedIdentity {
    /// The same reference, tag included.
    #[serde(rename = "matchExact")]
    MatchExact {},
    /// The same tag; for a digest reference, the same repository.
    #[serde(rename = "matchRepoDigestOrExact")]
    MatchRepoDigestOrExact {},
    /// The same repository, any tag.
    #[serde(rename = "matchRepository")]
    MatchRepository {},
    /// Exactly this reference, whatever is being fetched.
    #[serde(rename = "exactReference", rename_all = "camelCase")]
    ExactReference {
        /// The reference.
        docker_reference: String,
    },
    /// This repository, whatever is being fetched.
    #[serde(rename = "exactRepository", rename_all = "camelCase")]
    ExactRepository {
        /// The repository.
        docker_repository: String,
    },
    /// A mirror: `prefix` in the fetched reference reads as `signedPrefix`.
    #[serde(rename = "remapIdentity", rename_all = "camelCase")]
    RemapIdentity {
        /// The prefix of references fetched.
        prefix: String,
        /// What the signatures name instead.
        signed_prefix: String,
    },
}

/// Why a policy file is refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    /// Reading failed.
    #[error("cannot read the signature policy {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON of the schema (unknown and duplicate fields included).
    #[error("invalid signature policy {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's complaint, naming the field.
        reason: String,
    },
}

impl PolicyFile {
    /// Reads and checks `path`; relative key paths are made relative to
    /// its directory.
    pub fn load(path: &Path) -> Result<PolicyFile, PolicyFileError> {
        let bytes = std::fs::read(path).map_err(|source| PolicyFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| PolicyFileError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut p = PolicyFile::parse(&bytes).map_err(invalid)?;
        let base = path.parent().unwrap_or(Path::new("/"));
        p.for_each_requirement(|r| r.anchor_paths(base));
        Ok(p)
    }

    /// Parses and checks a policy document.
    pub fn parse(bytes: &[u8]) -> Result<PolicyFile, String> {
        let p: PolicyFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), String> {
        if self.default.is_empty() {
            return Err("\"default\" must list at least one requirement".into());
        }
        for r in &self.default {
            r.check().map_err(|e| format!("default: {e}"))?;
        }
        for (t, scopes) in &self.transports {
            if !TRANSPORTS.contains(&t.as_str()) {
                return Err(format!(
                    "unknown transport {t:?} (known: {})",
                    TRANSPORTS.join(", ")
                ));
            }
            for (scope, reqs) in scopes {
                super::scope::check_scope(t, scope)
                    .map_err(|e| format!("{t} scope {scope:?}: {e}"))?;
                if reqs.is_empty() {
                    return Err(format!("{t} scope {scope:?}: no requirements"));
                }
                for r in reqs {
                    r.check().map_err(|e| format!("{t} scope {scope:?}: {e}"))?;
                }
            }
        }
        Ok(())
    }

    fn for_each_requirement(&mut self, mut f: impl FnMut(&mut Requirement)) {
        self.default.iter_mut().for_each(&mut f);
        for scopes in self.transports.values_mut() {
            for reqs in scopes.values_mut() {
                reqs.iter_mut().for_each(&mut f);
            }
        }
    }
}

impl Requirement {
    /// The members' combination rules, said once per requirement.
    fn check(&self) -> Result<(), String> {
        match self {
            Requirement::InsecureAcceptAnything {} | Requirement::Reject {} => Ok(()),
            Requirement::SignedBy {
                key_type,
                key_path,
                key_paths,
                key_data,
                ..
            } => {
                if key_type != "GPGKeys" {
                    return Err(format!(
                        "signedBy: unknown keyType {key_type:?} (only GPGKeys)"
                    ));
                }
                let n = [key_path.is_some(), key_paths.is_some(), key_data.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if n != 1 {
                    return Err("signedBy: exactly one of keyPath, keyPaths and keyData".into());
                }
                if key_paths.as_ref().is_some_and(|k| k.is_empty()) {
                    return Err("signedBy: keyPaths is empty".into());
                }
                Ok(())
            }
            Requirement::SigstoreSigned {
                key_path,
                key_paths,
                key_data,
                key_datas,
                fulcio,
                pki,
                rekor_public_key_path,
                rekor_public_key_paths,
                rekor_public_key_data,
                rekor_public_key_datas,
                ..
            } => {
                if fulcio.is_some() || pki.is_some() {
                    return Err(
                        "sigstoreSigned: fulcio and pki are not supported yet; use keyPath, keyPaths, keyData or keyDatas".into(),
                    );
                }
                if rekor_public_key_path.is_some()
                    || rekor_public_key_paths.is_some()
                    || rekor_public_key_data.is_some()
                    || rekor_public_key_datas.is_some()
                {
                    return Err("sigstoreSigned: rekorPublicKey* is not supported yet".into());
                }
                let n = [
                    key_path.is_some(),
                    key_paths.is_some(),
                    key_data.is_some(),
                    key_datas.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if n != 1 {
                    return Err(
                        "sigstoreSigned: exactly one of keyPath, keyPaths, keyData and keyDatas"
                            .into(),
                    );
                }
                if key_paths.as_ref().is_some_and(|k| k.is_empty())
                    || key_datas.as_ref().is_some_and(|k| k.is_empty())
                {
                    return Err("sigstoreSigned: an empty key list".into());
                }
                Ok(())
            }
        }
    }

    fn anchor_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match self {
            Requirement::SignedBy {
                key_path,
                key_paths,
                ..
            }
            | Requirement::SigstoreSigned {
                key_path,
                key_paths,
                ..
            } => {
                key_path.iter_mut().for_each(fix);
                key_paths.iter_mut().flatten().for_each(fix);
            }
            _ => {}
        }
    }

    /// The identity rule, with the default filled in.
    pub fn identity(&self) -> SignedIdentity {
        match self {
            Requirement::SignedBy {
                signed_identity, ..
            }
            | Requirement::SigstoreSigned {
                signed_identity, ..
            } => signed_identity
                .clone()
                .unwrap_or(SignedIdentity::MatchRepoDigestOrExact {}),
            _ => SignedIdentity::MatchRepoDigestOrExact {},
        }
    }
}

/// A map of maps whose keys must be unique at both levels (serde's maps
/// keep the last of duplicates silently).
fn unique_map_of_maps<'de, D, V>(d: D) -> Result<BTreeMap<String, BTreeMap<String, V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Inner<V>(BTreeMap<String, V>);
    impl<'de, V: Deserialize<'de>> Deserialize<'de> for Inner<V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(UniqueMap(std::marker::PhantomData))
                .map(Inner)
        }
    }
    let outer: BTreeMap<String, Inner<V>> =
        d.deserialize_map(UniqueMap(std::marker::PhantomData))?;
    Ok(outer.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Visits a map, refusing a key seen twice.
pub(crate) struct UniqueMap<V>(pub(crate) std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
    type Value = BTreeMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = m.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
            let v = m.next_value()?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_names_the_problem() {
        let ok = br#"{"default":[{"type":"reject"}],"transports":{"docker":{"example.com/a":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}}}"#;
        PolicyFile::parse(ok).unwrap();
        for (bad, needle) in [
            (&br#"{"default":[{"type":"reject"}],"extra":1}"#[..], "unknown field `extra`"),
            (br#"{"default":[{"type":"reject","x":1}]}"#, "unknown field `x`"),
            (br#"{"default":[{"type":"reject"}],"default":[]}"#, "duplicate field `default`"),
            (
                br#"{"default":[{"type":"reject"}],"transports":{"docker":{"a.io":[{"type":"reject"}],"a.io":[{"type":"reject"}]}}}"#,
                "duplicate key \"a.io\"",
            ),
            (br#"{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}"#, "exactly one of"),
            (br#"{"default":[{"type":"sigstoreSigned","fulcio":{}}]}"#, "not supported yet"),
            (br#"{"default":[{"type":"nope"}]}"#, "unknown variant `nope`"),
            (br#"{"default":[]}"#, "at least one"),
            (br#"{"default":[{"type":"reject"}],"transports":{"dir":{}}}"#, "unknown transport"),
            (
                br#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchExact","x":1}}]}"#,
                "unknown field `x`",
            ),
        ] {
            let e = PolicyFile::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{e:?} should mention {needle:?}");
        }
    }
}
