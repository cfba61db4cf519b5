//! A fault-injecting HTTP proxy (`tests/proxy/faulty.py`, Python 3) in front of a test
//! registry: drops, stalls, 503s, 429s, ignored ranges and corrupted resumes, once per blob,
//! and counts the body bytes it served per blob. Killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::registry::Registry;
use crate::tools;

pub struct FaultyProxy {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl FaultyProxy {
    /// Starts the proxy in front of `registry` with fault `mode` at byte `at` of each blob.
    pub fn start(registry: &Registry, mode: &str, at: u64) -> FaultyProxy {
        let python = tools::require("python3", "install the Debian package python3");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy/faulty.py");
        let upstream = registry
            .host()
            .rsplit_once(':')
            .map(|(_, p)| p.to_owned())
            .expect("registry host has a port");
        let dir = tempfile::Builder::new()
            .prefix("rukt-proxy-")
            .tempdir()
            .expect("proxy tempdir");
        let stats = dir.path().join("stats.json");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(&upstream)
            .arg(mode)
            .arg(at.to_string())
            .arg(&stats)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut line)
            .expect("reading the proxy's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the proxy printed no port: {line:?}"));
        FaultyProxy { child, port, dir }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:PORT/<name_tag>`.
    pub fn reference(&self, name_tag: &str) -> String {
        format!("docker://{}/{name_tag}", self.host())
    }

    fn stats(&self) -> Value {
        let path: PathBuf = self.dir.path().join("stats.json");
        let text = std::fs::read_to_string(&path).expect("reading proxy stats");
        serde_json::from_str(&text).expect("proxy stats are JSON")
    }

    /// Body bytes served for blob `digest`, over all its requests.
    pub fn bytes_served(&self, digest: &str) -> u64 {
        self.stats()[digest]["bytes"].as_u64().unwrap_or(0)
    }

    /// The `Range` header (or None) of each request for blob `digest`, in order.
    pub fn ranges(&self, digest: &str) -> Vec<Option<String>> {
        self.stats()[digest]["requests"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| r["range"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
