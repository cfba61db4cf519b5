//! `rukt-streaming`: the CRI streaming server. A CRI runtime answers the
//! Exec, Attach and PortForward RPCs with a one-time URL; kubelet, crictl
//! or critest then connect to that URL over HTTP/1.1 and upgrade to SPDY/3.1
//! (the default everywhere) or WebSocket. This crate serves those URLs and
//! speaks the Kubernetes streaming protocols; the runtime only implements
//! [`Backend`] over plain byte streams.
//!
//! ```no_run
//! # use rukt_streaming::*;
//! # async fn demo<B: Backend>(backend: B) -> std::io::Result<()> {
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), backend, Config::default()).await?;
//! // In the Exec RPC:
//! let url = server.register(Request::Exec {
//!     container_id: "c1".into(),
//!     cmd: vec!["sh".into()],
//!     tty: false, stdin: true, stdout: true, stderr: true,
//! }).expect("a valid request"); // RegisterError: InvalidArgument, or ResourceExhausted for TooMany
//! assert!(url.starts_with(server.base_url()));
//! # Ok(()) }
//! ```
//!
//! Protocols (docs/cri-streaming.md has the details and the limits):
//! - SPDY/3.1 with `X-Stream-Protocol-Version` `v4.channel.k8s.io` (also v3
//!   and v2) for exec and attach, `portforward.k8s.io` for port-forward;
//! - WebSocket `v5.channel.k8s.io` (and v4) for exec and attach, and
//!   `SPDY/3.1+portforward.k8s.io` (SPDY tunnelled in WebSocket) for
//!   port-forward.
//!
//! URLs are `http://IP:PORT/{exec,attach,portforward}/TOKEN`; a token is
//! random, good for one connection and for one minute. This crate depends on
//! no other rukt crate; it never prints, and logs with `tracing`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod http;
mod outcome;
mod pipe;
mod request;
mod server;
mod spdy;
mod tokens;
mod websocket;

pub use backend::{
    Backend, BoxError, ByteStream, ClientGone, Reader, Streams, TerminalSize, Writer,
};
pub use request::{RegisterError, Request};
pub use server::{Config, Server};
