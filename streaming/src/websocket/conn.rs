//! One WebSocket server connection: a reader that yields message pieces
//! (answering pings and noting the close) and a writer task fed by a
//! bounded queue, so every sender is back-pressured by the socket.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use crate::pipe::Activity;

/// What the writer sends.
pub(crate) enum WsOut {
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame with this status code; the writer stops after it.
    Close(u16),
}

/// A piece of a received message.
pub(crate) enum Piece {
    /// Binary payload; `start` on a message's first frame.
    Data { start: bool, data: Vec<u8> },
    /// The client closed (or broke) the connection.
    End,
}

/// The reading half.
pub(crate) struct WsReader<R> {
    r: R,
    buf: Vec<u8>,
    out: mpsc::Sender<WsOut>,
    in_message: bool,
    activity: Activity,
}

impl<R: AsyncRead + Unpin> WsReader<R> {
    /// The next piece of data; pings are answered on the way.
    pub(crate) async fn next(&mut self) -> Piece {
        loop {
            match frame::decode(&self.buf) {
                Ok(Some((f, used))) => {
                    self.buf.drain(..used);
                    match f.opcode {
                        OP_PING => {
                            let _ = self.out.send(WsOut::Pong(f.payload)).await;
                        }
                        OP_PONG => {}
                        OP_CLOSE => {
                            let _ = self.out.send(WsOut::Close(1000)).await;
                            return Piece::End;
                        }
                        OP_BINARY if !self.in_message => {
                            self.in_message = !f.fin;
                            return Piece::Data {
                                start: true,
                                data: f.payload,
                            };
                        }
                        OP_CONTINUATION if self.in_message => {
                            self.in_message = !f.fin;
                            return Piece::Data {
                                start: false,
                                data: f.payload,
                            };
                        }
                        OP_TEXT => {
                            tracing::debug!("websocket: text messages are not supported");
                            let _ = self.out.send(WsOut::Close(1003)).await;
                            return Piece::End;
                        }
                        _ => {
                            let _ = self.out.send(WsOut::Close(1002)).await;
                            return Piece::End;
                        }
                    }
                }
                Ok(None) => {
                    if self.buf.capacity() - self.buf.len() < 8 * 1024 {
                        self.buf.reserve(64 * 1024);
                    }
                    match self.activity.read_buf(&mut self.r, &mut self.buf).await {
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            tracing::debug!("websocket: closing an idle connection");
                            let _ = self.out.try_send(WsOut::Close(1001));
                            return Piece::End;
                        }
                        Ok(0) | Err(_) => return Piece::End,
                        Ok(_) => {}
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "websocket: bad frame");
                    let code = if matches!(e, frame::WsError::TooLong(_)) {
                        1009
                    } else {
                        1002
                    };
                    let _ = self.out.send(WsOut::Close(code)).await;
                    return Piece::End;
                }
            }
        }
    }
}

/// Splits `io` into a reader and a writer task; returns the reader, the
/// writer's queue and its task.
pub(crate) fn start<S>(
    io: S,
    idle: std::time::Duration,
) -> (
    WsReader<tokio::io::ReadHalf<S>>,
    mpsc::Sender<WsOut>,
    JoinHandle<()>,
)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(io);
    let (tx, rx) = mpsc::channel(64);
    let activity = Activity::new(idle);
    let writer = tokio::spawn(write_loop(w, rx, activity.clone()));
    (
        WsReader {
            r,
            buf: Vec::with_capacity(64 * 1024),
            out: tx.clone(),
            in_message: false,
            activity,
        },
        tx,
        writer,
    )
}

async fn write_loop<W: AsyncWrite + Unpin>(w: W, rx: mpsc::Receiver<WsOut>, activity: Activity) {
    crate::pipe::write_batched(w, rx, activity, |out, buf| match out {
        WsOut::Binary(data) => {
            frame::encode(OP_BINARY, &data, None, buf);
            false
        }
        WsOut::Pong(data) => {
            frame::encode(OP_PONG, &data, None, buf);
            false
        }
        WsOut::Close(code) => {
            frame::encode(OP_CLOSE, &code.to_be_bytes(), None, buf);
            true
        }
    })
    .await;
}

/// The `Sec-WebSocket-Accept` answer to a client's key.
pub(crate) fn accept_key(key: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_is_rfc_6455s_example() {
        assert_eq!(
            super::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
