//! A command on a pseudo-terminal of the test's own, as a user's terminal: the command's
//! stdin, stdout and stderr are the slave; the test types at the master, reads what the
//! command wrote there and resizes the window.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running command on a terminal.
pub struct PtySession {
    child: Child,
    master: std::fs::File,
    output: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl PtySession {
    /// Spawns `cmd` on a new terminal of `rows` by `cols`.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> PtySession {
        let (master, slave) = rukt_sys::pty::open().expect("a pseudo-terminal");
        rukt_sys::pty::set_size(&master, cols, rows).expect("a window size");
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the slave"));
        cmd.stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave));
        let child = cmd.spawn().expect("spawn on the terminal");
        // Only the command holds the slave now: its exit ends the master's output.
        drop(cmd);
        drop(slave);
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().expect("dup the master");
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        PtySession {
            child,
            master,
            output,
            seen: String::new(),
        }
    }

    /// The command's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `text`.
    pub fn write(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to the terminal");
    }

    /// Sets the window's size.
    pub fn resize(&self, rows: u16, cols: u16) {
        rukt_sys::pty::set_size(&self.master, cols, rows).expect("a window size");
    }

    /// Waits until the terminal showed `text`; everything shown so far.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> &str {
        let end = Instant::now() + timeout;
        while !self.seen.contains(text) {
            let left = end.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!(
                    "the terminal never showed {text:?}; it showed:\n{}",
                    self.seen
                ),
            }
        }
        &self.seen
    }

    /// Waits for the command's exit (killing it after `timeout`); its success and what the
    /// terminal showed.
    pub fn wait(mut self, timeout: Duration) -> (bool, String) {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for the command") {
                break s;
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                break self.child.wait().expect("wait for the command");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(200)) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        (status.success(), self.seen)
    }
}
