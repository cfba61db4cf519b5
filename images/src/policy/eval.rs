//! The evaluator: policy.json merged with the `rukt trust` keys, the
//! scope that applies to an image, and the verdict on its signatures.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::file::{PolicyFile, PolicyFileError, Requirement};
use super::keystore::{Keystore, KeystoreError};
use super::registries_d::{RegistriesD, RegistriesDError, lookaside_url};
use super::{MAX_SIGNATURE_SIZE, MAX_SIGNATURES, cosign, identity, openpgp, payload, scope};
use crate::digest::Digest;
use crate::reference::{ImageRef, RegistryRef};

/// How signatures are read from where the image comes from.
pub trait Signatures {
    /// The manifest tagged `tag` in the image's repository, if any.
    fn attachment(&self, tag: &str) -> Result<Option<Vec<u8>>, String>;
    /// A blob of that repository, verified against its digest and size.
    fn blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, String>;
    /// An `https://` (or `http://`) lookaside file, `None` when absent,
    /// refused past `limit` bytes.
    fn url(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, String>;
}

/// One signature that satisfied a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// `openpgp` or `sigstore`.
    pub kind: String,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The identity the signature names.
    pub identity: String,
    /// The manifest (or index) digest it signs.
    pub digest: Digest,
}

/// What let an image in; recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The requirement types that applied (`insecureAcceptAnything`,
    /// `signedBy`, `sigstoreSigned`), or `--insecure-options=image`.
    pub policy: Vec<String>,
    /// The scope that applied (`transport:scope`, `default`).
    pub scope: String,
    /// The signatures that satisfied the requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<Signer>,
}

/// Why an image is refused, or the policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// policy.json is unusable.
    #[error(transparent)]
    Policy(#[from] PolicyFileError),
    /// registries.d is unusable.
    #[error(transparent)]
    RegistriesD(#[from] RegistriesDError),
    /// The trusted-keys store is unusable.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A `rukt trust` prefix is also a policy.json scope.
    #[error("docker scope {scope:?} is defined both in {policy} and by rukt trust; remove one")]
    Conflict {
        /// The scope.
        scope: String,
        /// The policy file.
        policy: String,
    },
    /// The scope's policy is `reject`.
    #[error("rejected by the signature policy (scope {scope})")]
    Rejected {
        /// The image.
        image: String,
        /// The scope.
        scope: String,
    },
    /// A signature is required but the transport carries none.
    #[error(
        "the signature policy wants a signature (scope {scope}), but {transport} images carry none rukt can read"
    )]
    NoSignatures {
        /// The image.
        image: String,
        /// The scope.
        scope: String,
        /// The transport.
        transport: &'static str,
    },
    /// No signature satisfies a requirement.
    #[error("not trusted: {requirement} (scope {scope}) is not satisfied: {}", reasons.join("; "))]
    Unverified {
        /// The image.
        image: String,
        /// The requirement type.
        requirement: &'static str,
        /// The scope.
        scope: String,
        /// Why each signature (or the lack of one) failed.
        reasons: Vec<String>,
    },
    /// A key a requirement names cannot be used.
    #[error("cannot use the key {what}: {reason}")]
    Key {
        /// The key path or `keyData`.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// The merged policy and where signatures are found.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    policy: PolicyFile,
    origin: String,
    registries_d: RegistriesD,
    insecure: bool,
}

/// The policy rukt uses when none exists: accept anything (as podman
/// ships), while `rukt trust` scopes still require their signatures.
fn default_policy() -> PolicyFile {
    PolicyFile {
        default: vec![Requirement::InsecureAcceptAnything {}],
        transports: Default::default(),
    }
}

