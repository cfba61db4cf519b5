//! The in-memory pipes between a transport and a backend: a bounded queue
//! of received chunks read as an `AsyncRead`, and duplex pipes the backend
//! writes into while a pump task moves the bytes to the transport.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

/// Bytes buffered in each duplex pipe between a backend and a pump.
pub(crate) const PIPE_BUFFER: usize = 64 * 1024;
/// Received chunks queued per stream before the transport's reader waits.
pub(crate) const QUEUE: usize = 16;

/// A queue of received chunks as an `AsyncRead`; EOF once every sender is gone.
pub(crate) struct ChannelReader {
    rx: Option<mpsc::Receiver<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        ChannelReader {
            rx: Some(rx),
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pos == this.chunk.len() {
            let Some(rx) = this.rx.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.rx = None,
                Poll::Ready(Some(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
            }
        }
        let n = buf.remaining().min(this.chunk.len() - this.pos);
        buf.put_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// A duplex pipe: the half for the backend and the half its pump reads.
pub(crate) fn duplex() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(PIPE_BUFFER)
}
