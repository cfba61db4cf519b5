//! Port-forward over SPDY (`portforward.k8s.io`): the client opens, per
//! forwarded connection, an error stream and a data stream carrying the
//! same `port` and `requestID` headers. Once both are there the backend
//! dials the port in the sandbox and bytes flow both ways; a failure is
//! written as text on the error stream, which is closed when the
//! connection is done. A half-pair waits at most the stream creation
//! timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::headers;
use super::session::{Session, Stream, copy_to_stream};
use crate::backend::Backend;
use crate::server::Config;

/// The port-forward protocol served over SPDY.
pub(crate) const PROTOCOL: &str = "portforward.k8s.io";

#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
    since: Option<Instant>,
}

/// Serves one port-forward connection until the client closes it.
pub(crate) async fn serve<B: Backend>(
    session: Session,
    mut incoming: mpsc::Receiver<Stream>,
    sandbox_id: String,
    ports: Vec<u16>,
    backend: Arc<B>,
    config: &Config,
) {
    let mut pending: HashMap<String, Pair> = HashMap::new();
    let sandbox_id: Arc<str> = sandbox_id.into();
    let ports: Arc<[u16]> = ports.into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stream = tokio::select! {
            s = incoming.recv() => match s { Some(s) => s, None => break },
            _ = tick.tick() => {
                expire(&mut pending, config.stream_creation_timeout).await;
                continue;
            }
        };
        let mut stream = stream;
        let kind = headers::get(&stream.headers, "streamtype")
            .unwrap_or_default()
            .to_string();
        let Some(request_id) = headers::get(&stream.headers, "requestid").map(str::to_string)
        else {
            tracing::debug!(id = stream.id, "portforward: a stream without requestID");
            stream.output.cancel().await;
            continue;
        };
        let pair = pending.entry(request_id.clone()).or_default();
        pair.since.get_or_insert_with(Instant::now);
        let slot = match kind.as_str() {
            "error" => &mut pair.error,
            "data" => &mut pair.data,
            _ => {
                stream.output.cancel().await;
                continue;
            }
        };
        if slot.is_some() {
            stream.output.cancel().await;
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some() && pair.data.is_some() {
            let pair = pending.remove(&request_id).unwrap_or_default();
            if let (Some(error), Some(data)) = (pair.error, pair.data) {
                tokio::spawn(forward(
                    backend.clone(),
                    sandbox_id.clone(),
                    ports.clone(),
                    error,
                    data,
                ));
            }
        }
    }
    session.close(config.linger).await;
}

async fn expire(pending: &mut HashMap<String, Pair>, timeout: Duration) {
    let now = Instant::now();
    let stale: Vec<String> = pending
        .iter()
        .filter(|(_, p)| p.since.is_some_and(|t| now - t > timeout))
        .map(|(k, _)| k.clone())
        .collect();
    for key in stale {
        if let Some(pair) = pending.remove(&key) {
            for mut stream in [pair.error, pair.data].into_iter().flatten() {
                let message = "timed out waiting for the other stream of this connection";
                stream.output.send_and_finish(message.as_bytes()).await;
            }
        }
    }
}

async fn forward<B: Backend>(
    backend: Arc<B>,
    sandbox_id: Arc<str>,
    ports: Arc<[u16]>,
    mut error: Stream,
    mut data: Stream,
) {
    let port = headers::get(&data.headers, "port")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0);
    let result = match port {
        None => Err("invalid port header".to_string()),
        Some(port) if !ports.is_empty() && !ports.contains(&port) => {
            Err(format!("port {port} is not allowed"))
        }
        Some(port) => backend
            .port_forward(&sandbox_id, port)
            .await
            .map_err(|e| format!("error forwarding port {port} to pod {sandbox_id}: {e}")),
    };
    let conn = match result {
        Ok(conn) => conn,
        Err(message) => {
            tracing::debug!(%message, "portforward");
            error.output.send_and_finish(message.as_bytes()).await;
            data.output.finish().await;
            return;
        }
    };
    let (rd, mut wr) = tokio::io::split(conn);
    let input = &mut data.input;
    let up = async move {
        let _ = tokio::io::copy(input, &mut wr).await;
        let _ = wr.shutdown().await;
    };
    let down = copy_to_stream(rd, &mut data.output);
    tokio::join!(up, down);
    error.output.finish().await;
}
