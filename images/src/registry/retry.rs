//! Surviving a bad network: which failures are worth another attempt, how
//! long to wait before it (exponential backoff with jitter, or the
//! registry's `Retry-After`), and a blob reader that resumes a dropped or
//! stalled transfer with a `Range` request from the last byte it delivered.

use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::time::{Duration, Instant};

use tracing::debug;

use super::{Client, Endpoint, RegistryError};

/// Default number of retries of one request or blob transfer.
pub const DEFAULT_RETRIES: u32 = 5;
/// Default time without a byte after which a transfer counts as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between two attempts, whatever `Retry-After` asks.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The wait before retry number `attempt` (0-based): 200 ms doubling up to
/// 5 s, with up to half of it taken off at random so that parallel
/// transfers do not retry in lockstep.
pub fn backoff(attempt: u32) -> Duration {
    let full = BASE_BACKOFF
        .saturating_mul(1u32 << attempt.min(10))
        .min(MAX_BACKOFF);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let jitter = full.mul_f64((random % 1000) as f64 / 2000.0);
    full - jitter
}

/// The seconds form of `Retry-After`, capped at `MAX_WAIT` (the date form
/// is ignored: the backoff applies instead).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}

/// Whether a transport failure may go away on another attempt: dropped
/// connections, stalls, resets; not refused connections or unknown hosts
/// (a mirror that is down falls through to the next endpoint at once).
pub fn transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted
        ),
        ureq::Error::Timeout(t) => !matches!(t, ureq::Timeout::Global | ureq::Timeout::Connect),
        _ => false,
    }
}

impl RegistryError {
    /// Whether another attempt may succeed, and how long the registry asked
    /// to wait before it.
    pub(crate) fn retry(&self) -> Option<Option<Duration>> {
        match self {
            RegistryError::Busy { retry_after, .. } => Some(*retry_after),
            RegistryError::Transport { source, .. } if transient(source) => Some(None),
            RegistryError::Stalled { .. } => Some(None),
            _ => None,
        }
    }
}

impl Client {
    /// After failure `err` of attempt number `*attempt` (0-based) at `url`:
    /// `Ok` once it is worth another attempt (having waited, and counted
    /// it), else the error to return (wrapped in [`RegistryError::GaveUp`]
    /// when there were retries).
    pub(crate) fn retry_or_fail(
        &self,
        url: &str,
        attempt: &mut u32,
        err: RegistryError,
    ) -> Result<(), RegistryError> {
        match err.retry() {
            Some(asked) if *attempt < self.retries => {
                self.wait_to_retry(url, *attempt, asked, &err)?;
                *attempt += 1;
                Ok(())
            }
            _ if *attempt > 0 => Err(RegistryError::GaveUp {
                attempts: *attempt + 1,
                source: Box::new(err),
            }),
            _ => Err(err),
        }
    }

    /// Sleeps before retry `attempt` after `cause`, or fails if the
    /// operation's deadline would pass meanwhile.
    fn wait_to_retry(
        &self,
        url: &str,
        attempt: u32,
        asked: Option<Duration>,
        cause: &RegistryError,
    ) -> Result<(), RegistryError> {
        let wait = asked.unwrap_or_else(|| backoff(attempt));
        if let Some(deadline) = self.deadline()
            && Instant::now() + wait >= deadline
        {
            return Err(RegistryError::Deadline {
                url: url.to_string(),
            });
        }
        debug!(%url, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, cause = cause as &dyn std::error::Error, "retrying");
        std::thread::sleep(wait);
        Ok(())
    }

    /// Maps a failed body read to the registry's terms: a stall, the
    /// operation's deadline, or a transport error.
    /// The whole body of a small response (a manifest, a token), at most
    /// `MAX_MANIFEST_SIZE` bytes.
    pub(crate) fn small_body(
        &self,
        url: &str,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, RegistryError> {
        resp.into_body()
            .into_with_config()
            .limit(super::MAX_MANIFEST_SIZE)
            .read_to_vec()
            .map_err(|e| self.body_error(url, e.into_io()))
    }

    pub(crate) fn body_error(&self, url: &str, e: io::Error) -> RegistryError {
        let e = ureq::Error::from(e);
        let url = url.to_string();
        match e {
            ureq::Error::Timeout(ureq::Timeout::Global) => RegistryError::Deadline { url },
            ureq::Error::Timeout(ureq::Timeout::PerRead) => RegistryError::Stalled {
                url,
                after: self.stall_timeout,
            },
            source => RegistryError::transport(&url, source),
        }
    }
}

/// A blob being streamed that survives dropped and stalled connections:
/// it asks for the rest with `Range: bytes=N-` (N being what it already
/// delivered) and carries on where the registry answers 206 with the
/// matching `Content-Range`; otherwise it reads the blob again from the
/// start and discards the first N bytes, so that its reader (hashing,
/// decompressing, unpacking) sees every byte once either way.
pub struct ResumingBlob<'a> {
    client: &'a Client,
    on_retry: Option<RetryHook<'a>>,
    ep: Endpoint,
    path: String,
    url: String,
    body: Option<ureq::BodyReader<'static>>,
    delivered: u64,
    skip: u64,
    retries: u32,
}

