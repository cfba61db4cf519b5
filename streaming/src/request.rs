//! The sessions a CRI server registers: what an Exec, Attach or
//! PortForward RPC asked for, checked as kubelet's streaming server checks it.

use thiserror::Error;

/// One streaming session a CRI RPC asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `ExecRequest`.
    Exec {
        /// The container.
        container_id: String,
        /// The command and its arguments.
        cmd: Vec<String>,
        /// A terminal session.
        tty: bool,
        /// Stream stdin.
        stdin: bool,
        /// Stream stdout.
        stdout: bool,
        /// Stream stderr (never with `tty`).
        stderr: bool,
    },
    /// `AttachRequest`.
    Attach {
        /// The container.
        container_id: String,
        /// A terminal session.
        tty: bool,
        /// Stream stdin.
        stdin: bool,
        /// Stream stdout.
        stdout: bool,
        /// Stream stderr (never with `tty`).
        stderr: bool,
    },
    /// `PortForwardRequest`.
    PortForward {
        /// The sandbox.
        sandbox_id: String,
        /// The ports the client may forward; empty allows any (kubelet sends none).
        ports: Vec<u16>,
    },
}

/// A request that cannot be registered.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RegisterError {
    /// The CRI's own rule: a terminal merges stderr into stdout.
    #[error("tty and stderr cannot both be true")]
    TtyWithStderr,
    /// An exec or attach with nothing to stream.
    #[error("one of stdin, stdout, or stderr must be set")]
    NoStreams,
    /// An exec without a command.
    #[error("cmd must not be empty")]
    EmptyCommand,
    /// An empty container or sandbox id.
    #[error("the container or sandbox id is empty")]
    EmptyId,
    /// Too many sessions registered and not yet used.
    #[error("maximum number of in-flight requests exceeded")]
    TooMany,
}

impl Request {
    /// The URL path word of this kind of session.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Request::Exec { .. } => "exec",
            Request::Attach { .. } => "attach",
            Request::PortForward { .. } => "portforward",
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RegisterError> {
        match self {
            Request::Exec {
                container_id,
                cmd,
                tty,
                stdin,
                stdout,
                stderr,
            } => {
                if cmd.is_empty() {
                    return Err(RegisterError::EmptyCommand);
                }
                check_streams(container_id, *tty, *stdin, *stdout, *stderr)
            }
            Request::Attach {
                container_id,
                tty,
                stdin,
                stdout,
                stderr,
            } => check_streams(container_id, *tty, *stdin, *stdout, *stderr),
            Request::PortForward { sandbox_id, .. } if sandbox_id.is_empty() => {
                Err(RegisterError::EmptyId)
            }
            Request::PortForward { .. } => Ok(()),
        }
    }
}

fn check_streams(
    id: &str,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<(), RegisterError> {
    if id.is_empty() {
        Err(RegisterError::EmptyId)
    } else if tty && stderr {
        Err(RegisterError::TtyWithStderr)
    } else if !(stdin || stdout || stderr) {
        Err(RegisterError::NoStreams)
    } else {
        Ok(())
    }
}

impl Request {
    /// `(tty, stdin, stdout, stderr)` of an exec or attach; all false for a port-forward.
    pub(crate) fn stream_flags(&self) -> (bool, bool, bool, bool) {
        match self {
            Request::Exec {
                tty,
                stdin,
                stdout,
                stderr,
                ..
            }
            | Request::Attach {
                tty,
                stdin,
                stdout,
                stderr,
                ..
            } => (*tty, *stdin, *stdout, *stderr),
            Request::PortForward { .. } => (false, false, false, false),
        }
    }
}
