//! The policy module's verifiers against containers/image's own signature
//! fixtures (real GnuPG and cosign output, and its bad cases).

use base64::Engine;
use rukt_images::digest::Digest;
use rukt_images::policy::file::SignedIdentity;
use rukt_images::policy::openpgp::Keyring;
use rukt_images::policy::{cosign, identity, payload};
use rukt_images::reference::RegistryRef;

fn fx(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/containers-image/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const KEY: &str = "08CD26E446E2E95249B7A405E932F44B23E8DD43";

#[test]
fn gnupg_simple_signatures() {
    let ring = Keyring::parse(&fx("public-key.gpg")).unwrap();
    let (bytes, fpr) = ring.verify(&fx("image.signature")).unwrap();
    assert_eq!(fpr, KEY);
    let claims = payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE).unwrap();
    assert_eq!(claims.digest, Digest::sha256_of(&fx("image.manifest.json")));
    assert_eq!(claims.identity, "testing/manifest");
    let (bytes, _) = ring.verify(&fx("no-optional-fields.signature")).unwrap();
    payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE).unwrap();

    // Verified, but the payload is refused once parsed.
    let (bytes, _) = ring.verify(&fx("invalid-blob.signature")).unwrap();
    assert!(payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE).is_err());
    let (bytes, _) = ring.verify(&fx("invalid-reference.signature")).unwrap();
    let claims = payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE).unwrap();
    let image = RegistryRef::parse("docker.io/testing/manifest:latest").unwrap();
    assert!(
        identity::matches(
            &SignedIdentity::MatchRepoDigestOrExact {},
            &image,
            &claims.identity
        )
        .is_err()
    );

    for (file, needle) in [
        ("expired.signature", "expired"),
        ("corrupt.signature", ""),
        ("unknown-key.signature", "not trusted here"),
        ("unsigned-literal.signature", "not signed"),
        ("unsigned-encrypted.signature", "encrypted"),
    ] {
        let e = ring.verify(&fx(file)).expect_err(file);
        assert!(e.contains(needle), "{file}: {e}");
    }
    // Another key does not verify it.
    let other = Keyring::parse(&fx("public-key-with-subkey.gpg")).unwrap();
    assert!(other.verify(&fx("image.signature")).is_err());
}

#[test]
fn gnupg_subkeys() {
    let ring = Keyring::parse(&fx("public-key-with-subkey.gpg")).unwrap();
    let (_, fpr) = ring.verify(&fx("subkey.signature")).unwrap();
    assert_eq!(
        fpr, "B9F4CDB9FD8C475BFA340AC38D54A947EE396F36",
        "the primary key is reported"
    );
    let revoked = Keyring::parse(&fx("public-key-with-revoked-subkey.gpg")).unwrap();
    let e = revoked.verify(&fx("subkey-revoked.signature")).unwrap_err();
    assert!(e.contains("revoked"), "{e}");
}

#[test]
fn cosign_signatures() {
    let read = |file: &str| {
        let raw = fx(file);
        let json = raw
            .strip_prefix(b"\0sigstore-json\n")
            .expect("c/image's sigstore-json format");
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(v["payload"].as_str().unwrap())
            .unwrap();
        let sig = v["annotations"][cosign::SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string();
        (payload, sig)
    };
    let keys = cosign::Keys::parse(&fx("cosign.pub")).unwrap();
    let (bytes, sig) = read("cosign-valid.signature");
    keys.verify(&bytes, &sig).unwrap();
    let claims = payload::parse(&bytes, payload::COSIGN_TYPE).unwrap();
    assert_eq!(
        claims.digest,
        Digest::sha256_of(&fx("cosign-valid.manifest.json"))
    );
    // cosign names no tag: only repository rules accept it for a tag.
    let tagged = RegistryRef::parse(&format!("{}:v1", claims.identity)).unwrap();
    assert!(
        identity::matches(
            &SignedIdentity::MatchRepository {},
            &tagged,
            &claims.identity
        )
        .unwrap()
    );
    assert!(
        !identity::matches(
            &SignedIdentity::MatchRepoDigestOrExact {},
            &tagged,
            &claims.identity
        )
        .unwrap()
    );
    // A cosign payload is not a simple-signing one.
    assert!(payload::parse(&bytes, payload::SIMPLE_SIGNING_TYPE).is_err());

    let (bytes, sig) = read("unknown-cosign-key.signature");
    assert!(keys.verify(&bytes, &sig).is_err());
}

/// Every truncation and every single-byte corruption of a real signature
/// is an error (or, for bytes outside what is signed, the same verdict),
/// never a panic.
#[test]
fn mangled_signatures_fail_cleanly() {
    let ring = Keyring::parse(&fx("public-key.gpg")).unwrap();
    let good = fx("image.signature");
    for len in 0..good.len() {
        assert!(
            ring.verify(&good[..len]).is_err(),
            "truncated to {len} bytes"
        );
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        if let Ok((bytes, _)) = ring.verify(&bad) {
            // Only unsigned framing may change without failing; the payload may not.
            let (orig, _) = ring.verify(&good).unwrap();
            assert_eq!(bytes, orig, "byte {i} changed the payload yet verified");
        }
    }
}