impl TrustPolicy {
    /// Loads `policy` (default `config_dir/policy.json`; an explicit path
    /// must exist), `registries_d` (default `config_dir/registries.d`) and
    /// the keys `rukt trust` stored under `config_dir`.
    pub fn load(
        config_dir: &Path,
        policy: Option<&Path>,
        registries_d: Option<&Path>,
    ) -> Result<TrustPolicy, TrustError> {
        let path = policy
            .map(Path::to_path_buf)
            .unwrap_or_else(|| config_dir.join("policy.json"));
        let mut file = if policy.is_none() && !path.exists() {
            debug!(path = %path.display(), "no signature policy; unsigned images are accepted outside rukt trust prefixes");
            default_policy()
        } else {
            PolicyFile::load(&path)?
        };
        let origin = path.display().to_string();
        let docker = file.transports.entry("docker".into()).or_default();
        for (prefix, req) in Keystore::new(config_dir).scopes()? {
            let scope = prefix.unwrap_or_default();
            if docker.contains_key(&scope) {
                return Err(TrustError::Conflict {
                    scope,
                    policy: origin,
                });
            }
            docker.insert(scope, vec![req]);
        }
        let rd = registries_d
            .map(Path::to_path_buf)
            .unwrap_or_else(|| config_dir.join("registries.d"));
        Ok(TrustPolicy {
            policy: file,
            origin,
            registries_d: RegistriesD::load(&rd)?,
            insecure: false,
        })
    }

    /// Refuses a `rukt trust` scope (`""` for root keys) that the policy
    /// file `load` would read defines already.
    pub fn check_new_scope(
        config_dir: &Path,
        policy: Option<&Path>,
        scope: &str,
    ) -> Result<(), TrustError> {
        let path = policy
            .map(Path::to_path_buf)
            .unwrap_or_else(|| config_dir.join("policy.json"));
        if policy.is_none() && !path.exists() {
            return Ok(());
        }
        let file = PolicyFile::load(&path)?;
        if file
            .transports
            .get("docker")
            .is_some_and(|d| d.contains_key(scope))
        {
            return Err(TrustError::Conflict {
                scope: scope.to_string(),
                policy: path.display().to_string(),
            });
        }
        Ok(())
    }

    /// `--insecure-options=image`: accept anything, recorded as such.
    pub fn set_insecure(&mut self, insecure: bool) {
        self.insecure = insecure;
    }

    /// Whether the check is skipped.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The merged policy (what `rukt trust list` prints).
    pub fn merged(&self) -> &PolicyFile {
        &self.policy
    }

    /// Where policy.json was looked for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The requirements that apply to `image` and the scope they come from.
    pub fn requirements_for(&self, image: &ImageRef) -> (String, &[Requirement]) {
        let t = scope::transport(image);
        if let Some(scopes) = self.policy.transports.get(t) {
            for c in scope::candidates(image) {
                if let Some(r) = scopes.get(&c) {
                    return (format!("{t}:{c}"), r);
                }
            }
            if let Some(r) = scopes.get("") {
                return (format!("{t} default"), r);
            }
        }
        ("default".into(), &self.policy.default)
    }

    /// Whether anything beyond `insecureAcceptAnything` applies to `image`.
    pub fn requires_signatures(&self, image: &ImageRef) -> bool {
        !self.insecure
            && self
                .requirements_for(image)
                .1
                .iter()
                .any(|r| !matches!(r, Requirement::InsecureAcceptAnything {}))
    }

    /// Decides on `image`, whose manifest digests are `digests` (the one
    /// the reference names, then the chosen instance of an index), with
    /// signatures read through `sigs`.
    pub fn evaluate(
        &self,
        image: &ImageRef,
        digests: &[Digest],
        sigs: &dyn Signatures,
    ) -> Result<Verdict, TrustError> {
        if self.insecure {
            warn!(%image, "signature policy skipped (--insecure-options=image)");
            return Ok(Verdict {
                policy: vec!["--insecure-options=image".into()],
                scope: String::new(),
                signers: Vec::new(),
            });
        }
        let (scope_name, reqs) = self.requirements_for(image);
        let mut verdict = Verdict {
            policy: Vec::new(),
            scope: scope_name.clone(),
            signers: Vec::new(),
        };
        for req in reqs {
            let name = match req {
                Requirement::InsecureAcceptAnything {} => "insecureAcceptAnything",
                Requirement::Reject {} => {
                    return Err(TrustError::Rejected {
                        image: image.to_string(),
                        scope: scope_name,
                    });
                }
                Requirement::SignedBy { .. } => "signedBy",
                Requirement::SigstoreSigned { .. } => "sigstoreSigned",
            };
            verdict.policy.push(name.into());
            if matches!(req, Requirement::InsecureAcceptAnything {}) {
                continue;
            }
            let ImageRef::Registry(r) = image else {
                return Err(TrustError::NoSignatures {
                    image: image.to_string(),
                    scope: scope_name,
                    transport: scope::transport(image),
                });
            };
            let subject = Subject {
                image: r,
                digests,
                sigs,
            };
            let result = match req {
                Requirement::SignedBy { .. } => self.check_signed_by(req, &subject)?,
                _ => self.check_sigstore(req, &subject)?,
            };
            match result {
                Ok(signer) => verdict.signers.push(signer),
                Err(reasons) => {
                    return Err(TrustError::Unverified {
                        image: image.to_string(),
                        requirement: name,
                        scope: scope_name,
                        reasons,
                    });
                }
            }
        }
        Ok(verdict)
    }

