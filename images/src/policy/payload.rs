//! The signed payloads (containers-signature(5) simple signing, and
//! cosign's), parsed strictly and only after their signature verified:
//! unknown or duplicate `critical` members, a wrong `type` or a
//! non-integer timestamp refuse the signature.

use serde::Deserialize;

use crate::digest::Digest;

/// The `critical.type` of an OpenPGP simple signature.
pub const SIMPLE_SIGNING_TYPE: &str = "atomic container signature";
/// The `critical.type` of a cosign signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    critical: Critical,
    optional: Option<Optional>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// Unknown optional members are ignored; known ones must have their type.
#[derive(Deserialize)]
#[allow(dead_code, reason = "parsed only to check the types")]
struct Optional {
    creator: Option<String>,
    timestamp: Option<i64>,
}

/// What a verified payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The manifest it signs.
    pub digest: Digest,
    /// The reference it names (`host/repo[:tag]`).
    pub identity: String,
}

/// Parses a payload whose signature verified, expecting `kind`.
pub fn parse(bytes: &[u8], kind: &str) -> Result<Claims, String> {
    let top: Top = serde_json::from_slice(bytes).map_err(|e| format!("invalid payload: {e}"))?;
    if top.critical.kind != kind {
        return Err(format!(
            "payload type is {:?}, expected {kind:?}",
            top.critical.kind
        ));
    }
    if kind == SIMPLE_SIGNING_TYPE && top.optional.is_none() {
        return Err("invalid payload: missing field `optional`".into());
    }
    let digest = top
        .critical
        .image
        .digest
        .parse()
        .map_err(|e| format!("invalid payload digest: {e}"))?;
    Ok(Claims {
        digest,
        identity: top.critical.identity.reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn doc(critical_extra: &str, optional: &str, kind: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"type":"{kind}","image":{{"docker-manifest-digest":"{D}"}},"identity":{{"docker-reference":"a.io/b:c"}}{critical_extra}}},"optional":{optional}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn accepts_the_real_shape_and_refuses_tricks() {
        let c = parse(
            &doc(
                "",
                r#"{"creator":"x","timestamp":1,"other":2}"#,
                SIMPLE_SIGNING_TYPE,
            ),
            SIMPLE_SIGNING_TYPE,
        )
        .unwrap();
        assert_eq!(c.identity, "a.io/b:c");
        parse(&doc("", "null", COSIGN_TYPE), COSIGN_TYPE).unwrap();
        for (bytes, kind) in [
            (
                doc(r#","extra":1"#, "{}", SIMPLE_SIGNING_TYPE),
                SIMPLE_SIGNING_TYPE,
            ),
            (
                doc(r#","type":"x""#, "{}", SIMPLE_SIGNING_TYPE),
                SIMPLE_SIGNING_TYPE,
            ),
            (
                doc("", r#"{"timestamp":1.5}"#, SIMPLE_SIGNING_TYPE),
                SIMPLE_SIGNING_TYPE,
            ),
            (doc("", "{}", COSIGN_TYPE), SIMPLE_SIGNING_TYPE),
            (doc("", "{}", SIMPLE_SIGNING_TYPE), COSIGN_TYPE),
            (doc("", "null", SIMPLE_SIGNING_TYPE), SIMPLE_SIGNING_TYPE),
        ] {
            assert!(
                parse(&bytes, kind).is_err(),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
