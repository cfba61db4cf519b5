//! The listener: accepts connections, reads each one's request head,
//! redeems its token and hands the upgraded connection to SPDY or
//! WebSocket for the session the token was registered for.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::http::{self, Head, Prefixed};
use crate::request::{RegisterError, Request};
use crate::spdy::session::Session;
use crate::tokens::Tokens;
use crate::websocket;
use crate::{spdy, spdy::exec, spdy::portforward};

/// Limits and timeouts; the defaults are kubelet's where it has one.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a registered URL stays valid (kubelet: 1 minute).
    pub token_ttl: Duration,
    /// Registered URLs waiting at once (kubelet: 1,000).
    pub max_pending: usize,
    /// How long the client may take to open a session's streams (kubelet: 30 s).
    pub stream_creation_timeout: Duration,
    /// How long the client may take to send its request head.
    pub handshake_timeout: Duration,
    /// Live SPDY streams per connection.
    pub max_streams: usize,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// How long a closing connection waits for the client's last frames.
    pub linger: Duration,
    /// A session with no byte moving either way for this long is dropped,
    /// as is a write the client does not take for this long (kubelet: 4 h).
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl: Duration::from_secs(60),
            max_pending: 1000,
            stream_creation_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_streams: 128,
            max_connections: 256,
            linger: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(4 * 3600),
        }
    }
}

struct Shared<B> {
    backend: Arc<B>,
    tokens: Tokens,
    config: Config,
    base_url: String,
    slots: Arc<Semaphore>,
}

/// A running streaming server; cheap to clone. Dropping every clone does
/// not stop it: call [`Server::shutdown`].
pub struct Server<B: Backend> {
    shared: Arc<Shared<B>>,
    accept: Arc<JoinHandle<()>>,
}

impl<B: Backend> Clone for Server<B> {
    fn clone(&self) -> Self {
        Server {
            shared: self.shared.clone(),
            accept: self.accept.clone(),
        }
    }
}

impl<B: Backend> Server<B> {
    /// Listens on `addr` (a loopback address: kubelet connects locally) and
    /// starts accepting on the current tokio runtime.
    pub async fn bind(addr: SocketAddr, backend: B, config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let base_url = format!("http://{local}");
        let slots = Arc::new(Semaphore::new(config.max_connections));
        let tokens = Tokens::new(config.token_ttl, config.max_pending);
        let shared = Arc::new(Shared {
            backend: Arc::new(backend),
            tokens,
            config,
            base_url,
            slots,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Server {
            shared,
            accept: Arc::new(accept),
        })
    }

    /// `http://IP:PORT`, the prefix of every URL.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Registers a session and returns its one-time URL,
    /// `BASE/{exec,attach,portforward}/TOKEN`: what the CRI RPC answers.
    pub fn register(&self, request: Request) -> Result<String, RegisterError> {
        request.validate()?;
        let kind = request.kind();
        let token = self.shared.tokens.insert(request)?;
        Ok(format!("{}/{kind}/{token}", self.shared.base_url))
    }

    /// Stops accepting connections (sessions already running go on).
    pub fn shutdown(&self) {
        self.accept.abort();
    }
}

async fn accept_loop<B: Backend>(listener: TcpListener, shared: Arc<Shared<B>>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "streaming: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            match shared.slots.clone().try_acquire_owned() {
                Ok(_slot) => connection(tcp, peer, &shared).await,
                Err(_) => {
                    let mut tcp = tcp;
                    http::refuse(&mut tcp, 503, &[], "too many streaming connections").await;
                }
            }
        });
    }
}

