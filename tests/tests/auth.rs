//! Registry credentials and TLS as real registries ask for them (docs/registries.md):
//! docker-registry over TLS with a test-made CA, with htpasswd users and with token auth
//! (a token server issuing ES256 JWTs), with required client certificates, and an HTTPS
//! registry naming a plain-HTTP token realm. Each registry serves the storage of a plain one
//! the image was pushed to; every refused fetch must leave the store as it was.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64_of::encode;
use rukt_tests::fixtures::small_image;
use rukt_tests::image::{Layout, write_layout};
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Output, Rukt, assert_clean_failure, assert_store_unchanged, run_command};
use rukt_tests::secure::{self, Certs, TokenServer, TokenUser};
use tempfile::TempDir;

const PASSWORD: &str = "s3cret-pw";

/// A tiny base64 encoder for auth.json entries (the tests crate has no base64 crate).
mod base64_of {
    pub fn encode(data: &str) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = data.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// The image pushed to a plain registry whose storage the secure ones serve.
struct Seed {
    plain: Registry,
    layout: Layout,
    _tmp: TempDir,
}

fn seed(name: &str) -> Seed {
    let plain = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "v1", &[small_image(name)]);
    push(&layout.dir, "v1", &plain, "team/app:1");
    Seed {
        plain,
        layout,
        _tmp: tmp,
    }
}

/// The user's side: a HOME, an XDG_RUNTIME_DIR and a directory prepended to PATH, so that
/// nothing of the machine's own credentials is read.
struct User {
    home: TempDir,
    runtime: TempDir,
    bin: TempDir,
}

impl User {
    fn new() -> User {
        let t = || tempfile::tempdir().unwrap();
        User {
            home: t(),
            runtime: t(),
            bin: t(),
        }
    }

    /// `rukt ARGS` (no --insecure-options) as this user.
    fn command(&self, rukt: &Rukt, args: &[&str]) -> Command {
        let mut cmd = rukt.bare_command(args);
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("PATH", path)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG");
        cmd
    }

    fn run(&self, rukt: &Rukt, args: &[&str]) -> Output {
        run_command(self.command(rukt, args))
    }

    fn docker_config(&self) -> PathBuf {
        self.home.path().join(".docker/config.json")
    }

    fn podman_runtime_auth(&self) -> PathBuf {
        self.runtime.path().join("containers/auth.json")
    }

    /// Writes `docker-credential-NAME` answering `username`/`secret` for any server, and
    /// logging the server URL it was asked about to `NAME.asked`.
    fn helper(&self, name: &str, username: &str, secret: &str) -> PathBuf {
        let asked = self.bin.path().join(format!("{name}.asked"));
        let script = self.bin.path().join(format!("docker-credential-{name}"));
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\nprintf '%s\\n' \"$server\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{username}\",\"Secret\":\"{secret}\"}}\\n' \"$server\"\n",
                asked.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        asked
    }
}

fn write_json(path: &Path, value: serde_json::Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, value.to_string()).unwrap();
}

fn auth_entry(host: &str, user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({"auths": {host: {"auth": encode(&format!("{user}:{password}"))}}})
}

/// `rukt fetch REF` must fail cleanly, say each of `says`, never print `PASSWORD`, and leave
/// the store (and `image list`) as it was.
fn refused(user: &User, rukt: &Rukt, flags: &[&str], reference: &str, says: &[&str]) -> Output {
    assert!(rukt.list().is_empty(), "the store has an image already");
    let before = rukt.snapshot();
    let mut args = vec!["fetch"];
    args.extend_from_slice(flags);
    args.push(reference);
    let out = user.run(rukt, &args);
    rukt_tests::note(&out.stderr);
    assert_clean_failure(&out);
    for s in says {
        assert!(
            out.stderr.contains(s),
            "expected {s:?} in the error:\n{out}"
        );
    }
    assert!(
        !out.stderr.contains(PASSWORD),
        "the password was printed:\n{out}"
    );
    assert_store_unchanged(&before, &rukt.snapshot(), "a refused fetch");
    assert!(rukt.list().is_empty(), "a refused fetch named an image");
    out
}

