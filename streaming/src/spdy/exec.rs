//! Exec and attach over SPDY (`v4`, `v3` and `v2.channel.k8s.io`): wait
//! for the streams the request calls for (error, stdin, stdout, stderr
//! without a tty, resize with a tty from v3 on), run the backend with them,
//! then send the outcome on the error stream and close.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use super::headers;
use super::session::{Session, Stream, pump_to_stream};
use crate::backend::{Backend, Streams};
use crate::outcome::{self, Outcome};
use crate::pipe;
use crate::request::Request;
use crate::server::Config;

/// The remotecommand protocol versions served over SPDY, best first.
pub(crate) const PROTOCOLS: [&str; 3] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
];

/// The stream types `request` expects under `protocol`.
fn expected(request: &Request, protocol: &str) -> Vec<&'static str> {
    let (tty, stdin, stdout, stderr) = request.stream_flags();
    let mut want = vec!["error"];
    if stdin {
        want.push("stdin");
    }
    if stdout {
        want.push("stdout");
    }
    if stderr && !tty {
        want.push("stderr");
    }
    if tty && protocol != "v2.channel.k8s.io" {
        want.push("resize");
    }
    want
}

/// Serves one exec or attach session.
pub(crate) async fn serve<B: Backend>(
    session: Session,
    mut incoming: mpsc::Receiver<Stream>,
    protocol: &'static str,
    request: Request,
    backend: &B,
    config: &Config,
) {
    let want = expected(&request, protocol);
    let mut got: HashMap<&'static str, Stream> = HashMap::new();
    let deadline = Instant::now() + config.stream_creation_timeout;
    while got.len() < want.len() {
        match timeout_at(deadline, incoming.recv()).await {
            Ok(Some(mut stream)) => {
                let kind = headers::get(&stream.headers, "streamtype").unwrap_or_default();
                match want.iter().find(|w| **w == kind) {
                    Some(w) if !got.contains_key(w) => {
                        got.insert(w, stream);
                    }
                    _ => {
                        tracing::debug!(
                            kind,
                            id = stream.id,
                            "spdy: refusing an unexpected stream"
                        );
                        stream.output.cancel().await;
                    }
                }
            }
            Ok(None) => return session.close(config.linger).await,
            Err(_) => {
                tracing::debug!("spdy: timed out waiting for the client's streams");
                if let Some(error) = got.get_mut("error") {
                    let outcome =
                        Outcome::Failed("timed out waiting for client to create streams".into());
                    error.output.send_and_finish(&outcome.status_json()).await;
                }
                return session.close(config.linger).await;
            }
        }
    }
    // Later streams are refused, so the reader never waits on this queue.
    tokio::spawn(async move {
        while let Some(mut stream) = incoming.recv().await {
            stream.output.cancel().await;
        }
    });
    let mut pumps = Vec::new();
    let mut streams = Streams {
        stdin: None,
        stdout: None,
        stderr: None,
        resize: None,
        client_gone: session.client_gone(),
    };
    let mut keep = Vec::new();
    if let Some(stream) = got.remove("stdin") {
        streams.stdin = Some(Box::new(stream.input));
        keep.push(stream.output);
    }
    for (kind, slot) in [
        ("stdout", &mut streams.stdout),
        ("stderr", &mut streams.stderr),
    ] {
        if let Some(stream) = got.remove(kind) {
            let (backend_side, pump_side) = pipe::duplex();
            pumps.push(pump_to_stream(pump_side, stream.output));
            *slot = Some(Box::new(backend_side));
        }
    }
    if let Some(stream) = got.remove("resize") {
        let (tx, rx) = mpsc::channel(16);
        streams.resize = Some(rx);
        keep.push(stream.output);
        tokio::spawn(outcome::forward_sizes(stream.input, tx));
    }
    let outcome = outcome::run(backend, &request, streams).await;
    for pump in pumps {
        let _ = pump.await;
    }
    if let Some(mut error) = got.remove("error") {
        let message = if protocol == PROTOCOLS[0] {
            outcome.status_json()
        } else {
            outcome.status_text()
        };
        error.output.send_and_finish(&message).await;
    }
    for mut out in keep {
        out.finish().await;
    }
    session.close(config.linger).await;
}
