//! Registries as the world runs them, for the auth and TLS tests: certificates made per run
//! with the openssl CLI (a CA, a server certificate for 127.0.0.1, a client certificate, a
//! token-signing certificate), htpasswd files (apache2-utils' `htpasswd`, bcrypt as
//! docker-registry requires), a docker token server (`tests/tokenserver/token_server.py`, ES256
//! JWTs with an `x5c` header) and docker-registry configured for TLS, client certificates,
//! htpasswd or token auth over another registry's storage.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::registry::{Extra, Registry};
use crate::tools;

/// The token service name and issuer the registries and the token server agree on.
pub const SERVICE: &str = "rukt-test-registry";
const ISSUER: &str = "rukt-test-token-issuer";

/// A test CA and the certificates it signed, in a temp directory.
pub struct Certs {
    dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let program = tools::require("openssl", "install the Debian package openssl");
    let out = Command::new(&program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl Certs {
    /// A CA (`ca.crt`), a server certificate for 127.0.0.1 and localhost (`server.crt`,
    /// `server.key`), a client certificate (`client.cert`, `client.key`) and a self-signed
    /// token-signing certificate (`signer.crt`, `signer.key`).
    pub fn make() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("rukt-certs-")
            .tempdir()
            .expect("certs tempdir");
        let d = dir.path();
        let self_signed = |name: &str, cn: &str, ext: &[&str]| {
            let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
            let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", cn];
            args.extend(EC);
            args.extend(["-keyout", key.as_str(), "-out", crt.as_str()]);
            for e in ext {
                args.extend(["-addext", *e]);
            }
            openssl(d, &args);
        };
        self_signed(
            "ca",
            "/CN=rukt test CA",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        self_signed("signer", "/CN=rukt test token signer", &[]);
        let signed = |name: &str, cn: &str, cert: &str, ext: &str| {
            let ext_file = format!("{name}.ext");
            fs::write(d.join(&ext_file), ext).expect("extension file");
            let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
            let mut args = vec!["req", "-nodes", "-subj", cn];
            args.extend(EC);
            args.extend(["-keyout", key.as_str(), "-out", csr.as_str()]);
            openssl(d, &args);
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    cert,
                    "-extfile",
                    &ext_file,
                ],
            );
        };
        signed(
            "server",
            "/CN=127.0.0.1",
            "server.crt",
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        signed(
            "client",
            "/CN=rukt test client",
            "client.cert",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        );
        Certs { dir }
    }

    /// A file of the set (`ca.crt`, `server.crt`, ...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Copies the CA into `CERTS_D/HOST/ca.crt`.
    pub fn install_ca(&self, certs_d: &Path, host: &str) {
        let dir = certs_d.join(host);
        fs::create_dir_all(&dir).expect("certs.d/HOST");
        fs::copy(self.path("ca.crt"), dir.join("ca.crt")).expect("copying the CA");
    }

    /// Copies the client certificate and key into `CERTS_D/HOST/client.{cert,key}`.
    pub fn install_client(&self, certs_d: &Path, host: &str) {
        let dir = certs_d.join(host);
        fs::create_dir_all(&dir).expect("certs.d/HOST");
        for f in ["client.cert", "client.key"] {
            fs::copy(self.path(f), dir.join(f)).expect("copying the client certificate");
        }
    }

    /// `http:` lines for TLS with the server certificate (and, with `client_cas`, required
    /// client certificates signed by the CA).
    pub fn registry_tls(&self, client_cas: bool) -> String {
        let mut out = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            self.path("server.crt").display(),
            self.path("server.key").display()
        );
        if client_cas {
            out.push_str(&format!(
                "    clientcas:\n      - {}\n",
                self.path("ca.crt").display()
            ));
        }
        out
    }
}

