//! The in-memory pipes between a transport and a backend: a bounded queue
//! of received chunks read as an `AsyncRead`, and duplex pipes the backend
//! writes into while a pump task moves the bytes to the transport.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

/// Bytes buffered in each duplex pipe between a backend and a pump.
pub(crate) const PIPE_BUFFER: usize = 128 * 1024;
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
        put(&this.chunk, &mut this.pos, buf);
        Poll::Ready(Ok(()))
    }
}

/// Copies what fits of `chunk[*pos..]` into `buf` and advances `pos`.
pub(crate) fn put(chunk: &[u8], pos: &mut usize, buf: &mut ReadBuf<'_>) {
    let n = buf.remaining().min(chunk.len() - *pos);
    buf.put_slice(&chunk[*pos..*pos + n]);
    *pos += n;
}

/// Bytes gathered from the queue into one write.
const BATCH: usize = 128 * 1024;

/// When a connection last moved a byte either way; a connection idle for
/// longer than its limit is dropped (kubelet's stream idle timeout).
#[derive(Clone)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
    idle: Duration,
}

impl Activity {
    pub(crate) fn new(idle: Duration) -> Self {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            idle,
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + self.idle
    }

    /// Reads into `buf` like `read_buf`; fails with `TimedOut` once the
    /// connection has been idle (both ways) for the limit.
    pub(crate) async fn read_buf<R: AsyncRead + Unpin>(
        &self,
        r: &mut R,
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        loop {
            let deadline = self.deadline();
            tokio::select! {
                n = r.read_buf(buf) => {
                    self.touch();
                    return n;
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if self.deadline() <= Instant::now() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long"));
                    }
                }
            }
        }
    }
}

/// A connection's writer: encodes what arrives on `rx` into `w`, gathering
/// whatever is already queued into one write, until `encode` says an item
/// was the last (or every sender is gone); then flushes and shuts `w`. A
/// write that makes no progress for the idle limit (a client that stopped
/// reading) ends it.
pub(crate) async fn write_batched<T, W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<T>,
    activity: Activity,
    mut encode: impl FnMut(T, &mut Vec<u8>) -> bool,
) {
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut last = false;
        while let Some(item) = next.take() {
            last = encode(item, &mut buf);
            if !last && buf.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        match tokio::time::timeout(activity.idle, w.write_all(&buf)).await {
            Ok(Ok(())) => activity.touch(),
            _ => return,
        }
        buf.clear();
        if last {
            break;
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// A duplex pipe: the half for the backend and the half its pump reads.
pub(crate) fn duplex() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(PIPE_BUFFER)
}
