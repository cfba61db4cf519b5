//! Image trust: who published an image, checked at fetch before anything
//! is stored. One evaluator with containers-policy.json(5) semantics
//! ([`file`], [`scope`], [`identity`]) over policy.json merged with
//! rukt's trusted keys ([`keystore`]); signatures found as
//! containers-registries.d(5) says ([`registries_d`]): OpenPGP simple
//! signing in a lookaside ([`openpgp`]) and cosign P-256 signatures in
//! `sha256-<hex>.sig` attachments ([`cosign`]); payloads parsed strictly
//! and only once verified ([`payload`]). `docs/trust.md` is the user's view.

pub mod cosign;
pub mod eval;
pub mod file;
pub mod identity;
pub mod keystore;
pub mod openpgp;
pub mod payload;
pub mod registries_d;
pub mod scope;

pub use eval::{Signatures, TrustError, TrustPolicy, Verdict};

/// Signatures read per image at most.
pub const MAX_SIGNATURES: usize = 128;
/// Cap on one signature (and one attachment manifest or payload).
pub const MAX_SIGNATURE_SIZE: u64 = 4 << 20;
