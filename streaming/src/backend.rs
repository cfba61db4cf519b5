//! What the CRI server implements: running an exec, attaching to a
//! container and dialling a port inside a sandbox. The streaming server
//! owns the protocols; a [`Backend`] only sees byte streams.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

/// An error a backend reports; its text reaches the client (in the error
/// stream's `metav1.Status` message, or the port-forward error stream).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A byte stream to read from.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// A byte stream to write to. Dropping it (or `shutdown`) ends the client's
/// copy of that stream.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A bidirectional byte stream (a TCP connection into the sandbox).
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A terminal size the client asked for (columns and rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Tells a backend that the client went away: its connection closed or
/// broke. An attach to a silent container notices it only this way.
#[derive(Debug, Clone)]
pub struct ClientGone(watch::Receiver<bool>);

impl ClientGone {
    pub(crate) fn new() -> (watch::Sender<bool>, ClientGone) {
        let (tx, rx) = watch::channel(false);
        (tx, ClientGone(rx))
    }

    /// Waits until the client has gone.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|gone| *gone).await;
    }

    /// Whether the client has gone.
    pub fn is_gone(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}

/// The streams of one exec or attach session, each present only when the
/// CRI request asked for it (`stderr` never with a tty).
pub struct Streams {
    /// The client's stdin; EOF when the client closes it.
    pub stdin: Option<Reader>,
    /// Where the process's stdout goes.
    pub stdout: Option<Writer>,
    /// Where the process's stderr goes (never set with a tty).
    pub stderr: Option<Writer>,
    /// Terminal sizes, in order, with a tty (the first one is the initial size).
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
    /// Resolves when the client's connection ends before the session does.
    pub client_gone: ClientGone,
}

/// The CRI server's side of streaming. Each method runs for the whole
/// session and must drop the [`Streams`] it was given (or the writers) by
/// the time it returns: the server sends the session's status only after
/// every writer is dropped, so output is never cut short.
pub trait Backend: Send + Sync + 'static {
    /// Runs `cmd` in `container_id` and returns its exit code (0-255).
    fn exec(
        &self,
        container_id: &str,
        cmd: &[String],
        tty: bool,
        streams: Streams,
    ) -> impl Future<Output = Result<i32, BoxError>> + Send;

    /// Attaches to the main process of `container_id` until it exits or the
    /// client goes away.
    fn attach(
        &self,
        container_id: &str,
        tty: bool,
        streams: Streams,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Connects to `port` on the sandbox's loopback, inside its network
    /// namespace; one call per forwarded connection.
    fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> impl Future<Output = Result<Box<dyn ByteStream>, BoxError>> + Send;
}
