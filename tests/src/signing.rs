//! Signing for the image-trust tests, with the real tools: GnuPG keys made
//! by `gpg --quick-gen-key` in a GnuPG home of their own, images signed by
//! `skopeo copy --sign-by` into a lookaside directory, hand-made simple
//! signing payloads signed by `gpg --sign`, and sigstore attachments with
//! openssl P-256 keys pushed by `skopeo copy --preserve-digests`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::digest::{hex_of, sha256};
use crate::registry::Registry;
use crate::tools;

/// Runs a command with extra environment, panicking with its output unless it exits 0.
fn run_env(program: &Path, args: &[&str], env: &[(&str, &Path)], input: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if let Some(data) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(data).expect("writing stdin");
    }
    let out = child.wait_with_output().expect("waiting");
    assert!(
        out.status.success(),
        "`{} {}` failed ({}):\n{}",
        program.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn gpg() -> PathBuf {
    tools::require("gpg", "install the Debian package gnupg")
}

/// A GnuPG key in a home of its own; its agent is stopped when dropped.
pub struct GpgKey {
    pub home: PathBuf,
    pub fingerprint: String,
}

impl GpgKey {
    /// `gpg --quick-gen-key` of an ed25519 signing key that never expires.
    pub fn generate(dir: &Path, name: &str) -> GpgKey {
        GpgKey::generate_with(dir, name, "never", None)
    }

    /// A key expiring after `expire` (gpg's syntax), made at `faked_time` (gpg's
    /// `--faked-system-time`, e.g. `20200101T000000`) when given.
    pub fn generate_with(dir: &Path, name: &str, expire: &str, faked_time: Option<&str>) -> GpgKey {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        let mut perms = std::fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).unwrap();
        let mut key = GpgKey {
            home,
            fingerprint: String::new(),
        };
        let uid = format!("rukt test {name} <{name}@x.invalid>");
        let mut args = key.base_args();
        if let Some(t) = faked_time {
            args.extend(["--faked-system-time".to_string(), t.to_string()]);
        }
        args.extend([
            "--quick-gen-key".into(),
            uid,
            "ed25519".into(),
            "sign".into(),
            expire.into(),
        ]);
        key.gpg(&args, None);
        let listing =
            String::from_utf8(key.gpg(&key.with(&["--with-colons", "--list-keys"]), None)).unwrap();
        key.fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|rest| rest.trim_matches(':').to_string())
            .expect("a fingerprint in gpg --list-keys");
        key
    }

    fn base_args(&self) -> Vec<String> {
        [
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]
        .map(String::from)
        .to_vec()
    }

    fn with(&self, extra: &[&str]) -> Vec<String> {
        let mut a = self.base_args();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn gpg(&self, args: &[String], input: Option<&[u8]>) -> Vec<u8> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env(&gpg(), &args, &[("GNUPGHOME", &self.home)], input)
    }

    /// The public key, binary.
    pub fn export(&self) -> Vec<u8> {
        self.gpg(&self.with(&["--export", &self.fingerprint]), None)
    }

    /// The public key, ASCII-armored.
    pub fn export_armored(&self) -> Vec<u8> {
        self.gpg(
            &self.with(&["--export", "--armor", &self.fingerprint]),
            None,
        )
    }

    /// Writes the public key to `path` and returns it.
    pub fn export_to(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.export()).unwrap();
        path.to_path_buf()
    }

    /// `gpg --sign` (a compressed one-pass signed message, as simple signing wants) of `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.gpg(
            &self.with(&["--local-user", &self.fingerprint, "--sign"]),
            Some(data),
        )
    }

    /// `--sign` at a faked time (to sign with a key that has since expired).
    pub fn sign_at(&self, data: &[u8], faked_time: &str) -> Vec<u8> {
        self.gpg(
            &self.with(&[
                "--faked-system-time",
                faked_time,
                "--local-user",
                &self.fingerprint,
                "--sign",
            ]),
            Some(data),
        )
    }

    /// `gpg --clearsign` of `data` (refused by verifiers).
    pub fn clearsign(&self, data: &[u8]) -> Vec<u8> {
        self.gpg(
            &self.with(&["--local-user", &self.fingerprint, "--clearsign"]),
            Some(data),
        )
    }

    /// `gpg --store`: a literal data packet, unsigned.
    pub fn literal(&self, data: &[u8]) -> Vec<u8> {
        self.gpg(&self.with(&["--store"]), Some(data))
    }

    /// Revokes the key with the revocation certificate gpg made with it.
    pub fn revoke(&self) {
        let cert = self
            .home
            .join("openpgp-revocs.d")
            .join(format!("{}.rev", self.fingerprint));
        let text = std::fs::read_to_string(&cert).expect("gpg's revocation certificate");
        // gpg prefixes the armour line with ':' against accidental import.
        let text = text.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        self.gpg(&self.with(&["--import"]), Some(text.as_bytes()));
    }

    /// `skopeo copy --sign-by` of `oci:LAYOUT:TAG` to `docker://HOST/NAME_TAG`, with
    /// registries.d in `registries_d` saying where the lookaside is.
    pub fn push_signed(
        &self,
        layout_dir: &Path,
        tag: &str,
        registry: &Registry,
        name_tag: &str,
        registries_d: &Path,
    ) {
        let skopeo = tools::require("skopeo", "install the Debian package skopeo");
        let src = format!("oci:{}:{tag}", layout_dir.display());
        let dest = format!("docker://{}/{name_tag}", registry.host());
        let rd = registries_d.display().to_string();
        run_env(
            &skopeo,
            &[
                "--insecure-policy",
                "--registries.d",
                &rd,
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--sign-by",
                &self.fingerprint,
                &src,
                &dest,
            ],
            &[("GNUPGHOME", &self.home)],
            None,
        );
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        // The agent gpg started for this home only.
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A simple-signing payload (containers-signature(5)); `extra_critical` is spliced into
/// `critical` (e.g. `,"x":1`).
pub fn payload(kind: &str, digest: &str, reference: &str, extra_critical: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"{extra_critical}}},"optional":{{"creator":"rukt tests","timestamp":1700000000}}}}"#
    )
    .into_bytes()
}

