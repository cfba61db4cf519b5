//! `rukt-api-service`: rukt's read-only gRPC API (`rukt.api.v1`, see
//! docs/api-service.md) over one store, on unix sockets and loopback TCP
//! (`--listen`) or the sockets systemd passes. Pods never depend on it:
//! it only reads what stage0, the stage1s and gc write, without taking a
//! lock, so stopping or killing it changes nothing.
//!
//! Exit codes: 0 after SIGTERM/SIGINT, 1 on an error, 2 on a usage error.

mod events;
mod images;
mod listen;
mod logs;
mod pods;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;

use crate::listen::{Addr, Listener};

/// rukt's read-only gRPC API service.
#[derive(Parser, Debug)]
#[command(name = "rukt api-service", version)]
struct Args {
    /// Where to listen: `unix:PATH` or `tcp:IP:PORT` (loopback only);
    /// repeatable. Without it: the sockets systemd passed, else
    /// `unix:/run/rukt/api.sock`.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<Addr>,
    /// The store to read.
    #[arg(
        long,
        default_value = "/var/lib/rukt",
        env = "RUKT_DIR",
        overrides_with = "dir"
    )]
    dir: PathBuf,
    /// Log every call.
    #[arg(long)]
    debug: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUKT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once, on one line, as `rukt` prints its errors.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("rukt api-service: {e:#}\n"),
            );
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let passed = listen::from_systemd()?;
    let listeners = match (passed.is_empty(), args.listen.is_empty()) {
        (false, false) => bail!("--listen and sockets passed by systemd are exclusive"),
        (false, true) => passed,
        (true, false) => listen::bind(&args.listen)?,
        (true, true) => listen::bind(&[Addr::Unix("/run/rukt/api.sock".into())])?,
    };
    if rustix::process::geteuid().is_root() {
        tracing::warn!(
            "running as root: the API is read-only, but run it as a member of the rukt group"
        );
    }
    // One thread for the network, a few for blocking store reads and log
    // followers: an idle service stays small.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(serve(args.dir, listeners))
}

async fn serve(dir: PathBuf, listeners: Vec<Listener>) -> Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<rukt_proto::v1::public_api_server::PublicApiServer<service::Api>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(rukt_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("reflection")?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(rukt_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("reflection")?;
    let api =
        rukt_proto::v1::public_api_server::PublicApiServer::new(service::Api::new(dir.clone()));
    let router = Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(api);
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let router = router.clone();
        let mut stop = stop_tx.subscribe();
        let shutdown = async move {
            let _ = stop.recv().await;
        };
        match l {
            Listener::Unix(u) => {
                u.set_nonblocking(true)?;
                let where_ = u
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()));
                tracing::info!("listening on unix:{}", where_.unwrap_or_default());
                let s = UnixListenerStream::new(tokio::net::UnixListener::from_std(u)?);
                tasks.spawn(router.serve_with_incoming_shutdown(s, shutdown));
            }
            Listener::Tcp(t) => {
                t.set_nonblocking(true)?;
                tracing::info!("listening on tcp:{}", t.local_addr()?);
                let s = TcpListenerStream::new(tokio::net::TcpListener::from_std(t)?);
                tasks.spawn(router.serve_with_incoming_shutdown(s, shutdown));
            }
        }
    }
    tracing::info!("serving the store {}", dir.display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        Some(r) = tasks.join_next() => {
            r.context("a listener failed")?.context("a listener failed")?;
        }
    }
    let _ = stop_tx.send(());
    // Followers end with the process; a stopped service changes nothing.
    Ok(())
}
