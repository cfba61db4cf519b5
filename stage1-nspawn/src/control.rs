//! The control socket of a mutable pod's supervisor (`stage1/control`,
//! the contract's `CONTROL_SOCKET`), through which the `app-*`
//! entrypoints reach it: one request per connection, one JSON line each
//! way. The supervisor polls the listening socket with everything else
//! and answers each request when it is done (`app-stop` when the app has
//! exited), so an entrypoint returns exactly when its change happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::CONTROL_SOCKET;
use serde::{Deserialize, Serialize};

/// How long the supervisor waits for a request once a client connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request line the supervisor reads.
const MAX_REQUEST: u64 = 4096;

/// What an entrypoint asks the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Create the app stage0 just added to the manifest (not started).
    Add {
        /// The app.
        app: String,
    },
    /// Start an added app.
    Start {
        /// The app.
        app: String,
    },
    /// Stop an app: SIGTERM, SIGKILL after `timeout_secs` (at once with
    /// `force`); answered once it has exited.
    Stop {
        /// The app.
        app: String,
        /// Kill at once.
        force: bool,
        /// Seconds between SIGTERM and SIGKILL.
        timeout_secs: u64,
    },
    /// Forget a stopped app.
    Rm {
        /// The app.
        app: String,
    },
    /// Apply the app's resources as the manifest now has them.
    Update {
        /// The app.
        app: String,
    },
}

/// The supervisor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reply {
    /// Why the request failed; `None` when it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The supervisor's listening socket.
pub struct Control(UnixListener);

impl Control {
    /// Binds `stage1/control` in the pod directory (mode 0600: root's).
    pub fn bind(pod_dir: &Path) -> anyhow::Result<Control> {
        let path = pod_dir.join(CONTROL_SOCKET);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(&path);
        // Relative to the pod directory: no limit on the store path's length.
        let listener = UnixListener::bind(CONTROL_SOCKET)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        listener
            .set_nonblocking(true)
            .context("cannot make the control socket non-blocking")?;
        Ok(Control(listener))
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Takes one pending request; a client that says nothing sensible in
    /// time is answered with an error and dropped.
    pub fn accept(&self) -> Option<(UnixStream, Request)> {
        let (stream, _) = self.0.accept().ok()?;
        let read = (|| -> anyhow::Result<Request> {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
            let mut line = String::new();
            BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
            Ok(serde_json::from_str(line.trim_end())?)
        })();
        match read {
            Ok(req) => Some((stream, req)),
            Err(e) => {
                answer(stream, Err(format!("invalid request: {e}")));
                None
            }
        }
    }
}

/// Answers a request; a client gone away is not an error.
pub fn answer(mut stream: UnixStream, outcome: Result<(), String>) {
    let reply = Reply {
        error: outcome.err(),
    };
    let mut line = serde_json::to_vec(&reply).expect("a reply serialises");
    line.push(b'\n');
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.write_all(&line);
}

/// Sends `req` to the supervisor of the pod in the working directory and
/// waits up to `timeout` for its answer.
pub fn call(req: &Request, timeout: Duration) -> anyhow::Result<()> {
    let mut stream = UnixStream::connect(CONTROL_SOCKET)
        .context("cannot reach the pod's supervisor (is the pod mutable and running?)")?;
    let mut line = serde_json::to_vec(req).expect("a request serialises");
    line.push(b'\n');
    stream
        .write_all(&line)
        .context("cannot send to the pod's supervisor")?;
    stream.set_read_timeout(Some(timeout))?;
    let mut answer = String::new();
    BufReader::new(stream.take(MAX_REQUEST))
        .read_line(&mut answer)
        .context("no answer from the pod's supervisor")?;
    if answer.is_empty() {
        bail!("the pod's supervisor hung up without an answer");
    }
    let reply: Reply =
        serde_json::from_str(answer.trim_end()).context("invalid answer from the supervisor")?;
    match reply.error {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_json_lines_with_an_op() {
        let req = Request::Stop {
            app: "web".into(),
            force: false,
            timeout_secs: 10,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            text,
            r#"{"op":"stop","app":"web","force":false,"timeout_secs":10}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), req);
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }
}
