//! Image trust against a real loopback registry: images signed by `skopeo copy --sign-by`
//! with keys `gpg --quick-gen-key` made, hand-made payloads signed by gpg, sigstore
//! attachments signed with openssl P-256 keys; every refusal leaves the store as it was.

use std::path::{Path, PathBuf};

use rukt_tests::fixtures::tiny_image;
use rukt_tests::image::{ImageSpec, write_layout};
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Output, Rukt, assert_clean_failure, assert_store_unchanged, run_command};
use rukt_tests::signing::{self, COSIGN, GpgKey, P256Key, SIMPLE, payload, put_signature};
use rukt_tests::tools;
use serde_json::{Value, json};

/// A registry, a config dir (policy.json, registries.d with a file:// lookaside and sigstore
/// attachments on) and a store.
struct World {
    tmp: tempfile::TempDir,
    registry: Registry,
    conf: PathBuf,
    lookaside: PathBuf,
    rukt: Rukt,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let registry = Registry::start();
        let conf = tmp.path().join("conf");
        let lookaside = tmp.path().join("lookaside");
        std::fs::create_dir_all(conf.join("registries.d")).unwrap();
        std::fs::create_dir_all(&lookaside).unwrap();
        std::fs::write(
            conf.join("registries.d/test.yaml"),
            format!(
                "docker:\n  {}:\n    lookaside: file://{}\n    use-sigstore-attachments: true\n",
                registry.host(),
                lookaside.display()
            ),
        )
        .unwrap();
        World {
            tmp,
            registry,
            conf,
            lookaside,
            rukt: Rukt::new(),
        }
    }

    fn host(&self) -> String {
        self.registry.host()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn policy(&self, p: Value) {
        std::fs::write(
            self.conf.join("policy.json"),
            serde_json::to_vec_pretty(&p).unwrap(),
        )
        .unwrap();
    }

    /// Policy: `default` rejects; `HOST/test` requires `req`, plus extra scopes.
    fn policy_for_test(&self, req: Value, extra: &[(&str, Value)]) {
        let mut docker = json!({ format!("{}/test", self.host()): [req] });
        for (scope, r) in extra {
            docker[format!("{}/{scope}", self.host())] = json!([r]);
        }
        self.policy(json!({"default": [{"type": "reject"}], "transports": {"docker": docker}}));
    }

    fn layout(&self, nonce: &str) -> (PathBuf, String) {
        self.layout_of(nonce, &[tiny_image(nonce)])
    }

    fn layout_of(&self, nonce: &str, specs: &[ImageSpec]) -> (PathBuf, String) {
        let l = write_layout(&self.path(&format!("layout-{nonce}")), "v1", specs);
        (l.dir.clone(), l.top_digest.clone())
    }

    /// Pushes an unsigned image to `repo:v1`; returns its reference and manifest digest.
    fn push(&self, repo: &str) -> (String, String) {
        let (dir, digest) = self.layout(repo);
        push(&dir, "v1", &self.registry, &format!("{repo}:v1"));
        (format!("docker://{}/{repo}:v1", self.host()), digest)
    }

    /// Pushes `repo:v1` signed by `key` with skopeo.
    fn push_signed(&self, key: &GpgKey, repo: &str) -> (String, String) {
        let (dir, digest) = self.layout(repo);
        key.push_signed(
            &dir,
            "v1",
            &self.registry,
            &format!("{repo}:v1"),
            &self.conf.join("registries.d"),
        );
        (format!("docker://{}/{repo}:v1", self.host()), digest)
    }

    /// The identity a signature for `repo:v1` names.
    fn identity(&self, repo: &str) -> String {
        format!("{}/{repo}:v1", self.host())
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let mut a = vec!["--config-dir", self.conf.to_str().unwrap()];
        a.extend_from_slice(args);
        let mut cmd = self.rukt.command(&a);
        cmd.env_remove("RUKT_CONFIG_DIR");
        run_command(cmd)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(out.success(), "rukt {args:?} failed:\n{out}");
        out.stdout
    }

    fn fetch(&self, reference: &str) -> Value {
        self.ok(&["fetch", "--quiet", reference]);
        self.inspect(reference)
    }

    fn inspect(&self, reference: &str) -> Value {
        let name = reference.trim_start_matches("docker://");
        serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap()
    }

    /// A fetch that must be refused, naming `needle`, with the store and `image list`
    /// unchanged.
    fn refused(&self, args: &[&str], needle: &str) -> Output {
        let listed = self.ok(&["image", "list", "--format", "json"]);
        let before = self.rukt.snapshot();
        let mut a = vec!["fetch", "--quiet"];
        a.extend_from_slice(args);
        let out = self.cmd(&a);
        rukt_tests::note(&format!("REFUSED {needle}: {}", out.stderr.trim()));
        assert_clean_failure(&out);
        assert!(
            out.stderr.contains(needle),
            "the refusal of {args:?} should say {needle:?}:\n{out}"
        );
        assert_store_unchanged(
            &before,
            &self.rukt.snapshot(),
            &format!("the refused fetch of {args:?}"),
        );
        assert_eq!(
            self.ok(&["image", "list", "--format", "json"]),
            listed,
            "image list changed"
        );
        out
    }
}