/// The `critical.type` of simple signing.
pub const SIMPLE: &str = "atomic container signature";
/// The `critical.type` of cosign.
pub const COSIGN: &str = "cosign container image signature";

/// `<lookaside>/<repo>@sha256=<hex>/signature-<n>`.
pub fn lookaside_file(lookaside: &Path, repo: &str, digest: &str, n: usize) -> PathBuf {
    lookaside
        .join(format!("{repo}@sha256={}", hex_of(digest)))
        .join(format!("signature-{n}"))
}

/// Writes a lookaside signature file, creating its directory.
pub fn put_signature(lookaside: &Path, repo: &str, digest: &str, n: usize, blob: &[u8]) {
    let f = lookaside_file(lookaside, repo, digest, n);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, blob).unwrap();
}

/// An openssl P-256 key pair: `key.pem` (private) and `pub.pem`.
pub struct P256Key {
    pub private: PathBuf,
    pub public: PathBuf,
}

fn openssl() -> PathBuf {
    tools::require("openssl", "install the Debian package openssl")
}

impl P256Key {
    /// `openssl ecparam -name prime256v1 -genkey` and `openssl pkey -pubout`.
    pub fn generate(dir: &Path, name: &str) -> P256Key {
        let private = dir.join(format!("{name}.key.pem"));
        let public = dir.join(format!("{name}.pub.pem"));
        let o = openssl();
        tools::run_checked(
            &o,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                private.to_str().unwrap(),
            ],
        );
        tools::run_checked(
            &o,
            &[
                "pkey",
                "-in",
                private.to_str().unwrap(),
                "-pubout",
                "-out",
                public.to_str().unwrap(),
            ],
        );
        P256Key { private, public }
    }

    /// Base64 DER ECDSA-SHA256 signature of `data` (`openssl dgst -sha256 -sign`).
    pub fn sign(&self, data: &[u8]) -> String {
        let sig = run_env(
            &openssl(),
            &["dgst", "-sha256", "-sign", self.private.to_str().unwrap()],
            &[],
            Some(data),
        );
        let b64 = run_env(&openssl(), &["base64", "-A"], &[], Some(&sig));
        String::from_utf8(b64).unwrap().trim().to_string()
    }
}

/// Pushes a cosign-style attachment `sha256-<hex>.sig` for `digest` to `repo` on the
/// registry: an OCI layout written by hand (empty config, one payload layer per signature,
/// the signature in the layer's annotation), copied with `skopeo copy --preserve-digests`.
pub fn push_attachment(
    dir: &Path,
    registry: &Registry,
    repo: &str,
    digest: &str,
    sigs: &[(Vec<u8>, String)],
) {
    let layout = dir.join(format!("att-{}", &hex_of(digest)[..12]));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(hex_of(&d)), bytes).unwrap();
        d
    };
    let layers: Vec<_> = sigs
        .iter()
        .map(|(payload, sig)| {
            json!({
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": put(payload),
                "size": payload.len(),
                "annotations": {"dev.cosignproject.cosign/signature": sig},
            })
        })
        .collect();
    let diff_ids: Vec<_> = sigs.iter().map(|(p, _)| sha256(p)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&config), "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put(&manifest), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "sig"},
        }],
    }))
    .unwrap();
    std::fs::write(layout.join("index.json"), index).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let skopeo = tools::require("skopeo", "install the Debian package skopeo");
    let src = format!("oci:{}:sig", layout.display());
    let dest = format!(
        "docker://{}/{repo}:sha256-{}.sig",
        registry.host(),
        hex_of(digest)
    );
    tools::run_checked(
        &skopeo,
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &src,
            &dest,
        ],
    );
}