    fn check_signed_by(&self, req: &Requirement, s: &Subject<'_>) -> Checked {
        let (r, digests, sigs) = (s.image, s.digests, s.sigs);
        let Requirement::SignedBy {
            key_path,
            key_paths,
            key_data,
            ..
        } = req
        else {
            unreachable!("called for signedBy");
        };
        let mut ring = openpgp::Keyring::default();
        for (what, data) in key_material(key_path, key_paths, key_data.iter().collect())? {
            ring.extend(
                openpgp::Keyring::parse(&data)
                    .map_err(|reason| TrustError::Key { what, reason })?,
            );
        }
        let rule = req.identity();
        let storage = self.registries_d.storage_for(r);
        let Some(base) = storage.lookaside() else {
            return Ok(Err(vec![format!(
                "no lookaside is configured for {}/{} in registries.d",
                r.registry, r.repository
            )]));
        };
        let mut reasons = Vec::new();
        for d in digests {
            let blobs = match read_lookaside(base, r, d, sigs) {
                Ok(b) => b,
                Err(e) => {
                    reasons.push(e);
                    continue;
                }
            };
            if blobs.is_empty() {
                reasons.push(format!("no signature for {d} in the lookaside {base}"));
            }
            for (i, blob) in blobs.iter().enumerate() {
                let checked = ring.verify(blob).and_then(|(bytes, fpr)| {
                    let c = payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE)?;
                    accept_claims(&c, d, &rule, r)?;
                    Ok(Signer {
                        kind: "openpgp".into(),
                        fingerprint: fpr,
                        identity: c.identity,
                        digest: c.digest,
                    })
                });
                match checked {
                    Ok(s) => return Ok(Ok(s)),
                    Err(e) => reasons.push(format!("signature-{} of {d}: {e}", i + 1)),
                }
            }
        }
        Ok(Err(reasons))
    }

    fn check_sigstore(&self, req: &Requirement, s: &Subject<'_>) -> Checked {
        let (r, digests, sigs) = (s.image, s.digests, s.sigs);
        let Requirement::SigstoreSigned {
            key_path,
            key_paths,
            key_data,
            key_datas,
            ..
        } = req
        else {
            unreachable!("called for sigstoreSigned");
        };
        let datas: Vec<&String> = key_data.iter().chain(key_datas.iter().flatten()).collect();
        let mut keys = cosign::Keys::default();
        for (what, data) in key_material(key_path, key_paths, datas)? {
            keys.extend(
                cosign::Keys::parse(&data).map_err(|reason| TrustError::Key { what, reason })?,
            );
        }
        let rule = req.identity();
        if !self.registries_d.storage_for(r).attachments() {
            return Ok(Err(vec![format!(
                "sigstore attachments are not enabled for {}/{} (use-sigstore-attachments in registries.d)",
                r.registry, r.repository
            )]));
        }
        let mut reasons = Vec::new();
        for d in digests {
            let tag = cosign::attachment_tag(d);
            let listed = match sigs.attachment(&tag) {
                Ok(Some(m)) => cosign::parse_attachment(&m),
                Ok(None) => Err(format!("no signature attachment {tag}")),
                Err(e) => Err(format!("cannot read the attachment {tag}: {e}")),
            };
            let listed = match listed {
                Ok(l) => l,
                Err(e) => {
                    reasons.push(e);
                    continue;
                }
            };
            if listed.is_empty() {
                reasons.push(format!("the attachment {tag} holds no signatures"));
            }
            for (i, a) in listed.iter().enumerate() {
                let checked = sigs.blob(&a.payload, a.size).and_then(|bytes| {
                    let fpr = keys.verify(&bytes, &a.signature)?;
                    let c = payload::parse(&bytes, payload::COSIGN_TYPE)?;
                    accept_claims(&c, d, &rule, r)?;
                    Ok(Signer {
                        kind: "sigstore".into(),
                        fingerprint: fpr,
                        identity: c.identity,
                        digest: c.digest,
                    })
                });
                match checked {
                    Ok(s) => return Ok(Ok(s)),
                    Err(e) => reasons.push(format!("{tag} signature {}: {e}", i + 1)),
                }
            }
        }
        Ok(Err(reasons))
    }
}