/// `rukt fetch REF` as `user` must succeed with the seed's image.
fn fetched(user: &User, rukt: &Rukt, reference: &str, seed: &Seed) -> Output {
    let out = user.run(rukt, &["fetch", reference]);
    assert!(out.success(), "fetch failed:\n{out}");
    assert_eq!(out.stdout.trim(), seed.layout.image().id(), "{out}");
    out
}

/// `rukt login --username alice --password-stdin HOST` with `password` on stdin.
fn login(user: &User, rukt: &Rukt, host: &str, password: &str) -> Output {
    let pw = user.home.path().join("pw");
    fs::write(&pw, format!("{password}\n")).unwrap();
    let mut cmd = user.command(
        rukt,
        &["login", "--username", "alice", "--password-stdin", host],
    );
    cmd.stdin(Stdio::from(fs::File::open(&pw).unwrap()));
    run_command(cmd)
}

/// htpasswd over TLS: the CA from certs.d, every way credentials are found or missing, the
/// auth file order, credential helpers, login/logout and `insecure` in registries.conf.
#[test]
fn htpasswd_registry_over_tls() {
    let seed = seed("htpasswd");
    let certs = Certs::make();
    let registry =
        secure::htpasswd_registry(&certs, &seed.plain.data_dir(), &[("alice", PASSWORD)]);
    let host = registry.host();
    let reference = registry.reference("team/app:1");
    let user = User::new();
    let rukt = Rukt::new();
    let certs_d = rukt.config_dir().join("certs.d");

    // Without the CA the certificate cannot be verified, and the error says what to do.
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["certificate cannot be verified", "certs.d"],
    );
    certs.install_ca(&certs_d, &host);

    // No credentials anywhere.
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["requires authentication and no credentials", "rukt login"],
    );

    // A wrong password, from the config dir's auth.json: named as refused, with its source.
    let auth_json = rukt.config_dir().join("auth.json");
    write_json(&auth_json, auth_entry(&host, "alice", "wrong"));
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["were refused", &auth_json.display().to_string()],
    );

    // A malformed auth file is an error naming it, not skipped.
    fs::write(&auth_json, "{\"auths\": {").unwrap();
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["malformed auth file", &auth_json.display().to_string()],
    );
    fs::remove_file(&auth_json).unwrap();

    // A helper that is named but missing.
    write_json(
        &user.docker_config(),
        serde_json::json!({"credHelpers": {&host: "rukt-absent"}}),
    );
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["docker-credential-rukt-absent", "cannot be run"],
    );

    // The auth file order: podman's runtime auth.json knows only another host, and must not
    // hide ~/.docker/config.json, whose helper answers.
    write_json(
        &user.podman_runtime_auth(),
        auth_entry("elsewhere.example:5000", "bob", "x"),
    );
    let asked = user.helper("rukttest", "alice", PASSWORD);
    write_json(
        &user.docker_config(),
        serde_json::json!({"credHelpers": {&host: "rukttest"}}),
    );
    fetched(&user, &rukt, &reference, &seed);
    assert_eq!(
        fs::read_to_string(&asked).unwrap().trim(),
        host,
        "the helper gets the server on stdin"
    );
    rukt.ok(&["image", "verify"]);

    // credsStore, with the entry in ~/.docker/config.json's auths as the fallback it is not.
    let rukt_store = Rukt::new();
    certs.install_ca(&rukt_store.config_dir().join("certs.d"), &host);
    write_json(
        &user.docker_config(),
        serde_json::json!({"credsStore": "rukttest", "auths": {&host: {}}}),
    );
    fetched(&user, &rukt_store, &reference, &seed);

    // login: a wrong password is refused and writes nothing; the right one is saved 0600 in
    // the format podman and skopeo read; the saved file works for fetch; logout removes it.
    fs::remove_file(user.docker_config()).unwrap();
    let rukt = Rukt::new();
    certs.install_ca(&rukt.config_dir().join("certs.d"), &host);
    let auth_json = rukt.config_dir().join("auth.json");
    let login = |password: &str| login(&user, &rukt, &host, password);
    let out = login("wrong");
    assert_clean_failure(&out);
    assert!(
        out.stderr.contains("were refused") && !auth_json.exists(),
        "{out}"
    );
    let out = login(PASSWORD);
    assert!(out.success(), "login failed:\n{out}");
    assert_eq!(
        fs::metadata(&auth_json).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&auth_json).unwrap()).unwrap();
    assert_eq!(
        saved["auths"][&host]["auth"],
        encode(&format!("alice:{PASSWORD}"))
    );
    let skopeo = rukt_tests::tools::require("skopeo", "install the Debian package skopeo");
    rukt_tests::tools::run_checked(
        &skopeo,
        &[
            "inspect",
            "--raw",
            "--authfile",
            auth_json.to_str().unwrap(),
            "--cert-dir",
            rukt.config_dir()
                .join("certs.d")
                .join(&host)
                .to_str()
                .unwrap(),
            reference.as_str(),
        ],
    );
    fetched(&user, &rukt, &reference, &seed);
    let out = user.run(&rukt, &["logout", &host]);
    assert!(out.success(), "logout failed:\n{out}");
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&auth_json).unwrap()).unwrap();
    assert!(saved["auths"].get(&host).is_none(), "{saved}");
    let out = user.run(&rukt, &["logout", &host]);
    assert_clean_failure(&out);
    assert!(out.stderr.contains("not logged in"), "{out}");

    // insecure = true in registries.conf: a certificate that cannot be verified is accepted,
    // said loudly.
    let rukt = Rukt::new();
    fs::write(
        rukt.config_dir().join("registries.conf"),
        format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"),
    )
    .unwrap();
    write_json(
        &rukt.config_dir().join("auth.json"),
        auth_entry(&host, "alice", PASSWORD),
    );
    let out = fetched(&user, &rukt, &reference, &seed);
    assert!(
        out.stderr.contains("is NOT checked"),
        "no warning about unverified TLS:\n{out}"
    );
}