async fn connection<B: Backend>(mut tcp: TcpStream, peer: SocketAddr, shared: &Shared<B>) {
    let _ = tcp.set_nodelay(true);
    let (head, rest) = match tokio::time::timeout(
        shared.config.handshake_timeout,
        http::read_head(&mut tcp),
    )
    .await
    {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "streaming: bad request");
            return http::refuse(&mut tcp, 400, &[], &e.to_string()).await;
        }
        Err(_) => return,
    };
    if head.method != "GET" && head.method != "POST" {
        return http::refuse(&mut tcp, 405, &[], "only GET and POST").await;
    }
    let path = head.path.split('?').next().unwrap_or_default();
    let Some((kind, token)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return http::refuse(&mut tcp, 404, &[], "not found").await;
    };
    let request = match shared.tokens.take(token) {
        Some(r) if r.kind() == kind => r,
        _ => {
            return http::refuse(
                &mut tcp,
                404,
                &[],
                "the session is unknown, used or expired",
            )
            .await;
        }
    };
    tracing::debug!(%peer, kind, "streaming: session starts");
    let io = Prefixed::new(rest, tcp);
    if head.has_token("upgrade", "websocket") {
        serve_websocket(io, &head, request, shared).await;
    } else if head.has_token("upgrade", "SPDY/3.1") {
        serve_spdy(io, &head, request, shared).await;
    } else {
        let mut io = io;
        http::refuse(
            &mut io,
            400,
            &[],
            "unable to upgrade: missing upgrade headers in request",
        )
        .await;
    }
}

/// The first protocol the client offers that we serve (the client's order).
fn negotiate(offered: &[&str], ours: &[&'static str]) -> Option<&'static str> {
    offered
        .iter()
        .find_map(|o| ours.iter().find(|p| **p == *o).copied())
}

async fn serve_spdy<B: Backend>(
    mut io: Prefixed<TcpStream>,
    head: &Head,
    request: Request,
    shared: &Shared<B>,
) {
    let ours: &[&'static str] = match request {
        Request::PortForward { .. } => &[portforward::PROTOCOL],
        _ => &exec::PROTOCOLS,
    };
    let offered = head.values("x-stream-protocol-version");
    let Some(protocol) = negotiate(&offered, ours) else {
        let accepted = ours.join(", ");
        let body = format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {ours:?}"
        );
        return http::refuse(
            &mut io,
            403,
            &[("X-Accepted-Stream-Protocol-Versions", &accepted)],
            &body,
        )
        .await;
    };
    let answer = [
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("X-Stream-Protocol-Version", protocol),
    ];
    if http::switch(&mut io, &answer).await.is_err() {
        return;
    }
    let (session, incoming) =
        Session::start(io, shared.config.max_streams, shared.config.idle_timeout);
    match request {
        Request::PortForward { sandbox_id, ports } => {
            portforward::serve(
                session,
                incoming,
                sandbox_id,
                ports,
                shared.backend.clone(),
                &shared.config,
            )
            .await;
        }
        request => {
            spdy::exec::serve(
                session,
                incoming,
                protocol,
                request,
                &*shared.backend,
                &shared.config,
            )
            .await
        }
    }
}

async fn serve_websocket<B: Backend>(
    mut io: Prefixed<TcpStream>,
    head: &Head,
    request: Request,
    shared: &Shared<B>,
) {
    let ours: &[&'static str] = match request {
        Request::PortForward { .. } => &[websocket::tunnel::PROTOCOL],
        _ => &websocket::channel::PROTOCOLS,
    };
    let offered = head.values("sec-websocket-protocol");
    let (Some(key), Some("13")) = (
        head.get("sec-websocket-key"),
        head.get("sec-websocket-version"),
    ) else {
        return http::refuse(
            &mut io,
            400,
            &[("Sec-WebSocket-Version", "13")],
            "a WebSocket upgrade needs version 13 and a key",
        )
        .await;
    };
    let Some(protocol) = negotiate(&offered, ours) else {
        let body = format!("unable to upgrade: client offers {offered:?}, server accepts {ours:?}");
        return http::refuse(&mut io, 400, &[], &body).await;
    };
    let accept = websocket::conn::accept_key(key);
    let answer = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", &accept),
        ("Sec-WebSocket-Protocol", protocol),
    ];
    if http::switch(&mut io, &answer).await.is_err() {
        return;
    }
    match request {
        Request::PortForward { sandbox_id, ports } => {
            websocket::tunnel::serve(
                io,
                sandbox_id,
                ports,
                shared.backend.clone(),
                &shared.config,
            )
            .await;
        }
        request => websocket::channel::serve(io, request, &*shared.backend, &shared.config).await,
    }
}
