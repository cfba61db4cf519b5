//! How a session ended and how each protocol version says so: v4 and later
//! send a `metav1.Status` (Success, or Failure with reason NonZeroExitCode
//! and an ExitCode cause, which client-go turns into the exit code); v2 and
//! v3 send only an error's text.

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::backend::{Backend, BoxError, Streams, TerminalSize};
use crate::request::Request;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The process exited with this code (exec).
    Exited(i32),
    /// Success (attach).
    Done,
    /// The backend failed.
    Failed(String),
}

/// Runs `request` on `backend`.
pub(crate) async fn run<B: Backend>(backend: &B, request: &Request, streams: Streams) -> Outcome {
    let failed = |e: BoxError| Outcome::Failed(e.to_string());
    match request {
        Request::Exec {
            container_id,
            cmd,
            tty,
            ..
        } => backend
            .exec(container_id, cmd, *tty, streams)
            .await
            .map_or_else(failed, Outcome::Exited),
        Request::Attach {
            container_id, tty, ..
        } => backend
            .attach(container_id, *tty, streams)
            .await
            .map_or_else(failed, |()| Outcome::Done),
        Request::PortForward { .. } => Outcome::Failed("not an exec or attach session".into()),
    }
}

impl Outcome {
    /// The v4/v5 error-stream message: a `metav1.Status`.
    pub(crate) fn status_json(&self) -> Vec<u8> {
        let value = match self {
            Outcome::Exited(0) | Outcome::Done => json!({"metadata": {}, "status": "Success"}),
            Outcome::Exited(code @ 1..=255) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("command terminated with non-zero exit code: exit status {code}"),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            Outcome::Exited(code) => failure(&format!("invalid exit code {code}")),
            Outcome::Failed(message) => failure(message),
        };
        value.to_string().into_bytes()
    }

    /// The v2/v3 error-stream message: nothing on success.
    pub(crate) fn status_text(&self) -> Vec<u8> {
        match self {
            Outcome::Exited(0) | Outcome::Done => Vec::new(),
            Outcome::Exited(code) => {
                format!("command terminated with non-zero exit code: exit status {code}")
                    .into_bytes()
            }
            Outcome::Failed(message) => message.clone().into_bytes(),
        }
    }
}

fn failure(message: &str) -> serde_json::Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

/// The most bytes of an unfinished resize message kept.
const MAX_RESIZE_PENDING: usize = 4096;

/// Decodes the JSON terminal sizes in `pending` (objects one after another,
/// as Go's json.Encoder writes them), keeping an unfinished tail. Returns
/// false when the stream is not JSON sizes or grows too long.
pub(crate) fn decode_sizes(pending: &mut Vec<u8>, out: &mut Vec<TerminalSize>) -> bool {
    let mut iter = serde_json::Deserializer::from_slice(pending).into_iter::<TerminalSize>();
    let mut ok = true;
    loop {
        match iter.next() {
            Some(Ok(size)) => out.push(size),
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                ok = false;
                break;
            }
            None => break,
        }
    }
    let used = iter.byte_offset();
    pending.drain(..used);
    ok && pending.len() <= MAX_RESIZE_PENDING
}

/// Reads JSON terminal sizes from `input` (a resize stream) into `tx`.
pub(crate) async fn forward_sizes<R: AsyncRead + Unpin>(
    mut input: R,
    tx: mpsc::Sender<TerminalSize>,
) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 1024];
    let mut sizes = Vec::new();
    while let Ok(n @ 1..) = input.read(&mut buf).await {
        pending.extend_from_slice(&buf[..n]);
        let ok = decode_sizes(&mut pending, &mut sizes);
        for size in sizes.drain(..) {
            if tx.send(size).await.is_err() {
                return;
            }
        }
        if !ok {
            tracing::debug!("the resize stream is not JSON terminal sizes");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_what_client_go_decodes() {
        let v: serde_json::Value =
            serde_json::from_slice(&Outcome::Exited(3).status_json()).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(
            v["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        let v: serde_json::Value = serde_json::from_slice(&Outcome::Done.status_json()).unwrap();
        assert_eq!(v["status"], "Success");
        let v: serde_json::Value =
            serde_json::from_slice(&Outcome::Exited(300).status_json()).unwrap();
        assert_eq!(v["reason"], "InternalError");
        assert!(Outcome::Exited(0).status_text().is_empty());
        assert_eq!(
            Outcome::Failed("no such container".into()).status_text(),
            b"no such container"
        );
    }

    #[test]
    fn sizes_decode_across_chunks() {
        let mut pending = Vec::new();
        let mut out = Vec::new();
        pending.extend_from_slice(b"{\"Width\":80,\"Height\":24}\n{\"Width\":1");
        assert!(decode_sizes(&mut pending, &mut out));
        assert_eq!(
            out,
            vec![TerminalSize {
                width: 80,
                height: 24
            }]
        );
        pending.extend_from_slice(b"00,\"Height\":30}\n");
        assert!(decode_sizes(&mut pending, &mut out));
        assert_eq!(
            out[1],
            TerminalSize {
                width: 100,
                height: 30
            }
        );
        pending.extend_from_slice(b"\"x\"");
        assert!(!decode_sizes(&mut pending, &mut out), "not a size");
    }
}
