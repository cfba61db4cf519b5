//! Serving the CRI's gRPC routes over HTTP/2 on a unix socket, with hyper
//! directly rather than tonic's transport server.
//!
//! The reason is the client's deadline. tonic's server enforces
//! `grpc-timeout` itself and answers an expired call with CANCELLED
//! ("Timeout expired"); gRPC says DEADLINE_EXCEEDED, and kubelet's
//! conformance suite checks for it (a PullImage with a 1 ms deadline). Which
//! of the two a client saw was a race between its own timer and our answer.
//! Here every call runs under its deadline and an expired one is answered
//! DEADLINE_EXCEEDED, as containerd's and CRI-O's gRPC servers do.
//!
//! Each connection's peer (address and credentials) goes into the requests'
//! extensions as tonic's own [`UdsConnectInfo`], so handlers read it the
//! same way. On shutdown the listener stops, each connection is sent a
//! GOAWAY, and calls in flight get [`DRAIN`] to finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::server::UdsConnectInfo;
use tower_service::Service;

/// How long calls in flight may take to finish once a shutdown is asked.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Serves `routes` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    routes: Routes,
    listener: tokio::net::UnixListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let routes = routes.prepare();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A peer gone before we took it, or out of descriptors for a
                // moment: neither stops the server.
                Err(e) if transient(&e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
            () = &mut shutdown => break,
        };
        let peer = UdsConnectInfo {
            peer_addr: stream.peer_addr().ok().map(Arc::new),
            peer_cred: stream.peer_cred().ok(),
        };
        let svc = Deadlined {
            routes: routes.clone(),
            peer,
        };
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(svc),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("calls still running after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Errors after which `accept` may well succeed again.
fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
        || matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
}

/// The routes of one connection: each call tagged with its peer and run
/// under the client's deadline.
#[derive(Clone)]
struct Deadlined {
    routes: Routes,
    peer: UdsConnectInfo,
}

impl Service<http::Request<Incoming>> for Deadlined {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        Service::<http::Request<Incoming>>::poll_ready(&mut self.routes, cx)
    }

    fn call(&mut self, mut req: http::Request<Incoming>) -> Self::Future {
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(timeout);
        req.extensions_mut().insert(self.peer.clone());
        let call = self.routes.call(req);
        Box::pin(async move {
            let Some(d) = deadline else {
                return call.await;
            };
            match tokio::time::timeout(d, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call's deadline ({d:?}) passed"
                ))
                .into_http()),
            }
        })
    }
}

/// A `grpc-timeout` value: up to eight digits and a unit (H, M, S, m, u, n).
pub fn timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    if num.is_empty() || num.len() > 8 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        assert_eq!(timeout("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("999u"), Some(Duration::from_micros(999)));
        assert_eq!(timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "S", "10", "123456789S", "-1S", "1x", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
    }
}
