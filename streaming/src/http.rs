//! The HTTP/1.1 request that opens a session, read by hand: a bounded
//! head (16 KiB, 64 headers, 10 s), a one-line answer for refusals, and the
//! 101 that hands the connection to SPDY or WebSocket. Bytes the client
//! sent after its head are kept ([`Prefixed`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The largest request head read.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// A request head that cannot be read.
#[derive(Debug, Error)]
pub(crate) enum HttpError {
    #[error("reading the request: {0}")]
    Io(#[from] io::Error),
    #[error("the request head is over {MAX_HEAD} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Parse(#[from] httparse::Error),
    #[error("the connection closed before the request head ended")]
    Eof,
}

/// A parsed request head.
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    /// Names lowercase, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Every comma-separated value of every `name` header, trimmed.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether header `name` lists `token` (case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(token))
    }

    /// The first value of header `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    }
}

/// Reads one request head; returns it and the bytes read past it.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<(Head, Vec<u8>), HttpError> {
    let mut buf = Vec::with_capacity(2048);
    loop {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut storage);
        if let httparse::Status::Complete(len) = req.parse(&buf)? {
            let head = Head {
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
            };
            return Ok((head, buf[len..].to_vec()));
        }
        if buf.len() >= MAX_HEAD {
            return Err(HttpError::TooLarge);
        }
        let mut chunk = [0u8; 2048];
        let want = chunk.len().min(MAX_HEAD - buf.len());
        let n = s.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Err(HttpError::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Answers with `status` and a plain-text `body`, then the connection closes.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(
    s: &mut S,
    status: u16,
    extra: &[(&str, &str)],
    body: &str,
) {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len() + 1
    );
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("\r\n{body}\n"));
    let _ = s.write_all(out.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// Answers 101 Switching Protocols with `headers`.
pub(crate) async fn switch<S: AsyncWrite + Unpin>(
    s: &mut S,
    headers: &[(&str, &str)],
) -> io::Result<()> {
    let mut out = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    s.write_all(out.as_bytes()).await?;
    s.flush().await
}

/// A connection whose first bytes were already read.
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            crate::pipe::put(&this.prefix, &mut this.pos, buf);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