/// An htpasswd file with bcrypt entries for `users`, as docker-registry reads them.
pub fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let program = tools::require("htpasswd", "install the Debian package apache2-utils");
    let mut text = Vec::new();
    for (user, password) in users {
        text.extend(tools::run_checked(&program, &["-Bbn", user, password]));
    }
    let path = dir.join("htpasswd");
    fs::write(&path, text).expect("writing htpasswd");
    path
}

/// docker-registry over TLS with htpasswd users, serving `storage`.
pub fn htpasswd_registry(certs: &Certs, storage: &Path, users: &[(&str, &str)]) -> Registry {
    let file = htpasswd(certs.dir.path(), users);
    Registry::start_with(&Extra {
        http: certs.registry_tls(false),
        top: format!(
            "auth:\n  htpasswd:\n    realm: rukt-test\n    path: {}\n",
            file.display()
        ),
        storage: Some(storage.to_path_buf()),
    })
}

/// docker-registry over TLS (with required client certificates if `client_cas`), no auth,
/// serving `storage`.
pub fn tls_registry(certs: &Certs, storage: &Path, client_cas: bool) -> Registry {
    Registry::start_with(&Extra {
        http: certs.registry_tls(client_cas),
        top: String::new(),
        storage: Some(storage.to_path_buf()),
    })
}

/// docker-registry over TLS with token auth at `realm`, serving `storage`.
pub fn token_registry(certs: &Certs, storage: &Path, realm: &str) -> Registry {
    Registry::start_with(&Extra {
        http: certs.registry_tls(false),
        top: format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            certs.path("signer.crt").display()
        ),
        storage: Some(storage.to_path_buf()),
    })
}

/// A running token server; killed when dropped.
pub struct TokenServer {
    child: Child,
    port: u16,
    tls: bool,
    dir: TempDir,
}

/// A user of the token server and how it treats them.
pub struct TokenUser<'a> {
    pub name: &'a str,
    pub password: &'a str,
    /// `good`, `expired`, `noscope` or `hang`.
    pub mode: &'a str,
}

impl TokenServer {
    /// Starts the token server (over TLS with the server certificate if `tls`) for `users`;
    /// `refresh` maps identity tokens to user names.
    pub fn start(
        certs: &Certs,
        tls: bool,
        users: &[TokenUser<'_>],
        refresh: &[(&str, &str)],
    ) -> TokenServer {
        let dir = tempfile::Builder::new()
            .prefix("rukt-token-")
            .tempdir()
            .expect("token server tempdir");
        let users_json = serde_json::json!({
            "users": users.iter().map(|u| (u.name.to_string(), serde_json::json!({"password": u.password, "mode": u.mode}))).collect::<serde_json::Map<_, _>>(),
            "refresh": refresh.iter().map(|(t, u)| (t.to_string(), serde_json::json!(u))).collect::<serde_json::Map<_, _>>(),
        });
        fs::write(dir.path().join("users.json"), users_json.to_string()).expect("users.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tokenserver/token_server.py");
        let port_file = dir.path().join("port");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(&script)
            .arg("--users")
            .arg(dir.path().join("users.json"))
            .arg("--sign-key")
            .arg(certs.path("signer.key"))
            .arg("--sign-cert")
            .arg(certs.path("signer.crt"))
            .arg("--issuer")
            .arg(ISSUER)
            .arg("--log")
            .arg(dir.path().join("requests.log"))
            .arg("--port-file")
            .arg(&port_file);
        if tls {
            cmd.arg("--cert")
                .arg(certs.path("server.crt"))
                .arg("--key")
                .arg(certs.path("server.key"));
        }
        let stderr = fs::File::create(dir.path().join("stderr")).expect("token server stderr");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawning the token server (needs /usr/bin/python3)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = fs::read_to_string(&port_file) {
                break p.trim().parse().expect("the token server's port");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the token server exited with {status}:\n{}",
                    fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the token server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        TokenServer {
            child,
            port,
            tls,
            dir,
        }
    }

    /// The realm URL registries name.
    pub fn realm(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/token", self.port)
    }

    /// The requests so far, one JSON object each (user names, never passwords).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
