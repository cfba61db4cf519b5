//! A private software TPM per test: `swtpm socket` on two free loopback ports with its own
//! state directory, stopped by its PID when dropped; plus tpm2-tools against it and the
//! environment that points rukt at it and at a private event log.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools;

pub struct Swtpm {
    dir: TempDir,
    port: u16,
    pid: Option<i32>,
}

/// A free loopback port pair (data P, control P+1) nobody listens on now.
fn free_ports() -> u16 {
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let p = l.local_addr().expect("local address").port();
        drop(l);
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free loopback port pair");
}

impl Swtpm {
    /// Starts a fresh TPM (all four PCR banks, PCRs at their reset values).
    pub fn start() -> Swtpm {
        let swtpm = tools::require("swtpm", "run scripts/setup.sh (Debian package swtpm)");
        let dir = tempfile::Builder::new()
            .prefix("rukt-swtpm-")
            .tempdir()
            .expect("swtpm tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("swtpm state dir");
        for _ in 0..5 {
            let port = free_ports();
            let pidfile = dir.path().join("pid");
            let out = Command::new(&swtpm)
                .args(["socket", "--tpm2"])
                .arg(format!("--server=type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg(format!(
                    "--ctrl=type=tcp,port={},bindaddr=127.0.0.1",
                    port + 1
                ))
                .arg(format!("--tpmstate=dir={}", state.display()))
                .args(["--flags", "not-need-init,startup-clear", "--daemon"])
                .arg(format!("--pid=file={}", pidfile.display()))
                .arg(format!(
                    "--log=file={},level=1",
                    dir.path().join("log").display()
                ))
                .output()
                .expect("run swtpm");
            if !out.status.success() {
                // Lost the ports to someone else: try another pair.
                continue;
            }
            let mut tpm = Swtpm {
                dir,
                port,
                pid: None,
            };
            tpm.pid = Some(tpm.wait_pid(&pidfile));
            tpm.wait_listening();
            return tpm;
        }
        panic!("swtpm did not start");
    }

    fn wait_pid(&self, pidfile: &Path) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::fs::read_to_string(pidfile)
                && let Ok(pid) = s.trim().parse()
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "swtpm wrote no PID file");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "swtpm does not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `swtpm:host=127.0.0.1,port=P`, for rukt and tpm2-tools alike.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The event log this test's rukt writes (private to the test).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("rukt/measure.log")
    }

    /// A scratch directory that lives as long as the TPM.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment pointing rukt at this TPM and log with `policy`.
    pub fn env(&self, policy: &str) -> Vec<(&'static str, String)> {
        vec![
            ("RUKT_TPM", policy.to_string()),
            ("RUKT_TPM_TCTI", self.tcti()),
            ("RUKT_TPM_LOG", self.log().display().to_string()),
        ]
    }

    /// A tpm2-tools command against this TPM.
    pub fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(tools::require(
            name,
            "run scripts/setup.sh (Debian package tpm2-tools)",
        ));
        cmd.env("TPM2TOOLS_TCTI", self.tcti());
        cmd
    }

    /// Runs a tpm2-tools command, asserting success; returns stdout.
    pub fn tool_ok(&self, name: &str, args: &[&str]) -> String {
        let out = self.tool(name).args(args).output().expect("run tpm2-tools");
        assert!(
            out.status.success(),
            "{name} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `tpm2_pcrread BANK:PCR`, lowercase hex.
    pub fn pcr(&self, bank: &str, pcr: u32) -> String {
        let out = self.tool_ok("tpm2_pcrread", &[&format!("{bank}:{pcr}")]);
        let line = out
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{pcr}: 0x")))
            .unwrap_or_else(|| panic!("no value in tpm2_pcrread output:\n{out}"));
        line.trim().to_ascii_lowercase()
    }

    /// Stops the TPM by its PID and waits until it is gone.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        let _ = Command::new("kill").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.stop();
    }
}