/// Token auth over TLS: good credentials, an identity token, and each way the token server
/// or the registry refuses, said as what it is; a hanging token server ends at --timeout.
#[test]
fn token_registry_over_tls() {
    let seed = seed("token");
    let certs = Certs::make();
    let users = [
        TokenUser {
            name: "alice",
            password: PASSWORD,
            mode: "good",
        },
        TokenUser {
            name: "eve",
            password: PASSWORD,
            mode: "expired",
        },
        TokenUser {
            name: "nora",
            password: PASSWORD,
            mode: "noscope",
        },
        TokenUser {
            name: "hank",
            password: PASSWORD,
            mode: "hang",
        },
    ];
    let tokens = TokenServer::start(&certs, true, &users, &[("rt-alice", "alice")]);
    let registry = secure::token_registry(&certs, &seed.plain.data_dir(), &tokens.realm());
    let host = registry.host();
    let reference = registry.reference("team/app:1");
    let user = User::new();
    let rukt = Rukt::new();
    certs.install_ca(&rukt.config_dir().join("certs.d"), &host);
    let auth_json = rukt.config_dir().join("auth.json");

    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["requires authentication and no credentials"],
    );
    write_json(&auth_json, auth_entry(&host, "alice", "wrong"));
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &[
            "were refused",
            "invalid username or password",
            &auth_json.display().to_string(),
        ],
    );
    write_json(&auth_json, auth_entry(&host, "eve", PASSWORD));
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["invalid_token", "invalid or expired"],
    );
    write_json(&auth_json, auth_entry(&host, "nora", PASSWORD));
    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["insufficient_scope", "repository:team/app:pull", "\"nora\""],
    );
    write_json(&auth_json, auth_entry(&host, "hank", PASSWORD));
    let started = Instant::now();
    refused(
        &user,
        &rukt,
        &["--timeout", "3s", "--stall-timeout", "1s"],
        &reference,
        &["3s (--timeout)"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a hanging token server held the fetch"
    );
    assert!(tokens.requests().iter().any(|r| r["user"] == "hank"));

    // login through the token server (a token without scope for /v2/): refused, then saved.
    fs::remove_file(&auth_json).unwrap();
    let out = login(&user, &rukt, &host, "wrong");
    assert_clean_failure(&out);
    assert!(
        out.stderr.contains("were refused") && !auth_json.exists(),
        "{out}"
    );
    let out = login(&user, &rukt, &host, PASSWORD);
    assert!(
        out.success(),
        "login through the token server failed:\n{out}"
    );
    fetched(&user, &rukt, &reference, &seed);
    rukt.ok(&["image", "verify"]);

    // An identity token goes to the token server as an OAuth2 refresh token.
    let rukt = Rukt::new();
    certs.install_ca(&rukt.config_dir().join("certs.d"), &host);
    write_json(
        &rukt.config_dir().join("auth.json"),
        serde_json::json!({"auths": {&host: {"identitytoken": "rt-alice"}}}),
    );
    fetched(&user, &rukt, &reference, &seed);
    assert!(
        tokens.requests().iter().any(|r| r["method"] == "POST"
            && r["grant"] == "refresh_token"
            && r["user"] == "alice"),
        "no refresh-token request: {:?}",
        tokens.requests()
    );
}