fn signed_by(key_file: &Path) -> Value {
    json!({"type": "signedBy", "keyType": "GPGKeys", "keyPath": key_file})
}

fn skopeo_copy(from: &str, to: &str) {
    let skopeo = tools::require("skopeo", "install the Debian package skopeo");
    tools::run_checked(
        &skopeo,
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--remove-signatures",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            from,
            to,
        ],
    );
}

#[test]
fn gpg_signed_image_is_fetched_and_what_verified_it_is_recorded() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let (reference, digest) = w.push_signed(&key, "test/img");
    assert!(
        signing::lookaside_file(&w.lookaside, "test/img", &digest, 1).exists(),
        "skopeo wrote no signature"
    );
    w.policy_for_test(signed_by(&key_file), &[]);

    let rec = w.fetch(&reference);
    assert_eq!(rec["trust"]["policy"], json!(["signedBy"]));
    assert_eq!(
        rec["trust"]["scope"],
        json!(format!("docker:{}/test", w.host()))
    );
    let signer = &rec["trust"]["signers"][0];
    assert_eq!(signer["kind"], "openpgp");
    assert_eq!(signer["fingerprint"], json!(key.fingerprint));
    assert_eq!(signer["identity"], json!(w.identity("test/img")));
    assert_eq!(signer["digest"], json!(digest));

    // By digest: the same repository is enough (matchRepoDigestOrExact).
    let by_digest = format!("docker://{}/test/img@{digest}", w.host());
    assert_eq!(
        w.fetch(&by_digest)["trust"]["signers"][0]["fingerprint"],
        json!(key.fingerprint)
    );
    // An update re-checks, and still passes; so does the key given inline (keyData).
    w.ok(&["fetch", "--quiet", "--pull-policy=update", &reference]);
    let openssl = tools::require("openssl", "install the Debian package openssl");
    let b64 = tools::run_checked(
        &openssl,
        &["base64", "-A", "-in", key_file.to_str().unwrap()],
    );
    w.policy_for_test(
        json!({"type": "signedBy", "keyType": "GPGKeys", "keyData": String::from_utf8(b64).unwrap()}),
        &[],
    );
    w.ok(&["fetch", "--quiet", "--pull-policy=update", &reference]);
}