/// Told of each retry of a blob transfer: the byte it continues from
/// (0 when the blob starts over).
pub type RetryHook<'a> = Box<dyn Fn(u64) + Send + 'a>;

impl<'a> ResumingBlob<'a> {
    /// Calls `hook` after each reconnection.
    pub fn on_retry(mut self, hook: RetryHook<'a>) -> ResumingBlob<'a> {
        self.on_retry = Some(hook);
        self
    }

    pub(crate) fn open(
        client: &'a Client,
        ep: &Endpoint,
        digest: &str,
    ) -> Result<ResumingBlob<'a>, RegistryError> {
        let path = format!("blobs/{digest}");
        let mut blob = ResumingBlob {
            client,
            on_retry: None,
            ep: ep.clone(),
            url: client.url(ep, &path),
            path,
            body: None,
            delivered: 0,
            skip: 0,
            retries: 0,
        };
        blob.connect()?;
        Ok(blob)
    }

    /// (Re)opens the transfer from `delivered`.
    fn connect(&mut self) -> Result<(), RegistryError> {
        let from = self.delivered;
        let resp = self
            .client
            .get(&self.ep, &self.path, None, (from > 0).then_some(from))?;
        let resumed = from > 0
            && resp.status().as_u16() == 206
            && resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| content_range_starts_at(v, from));
        let resp = if from > 0 && !resumed && resp.status().as_u16() == 206 {
            // A range we did not ask for: start over without one.
            debug!(url = %self.url, "the registry answered another range; restarting the blob");
            self.client.get(&self.ep, &self.path, None, None)?
        } else {
            resp
        };
        if from > 0 {
            if resumed {
                debug!(url = %self.url, from, "resuming the blob");
            } else {
                debug!(url = %self.url, from, "the registry ignored the range; restarting the blob");
            }
        }
        self.skip = if resumed { 0 } else { from };
        if from > 0
            && let Some(hook) = &self.on_retry
        {
            hook(if resumed { from } else { 0 });
        }
        self.body = Some(resp.into_body().into_reader());
        Ok(())
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, RegistryError> {
        loop {
            if self.body.is_none() {
                self.connect()?;
            }
            let body = self.body.as_mut().expect("connected above");
            let err = match body.read(buf) {
                Ok(0) if self.skip > 0 => self.client.body_error(
                    &self.url,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the blob got shorter"),
                ),
                Ok(n) if self.skip > 0 => {
                    let dropped = (self.skip.min(n as u64)) as usize;
                    self.skip -= dropped as u64;
                    if dropped == n {
                        continue;
                    }
                    buf.copy_within(dropped..n, 0);
                    self.delivered += (n - dropped) as u64;
                    return Ok(n - dropped);
                }
                Ok(n) => {
                    self.delivered += n as u64;
                    return Ok(n);
                }
                Err(e) => self.client.body_error(&self.url, e),
            };
            self.body = None;
            self.client
                .retry_or_fail(&self.url, &mut self.retries, err)?;
        }
    }
}

impl Read for ResumingBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_some(buf).map_err(io::Error::other)
    }
}

/// Whether `Content-Range: bytes FROM-END/TOTAL` starts at `from`.
fn content_range_starts_at(value: &str, from: u64) -> bool {
    value
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('-'))
        .and_then(|(start, _)| start.trim().parse::<u64>().ok())
        == Some(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 0..20 {
            let full = BASE_BACKOFF
                .saturating_mul(1u32 << attempt.min(10))
                .min(MAX_BACKOFF);
            let b = backoff(attempt);
            assert!(b <= full && b >= full / 2, "attempt {attempt}: {b:?}");
        }
    }

    #[test]
    fn retry_after_seconds_are_capped() {
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("100000"), Some(MAX_WAIT));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn content_range_must_start_where_asked() {
        assert!(content_range_starts_at("bytes 100-199/200", 100));
        assert!(!content_range_starts_at("bytes 0-199/200", 100));
        assert!(!content_range_starts_at("items 100-199/200", 100));
    }
}