/// An HTTPS registry naming an `http://` token realm gets no credentials sent there, unless
/// the registry is explicitly allowed plain HTTP.
#[test]
fn plain_http_realm_behind_an_https_registry() {
    let seed = seed("realm");
    let certs = Certs::make();
    let users = [TokenUser {
        name: "alice",
        password: PASSWORD,
        mode: "good",
    }];
    let tokens = TokenServer::start(&certs, false, &users, &[]);
    let registry = secure::token_registry(&certs, &seed.plain.data_dir(), &tokens.realm());
    let host = registry.host();
    let reference = registry.reference("team/app:1");
    let user = User::new();
    let rukt = Rukt::new();
    certs.install_ca(&rukt.config_dir().join("certs.d"), &host);
    write_json(
        &rukt.config_dir().join("auth.json"),
        auth_entry(&host, "alice", PASSWORD),
    );

    refused(
        &user,
        &rukt,
        &[],
        &reference,
        &["plain-HTTP token endpoint", &tokens.realm()],
    );
    assert!(
        tokens.requests().is_empty(),
        "credentials went to the plain-HTTP realm: {:?}",
        tokens.requests()
    );

    fs::write(
        rukt.config_dir().join("registries.conf"),
        format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"),
    )
    .unwrap();
    fetched(&user, &rukt, &reference, &seed);
}

/// A registry requiring client certificates (http.tls.clientcas): refused without one, with
/// a hint; served with client.cert/client.key in certs.d.
#[test]
fn client_certificate_from_certs_d() {
    let seed = seed("mtls");
    let certs = Certs::make();
    let registry = secure::tls_registry(&certs, &seed.plain.data_dir(), true);
    let host = registry.host();
    let reference = registry.reference("team/app:1");
    let user = User::new();
    let rukt = Rukt::new();
    let certs_d = rukt.config_dir().join("certs.d");
    certs.install_ca(&certs_d, &host);
    refused(&user, &rukt, &[], &reference, &["client certificate"]);
    certs.install_client(&certs_d, &host);
    fetched(&user, &rukt, &reference, &seed);
    rukt.ok(&["image", "verify"]);
}