#[test]
fn gpg_refusals_store_nothing() {
    let w = World::new();
    let a = GpgKey::generate(w.tmp.path(), "a");
    let b = GpgKey::generate(w.tmp.path(), "b");
    let a_file = a.export_to(&w.path("a.gpg"));
    let b_file = b.export_to(&w.path("b.gpg"));
    let (signed, signed_digest) = w.push_signed(&a, "test/img");
    // b is trusted, but only for another scope.
    w.policy_for_test(signed_by(&a_file), &[("other", signed_by(&b_file))]);
    let good_sig = std::fs::read(signing::lookaside_file(
        &w.lookaside,
        "test/img",
        &signed_digest,
        1,
    ))
    .unwrap();

    let (unsigned, _) = w.push("test/unsigned");
    w.refused(&[&unsigned], "no signature for");

    // A tag re-pointed to the signed image of another tag.
    let v2 = format!("docker://{}/test/img:v2", w.host());
    skopeo_copy(&signed, &v2);
    w.refused(&[&v2], "is not accepted for");

    // Signed by a key trusted for another scope only.
    let (by_b, _) = w.push_signed(&b, "test/byb");
    w.refused(&[&by_b], "which is not trusted here");
    let (other, _) = w.push_signed(&b, "other/x");
    w.fetch(&other);

    // A valid signature over another digest.
    let (swap, swap_digest) = w.push("test/swap");
    put_signature(&w.lookaside, "test/swap", &swap_digest, 1, &good_sig);
    w.refused(&[&swap], "the signature is for");

    // Payload tricks, each signed by the trusted key.
    let cases = [
        ("crit", "unknown field `extra`"),
        ("dup", "duplicate field `type`"),
        ("cosigntype", "payload type"),
        ("clear", "not a binary OpenPGP message"),
        ("literal", "not signed"),
        // Never parsed: the signature is checked first.
        ("unparsed", "which is not trusted here"),
    ];
    for (name, needle) in cases {
        let repo = format!("test/{name}");
        let (reference, digest) = w.push(&repo);
        let blob = tricky_signature(&a, &b, name, &digest, &w.identity(&repo));
        put_signature(&w.lookaside, &repo, &digest, 1, &blob);
        let out = w.refused(&[&reference], needle);
        if name == "unparsed" {
            assert!(
                !out.stderr.contains("invalid payload"),
                "parsed before verification:\n{out}"
            );
        }
    }

    // More than 128 signatures, and one over 4 MiB.
    let (many, many_digest) = w.push("test/many");
    for n in 1..=129 {
        put_signature(&w.lookaside, "test/many", &many_digest, n, &good_sig);
    }
    w.refused(&[&many], "more than 128 signatures");
    let (big, big_digest) = w.push("test/big");
    put_signature(
        &w.lookaside,
        "test/big",
        &big_digest,
        1,
        &vec![0x80u8; 5 << 20],
    );
    w.refused(&[&big], "larger than 4 MiB");
}