/// What a signature requirement is checked against.
struct Subject<'a> {
    image: &'a RegistryRef,
    digests: &'a [Digest],
    sigs: &'a dyn Signatures,
}

/// A signature requirement's outcome: the signer, or why each signature
/// failed; `Err` when the requirement itself is unusable.
type Checked = Result<Result<Signer, Vec<String>>, TrustError>;

/// A verified payload must sign the digest it was found for and name an
/// acceptable identity.
fn accept_claims(
    c: &payload::Claims,
    d: &Digest,
    rule: &super::file::SignedIdentity,
    r: &RegistryRef,
) -> Result<(), String> {
    if &c.digest != d {
        return Err(format!("the signature is for {}, not {d}", c.digest));
    }
    if !identity::matches(rule, r, &c.identity)? {
        return Err(format!(
            "its identity {} is not accepted for {r}",
            c.identity
        ));
    }
    Ok(())
}

/// The bytes of every key a requirement names, with a description.
fn key_material(
    path: &Option<PathBuf>,
    paths: &Option<Vec<PathBuf>>,
    datas: Vec<&String>,
) -> Result<Vec<(String, Vec<u8>)>, TrustError> {
    let mut out = Vec::new();
    for p in path.iter().chain(paths.iter().flatten()) {
        let what = p.display().to_string();
        let meta = std::fs::metadata(p).map_err(|e| TrustError::Key {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        if meta.len() > MAX_SIGNATURE_SIZE {
            return Err(TrustError::Key {
                what,
                reason: "larger than 4 MiB".into(),
            });
        }
        let data = std::fs::read(p).map_err(|e| TrustError::Key {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        out.push((what, data));
    }
    for d in datas {
        let data = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|_| TrustError::Key {
                what: "keyData".into(),
                reason: "not base64".into(),
            })?;
        out.push(("keyData".into(), data));
    }
    Ok(out)
}

/// Reads `signature-1`, `signature-2`, ... for `digest` until one is
/// missing; more than [`MAX_SIGNATURES`] is refused.
fn read_lookaside(
    base: &str,
    r: &RegistryRef,
    digest: &Digest,
    sigs: &dyn Signatures,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for n in 1..=MAX_SIGNATURES + 1 {
        let url = lookaside_url(base, r, digest, n);
        let got = if let Some(path) = url.strip_prefix("file://") {
            read_file_limited(Path::new(path))
        } else {
            sigs.url(&url, MAX_SIGNATURE_SIZE)
        }
        .map_err(|e| format!("cannot read {url}: {e}"))?;
        let Some(bytes) = got else {
            break;
        };
        if n > MAX_SIGNATURES {
            return Err(format!(
                "more than {MAX_SIGNATURES} signatures for {digest}"
            ));
        }
        out.push(bytes);
    }
    Ok(out)
}

fn read_file_limited(path: &Path) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut out = Vec::new();
    f.take(MAX_SIGNATURE_SIZE + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > MAX_SIGNATURE_SIZE {
        return Err("larger than 4 MiB".into());
    }
    Ok(Some(out))
}
