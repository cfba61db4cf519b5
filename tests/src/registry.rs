//! A throw-away Docker distribution registry (`docker-registry serve`) on a free loopback port,
//! with its filesystem storage exposed (to tamper with blobs) and its access log parsed (to
//! count blob downloads). Killed when dropped. [`Registry::start_with`] adds TLS, auth or
//! another storage directory (see `secure.rs`).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::digest::hex_of;
use crate::tools;

pub struct Registry {
    child: Child,
    port: u16,
    dir: TempDir,
}

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub status: u16,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What a registry adds to the plain one's configuration.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// YAML lines under `http:`, indented by two spaces (e.g. `  tls:` ...).
    pub http: String,
    /// Top-level YAML (e.g. `auth:` ...).
    pub top: String,
    /// Serve this storage directory (another registry's `data_dir`) instead of a new one.
    pub storage: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry and waits until `GET /v2/` answers 200.
    pub fn start() -> Registry {
        Self::start_with(&Extra::default())
    }

    /// Starts a registry with `extra` configuration. A plain one is ready when `GET /v2/`
    /// answers 200; one with TLS or auth when it logs that it listens.
    pub fn start_with(extra: &Extra) -> Registry {
        let program = tools::require(
            "docker-registry",
            "install the Debian package docker-registry",
        );
        let mut last_log = String::new();
        // Another test may grab the port between our probe and the registry's bind: retry.
        for _ in 0..5 {
            match Self::try_start(&program, extra) {
                Ok(registry) => return registry,
                Err(log) => last_log = log,
            }
        }
        panic!("docker-registry did not start; last log:\n{last_log}");
    }

    fn try_start(program: &Path, extra: &Extra) -> Result<Registry, String> {
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
            probe.local_addr().expect("probe address").port()
        };
        let dir = tempfile::Builder::new()
            .prefix("rukt-registry-")
            .tempdir()
            .expect("registry tempdir");
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: rukt-tests\n{}{}",
                extra
                    .storage
                    .clone()
                    .unwrap_or_else(|| dir.path().join("data"))
                    .display(),
                extra.http,
                extra.top,
            ),
        )
        .expect("writing registry config");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("registry.log"))
            .expect("opening registry log");
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = format!("listening on 127.0.0.1:{port}");
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", registry.log()));
            }
            // Our own process must say it is listening: a registry of another test that
            // happened to bind the same port would answer the probe too.
            let plain = extra.http.is_empty() && extra.top.is_empty();
            if registry.log().contains(&listening) && (!plain || registry.probe()) {
                return Ok(registry);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {START_TIMEOUT:?}:\n{}",
                    registry.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn probe(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/<name_tag>`, the reference rukt fetches.
    pub fn reference(&self, name_tag: &str) -> String {
        format!("docker://{}/{name_tag}", self.host())
    }

    /// Root of the registry's filesystem storage.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file holding the bytes of blob `digest`, as the registry serves them.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = hex_of(digest);
        self.data_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Everything the registry logged so far.
    pub fn log(&self) -> String {
        fs::read(self.dir.path().join("registry.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The requests of the access log, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// The `GET /v2/<any repository>/blobs/<digest>` requests so far.
    pub fn blob_gets(&self, digest: &str) -> Vec<Request> {
        let suffix = format!("/blobs/{digest}");
        self.requests()
            .into_iter()
            .filter(|r| {
                r.method == "GET" && r.path.starts_with("/v2/") && r.path.ends_with(&suffix)
            })
            .collect()
    }

    /// Number of `GET /v2/.../blobs/...` requests so far, whatever the blob.
    pub fn all_blob_gets(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count()
    }
}

/// Parses a combined-log-format line: `127.0.0.1 - - [date] "GET /v2/x HTTP/1.1" 200 2 "" "ua"`.
fn parse_access_line(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let status = rest.split(' ').next()?.parse().ok()?;
    Some(Request {
        method,
        path,
        status,
    })
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_lines() {
        let line = r#"127.0.0.1 - - [22/Nov/2026:15:13:53 +0000] "GET /v2/a/blobs/sha256:ab HTTP/1.1" 200 2 "" "curl/7.88.1""#;
        assert_eq!(
            parse_access_line(line),
            Some(Request {
                method: "GET".into(),
                path: "/v2/a/blobs/sha256:ab".into(),
                status: 200
            })
        );
        assert_eq!(parse_access_line("time=\"x\" level=info msg=\"y\""), None);
    }
}