/// The signature blob of a payload trick, for the image's real digest and identity.
fn tricky_signature(a: &GpgKey, b: &GpgKey, name: &str, digest: &str, identity: &str) -> Vec<u8> {
    match name {
        "crit" => a.sign(&payload(SIMPLE, digest, identity, r#","extra":1"#)),
        "dup" => a.sign(&payload(SIMPLE, digest, identity, r#","type":"x""#)),
        "cosigntype" => a.sign(&payload(COSIGN, digest, identity, "")),
        "clear" => a.clearsign(&payload(SIMPLE, digest, identity, "")),
        "literal" => a.literal(&payload(SIMPLE, digest, identity, "")),
        "unparsed" => b.sign(b"not json at all"),
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn expired_and_revoked_keys_are_refused() {
    let w = World::new();
    let expired = GpgKey::generate_with(w.tmp.path(), "old", "1d", Some("20200101T000000"));
    let revoked = GpgKey::generate(w.tmp.path(), "rev");
    let (old_ref, old_digest) = w.push("test/old");
    let blob = expired.sign_at(
        &payload(SIMPLE, &old_digest, &w.identity("test/old"), ""),
        "20200101T120000",
    );
    put_signature(&w.lookaside, "test/old", &old_digest, 1, &blob);
    let (rev_ref, rev_digest) = w.push("test/rev");
    let blob = revoked.sign(&payload(SIMPLE, &rev_digest, &w.identity("test/rev"), ""));
    put_signature(&w.lookaside, "test/rev", &rev_digest, 1, &blob);
    revoked.revoke();
    let old_file = expired.export_to(&w.path("old.gpg"));
    let rev_file = revoked.export_to(&w.path("rev.gpg"));
    w.policy(
        json!({"default": [{"type": "reject"}], "transports": {"docker": {
            format!("{}/test/old", w.host()): [signed_by(&old_file)],
            format!("{}/test/rev", w.host()): [signed_by(&rev_file)],
        }}}),
    );
    w.refused(&[&old_ref], "has expired");
    w.refused(&[&rev_ref], "is revoked");
}

#[test]
fn sigstore_attachments_with_p256_keys() {
    let w = World::new();
    let k = P256Key::generate(w.tmp.path(), "k");
    let other = P256Key::generate(w.tmp.path(), "other");
    let (reference, digest) = w.push("test/cos");
    let p = payload(COSIGN, &digest, &w.identity("test/cos"), "");
    let sig = k.sign(&p);
    signing::push_attachment(w.tmp.path(), &w.registry, "test/cos", &digest, &[(p, sig)]);

    w.policy_for_test(json!({"type": "sigstoreSigned", "keyPath": k.public}), &[]);
    let rec = w.fetch(&reference);
    assert_eq!(rec["trust"]["policy"], json!(["sigstoreSigned"]));
    assert_eq!(rec["trust"]["signers"][0]["kind"], "sigstore");
    assert_eq!(rec["trust"]["signers"][0]["digest"], json!(digest));

    // keyDatas, with the key among others.
    let b64 = |f: &Path| {
        let o = tools::require("openssl", "install openssl");
        String::from_utf8(tools::run_checked(
            &o,
            &["base64", "-A", "-in", f.to_str().unwrap()],
        ))
        .unwrap()
    };
    w.policy_for_test(
        json!({"type": "sigstoreSigned", "keyDatas": [b64(&other.public), b64(&k.public)]}),
        &[],
    );
    w.ok(&["fetch", "--quiet", "--pull-policy=update", &reference]);

    // Another key is refused; so is a simple-signing payload in an attachment, and an
    // OpenPGP key for a sigstore signature.
    w.policy_for_test(
        json!({"type": "sigstoreSigned", "keyPath": other.public}),
        &[],
    );
    w.refused(
        &["--pull-policy=update", &reference],
        "no trusted sigstore key made this signature",
    );
    let (wrong_type, wt_digest) = w.push("test/wrongtype");
    let p = payload(SIMPLE, &wt_digest, &w.identity("test/wrongtype"), "");
    let sig = other.sign(&p);
    signing::push_attachment(
        w.tmp.path(),
        &w.registry,
        "test/wrongtype",
        &wt_digest,
        &[(p, sig)],
    );
    w.refused(&[&wrong_type], "payload type");
    // The same key through rukt trust, with no policy.json.
    std::fs::remove_file(w.conf.join("policy.json")).unwrap();
    let prefix = format!("{}/test/cos", w.host());
    let out = w.ok(&["trust", "--prefix", &prefix, k.public.to_str().unwrap()]);
    assert!(out.contains("sigstore key SHA256:"), "{out}");
    let rec = w.fetch(&format!("docker://{}/test/cos@{digest}", w.host()));
    assert_eq!(rec["trust"]["policy"], json!(["sigstoreSigned"]));
    let fingerprint = out.split_whitespace().nth(3).unwrap();
    let listed = w.ok(&["trust", "list", "--no-legend"]);
    assert!(
        listed.contains(fingerprint) && listed.contains("sigstore"),
        "{listed}"
    );
    w.ok(&["trust", "rm", fingerprint]);
    let gpg = GpgKey::generate(w.tmp.path(), "g");
    w.policy_for_test(signed_by(&gpg.export_to(&w.path("g.gpg"))), &[]);
    w.refused(&["--pull-policy=update", &reference], "no signature for");
}

#[test]
fn an_index_must_carry_the_signed_digest() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let (_, signed_digest) = w.push_signed(&key, "test/img");
    let good = std::fs::read(signing::lookaside_file(
        &w.lookaside,
        "test/img",
        &signed_digest,
        1,
    ))
    .unwrap();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let (dir, index_digest) = w.layout_of(
        "multi",
        &[
            tiny_image("m1").arch(arch, None),
            tiny_image("m2").arch("s390x", None),
        ],
    );
    push(&dir, "v1", &w.registry, "test/multi:v1");
    // The valid signature (of another manifest) placed for the index and its instance.
    put_signature(&w.lookaside, "test/multi", &index_digest, 1, &good);
    w.policy_for_test(signed_by(&key_file), &[]);
    let multi = format!("docker://{}/test/multi:v1", w.host());
    w.refused(&[&multi], "the signature is for");

    // Signed as it should be (the index digest): accepted, and the record says so.
    let blob = key.sign(&payload(
        SIMPLE,
        &index_digest,
        &w.identity("test/multi"),
        "",
    ));
    put_signature(&w.lookaside, "test/multi", &index_digest, 1, &blob);
    let rec = w.fetch(&multi);
    assert_eq!(rec["trust"]["signers"][0]["digest"], json!(index_digest));
    assert_eq!(rec["index"], json!(index_digest));
}

#[test]
fn rukt_trust_prefixes_merge_into_the_policy() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let prefix = format!("{}/test", w.host());
    let out = w.ok(&["trust", "--prefix", &prefix, key_file.to_str().unwrap()]);
    assert!(
        out.contains(&key.fingerprint),
        "rukt trust must show the fingerprint:\n{out}"
    );
    let listed = w.ok(&["trust", "list", "--no-legend"]);
    assert!(
        listed.contains(&prefix) && listed.contains(&key.fingerprint) && listed.contains("openpgp"),
        "{listed}"
    );

    let (signed, _) = w.push_signed(&key, "test/img");
    assert_eq!(
        w.fetch(&signed)["trust"]["signers"][0]["fingerprint"],
        json!(key.fingerprint)
    );
    let (unsigned, _) = w.push("test/unsigned");
    w.refused(&[&unsigned], "no signature for");
    // Path components, not string prefixes: test does not cover testx.
    let (beside, _) = w.push("testx/u");
    assert_eq!(
        w.fetch(&beside)["trust"]["policy"],
        json!(["insecureAcceptAnything"])
    );

    // A prefix policy.json defines is refused, and so is the conflict at fetch.
    w.policy(json!({"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {prefix.clone(): [{"type": "reject"}]}}}));
    let out = w.cmd(&["trust", "--prefix", &prefix, key_file.to_str().unwrap()]);
    assert_clean_failure(&out);
    assert!(out.stderr.contains("defined both"), "{out}");
    w.refused(&[&unsigned], "defined both");
    std::fs::remove_file(w.conf.join("policy.json")).unwrap();

    let out = w.ok(&["trust", "rm", &key.fingerprint]);
    assert!(out.contains(&key.fingerprint), "{out}");
    w.fetch(&unsigned);

    // A root key (armored this time): every docker image must be signed.
    let armored = w.path("a.asc");
    std::fs::write(&armored, key.export_armored()).unwrap();
    let out = w.ok(&["trust", "--root", armored.to_str().unwrap()]);
    assert!(out.contains(&key.fingerprint), "{out}");
    let (elsewhere, _) = w.push("elsewhere/u");
    w.refused(&[&elsewhere], "no signature for");
    let merged = w.ok(&["trust", "list", "--policy"]);
    assert!(merged.contains("signedBy"), "{merged}");
}

#[test]
fn policy_file_errors_insecure_option_and_recheck() {
    let w = World::new();
    let (reference, _) = w.push("test/img");
    std::fs::write(
        w.conf.join("policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}],"extra":1}"#,
    )
    .unwrap();
    w.refused(&[&reference], "unknown field `extra`");
    std::fs::write(
        w.conf.join("policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}],"default":[]}"#,
    )
    .unwrap();
    w.refused(&[&reference], "duplicate field `default`");

    // --signature-policy: another file, podman's format.
    let other = w.path("podman-policy.json");
    std::fs::write(&other, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    std::fs::remove_file(w.conf.join("policy.json")).unwrap();
    let flag = format!("--signature-policy={}", other.display());
    w.refused(&[&flag, &reference], "rejected by the signature policy");

    // --insecure-options=image skips it, says so and records it.
    let out = w.cmd(&[
        &flag,
        "--insecure-options=http,image",
        "fetch",
        "--quiet",
        &reference,
    ]);
    assert!(out.success(), "{out}");
    assert!(
        out.stderr.contains("--insecure-options=image"),
        "not said on stderr:\n{out}"
    );
    assert_eq!(
        w.inspect(&reference)["trust"]["policy"],
        json!(["--insecure-options=image"])
    );

    // Stored, but the policy now wants a signature for it: checked again.
    let key = GpgKey::generate(w.tmp.path(), "a");
    w.policy_for_test(signed_by(&key.export_to(&w.path("a.gpg"))), &[]);
    let out = w.cmd(&["fetch", "--quiet", &reference]);
    assert_clean_failure(&out);
    assert!(out.stderr.contains("no signature for"), "{out}");

    // Local transports: their own scopes (absolute paths), and no signatures to read.
    let (dir, _) = w.layout("local");
    let local = format!("oci:{}:v1", dir.display());
    w.refused(
        &[&local],
        "rejected by the signature policy (scope default)",
    );
    w.policy(
        json!({"default": [{"type": "reject"}], "transports": {"oci": {
            dir.to_str().unwrap(): [signed_by(&w.path("a.gpg"))],
            w.tmp.path().join("elsewhere").to_str().unwrap(): [{"type": "insecureAcceptAnything"}],
        }}}),
    );
    w.refused(&[&local], "oci images carry none rukt can read");
    w.policy(
        json!({"default": [{"type": "reject"}], "transports": {"oci": {
            w.tmp.path().to_str().unwrap(): [{"type": "insecureAcceptAnything"}],
        }}}),
    );
    assert_eq!(
        w.fetch(&local)["trust"]["scope"],
        json!(format!("oci:{}", w.tmp.path().display()))
    );
}

#[test]
fn remap_identity_accepts_a_mirror() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let (signed, digest) = w.push_signed(&key, "test/img");
    let mirror = format!("docker://{}/mirror/img:v1", w.host());
    skopeo_copy(&signed, &mirror);
    let sig = std::fs::read(signing::lookaside_file(
        &w.lookaside,
        "test/img",
        &digest,
        1,
    ))
    .unwrap();
    put_signature(&w.lookaside, "mirror/img", &digest, 1, &sig);

    let host = w.host();
    w.policy(
        json!({"default": [{"type": "reject"}], "transports": {"docker": {
            format!("{host}/mirror"): [signed_by(&key_file)],
        }}}),
    );
    w.refused(&[&mirror], "is not accepted for");
    let mut remap = signed_by(&key_file);
    remap["signedIdentity"] = json!({"type": "remapIdentity", "prefix": format!("{host}/mirror"), "signedPrefix": format!("{host}/test")});
    w.policy(json!({"default": [{"type": "reject"}], "transports": {"docker": {format!("{host}/mirror"): [remap]}}}));
    assert_eq!(
        w.fetch(&mirror)["trust"]["signers"][0]["identity"],
        json!(w.identity("test/img"))
    );
}

#[test]
fn signed_images_run_and_refused_ones_store_nothing() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let spec = rukt_tests::pods::pod_image();
    let (dir, _) = w.layout_of("pod", std::slice::from_ref(&spec));
    key.push_signed(
        &dir,
        "v1",
        &w.registry,
        "test/pod:v1",
        &w.conf.join("registries.d"),
    );
    push(&dir, "v1", &w.registry, "test/unsigned-pod:v1");
    w.policy_for_test(signed_by(&key_file), &[]);
    let host = w.host();
    let uuid_file = w.path("uuid");
    let run = |repo: &str| {
        let image = format!("docker://{host}/{repo}:v1");
        let save = format!("--uuid-file-save={}", uuid_file.display());
        w.cmd(&[
            "run",
            "--stage1=fly",
            "--quiet",
            &save,
            &image,
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo signed-and-running",
        ])
    };

    let out = run("test/pod");
    assert!(out.success(), "the signed image should run:\n{out}");
    assert!(out.stdout.contains("signed-and-running"), "{out}");
    assert_eq!(
        w.inspect(&format!("{host}/test/pod:v1"))["trust"]["signers"][0]["fingerprint"],
        json!(key.fingerprint)
    );

    // The pod is removed (its mounts with it) so that the store compares.
    w.ok(&["rm", "--uuid-file", uuid_file.to_str().unwrap()]);
    std::fs::remove_file(&uuid_file).unwrap();
    // The same image, unsigned under another name: refused before anything is stored.
    let listed = w.ok(&["image", "list", "--format", "json"]);
    let before = w.rukt.snapshot();
    let out = run("test/unsigned-pod");
    assert_clean_failure(&out);
    assert!(out.stderr.contains("no signature for"), "{out}");
    assert_store_unchanged(&before, &w.rukt.snapshot(), "the refused run");
    assert_eq!(w.ok(&["image", "list", "--format", "json"]), listed);
}

/// A lookaside served over HTTP (signatures are verified, so the transport needs no
/// trust): found signatures verify, a missing one (404) is "no signature".
#[test]
fn lookaside_over_http() {
    let w = World::new();
    let key = GpgKey::generate(w.tmp.path(), "a");
    let key_file = key.export_to(&w.path("a.gpg"));
    let (signed, _) = w.push_signed(&key, "test/img");
    let (unsigned, _) = w.push("test/unsigned");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let python = tools::require("python3", "install the Debian package python3");
    let server = std::process::Command::new(python)
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&w.lookaside)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = KillOnDrop(server);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(
        w.conf.join("registries.d/test.yaml"),
        format!(
            "docker:\n  {}:\n    lookaside: http://127.0.0.1:{port}\n",
            w.host()
        ),
    )
    .unwrap();
    w.policy_for_test(signed_by(&key_file), &[]);
    let rec = w.fetch(&signed);
    assert_eq!(
        rec["trust"]["signers"][0]["fingerprint"],
        json!(key.fingerprint)
    );
    w.refused(&[&unsigned], "no signature for");
}

/// A child process killed (and reaped) when the test ends, passing or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
