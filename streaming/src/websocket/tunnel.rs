//! Port-forward over WebSocket as client-go's tunnelling dialer does it
//! (subprotocol `SPDY/3.1+portforward.k8s.io`, what `kubectl port-forward`
//! and crictl try first): the binary messages carry the bytes of an
//! ordinary SPDY port-forward connection, served by the same code.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::{self, Piece, WsOut};
use crate::backend::Backend;
use crate::server::Config;
use crate::spdy;

/// The tunnelled port-forward subprotocol.
pub(crate) const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Serves one tunnelled port-forward connection.
pub(crate) async fn serve<S, B>(
    io: S,
    sandbox_id: String,
    ports: Vec<u16>,
    backend: Arc<B>,
    config: &Config,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
    B: Backend,
{
    let (mut reader, out, writer) = conn::start(io, config.idle_timeout);
    let (spdy_side, tunnel_side) = tokio::io::duplex(crate::pipe::PIPE_BUFFER);
    let (mut from_spdy, mut to_spdy) = tokio::io::split(tunnel_side);
    let inbound = tokio::spawn(async move {
        while let Piece::Data { data, .. } = reader.next().await {
            if to_spdy.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to_spdy.shutdown().await;
    });
    let outbound = {
        let out = out.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = from_spdy.read(&mut buf).await {
                if out.send(WsOut::Binary(buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            let _ = out.send(WsOut::Close(1000)).await;
        })
    };
    drop(out);
    let (session, incoming) =
        spdy::session::Session::start(spdy_side, config.max_streams, config.idle_timeout);
    spdy::portforward::serve(session, incoming, sandbox_id, ports, backend, config).await;
    let _ = outbound.await;
    let _ = writer.await;
    if tokio::time::timeout(config.linger, inbound).await.is_err() {
        tracing::debug!("websocket: the client did not answer the close");
    }
}
