//! `rukt-cri`: the Kubernetes Container Runtime Interface (`runtime.v1`,
//! see docs/cri.md) over rukt's libraries. A sandbox is a mutable rukt pod,
//! a container one of its apps; images live in the same store `rukt fetch`
//! fills. It keeps no state of its own: every answer is read from the pods'
//! directories, where it writes its records (`record.rs`), so a restart or
//! a `kill -9` loses nothing, and the pods' supervisors never depend on it.
//!
//! Exit codes: 0 after SIGTERM/SIGINT, 1 on an error, 2 on a usage error.

mod container;
mod convert;
mod ctx;
mod error;
mod exec_sync;
mod images;
mod listen;
mod pty;
mod record;
mod runtime_info;
mod sandbox;
mod serve;
mod service;
mod signal;
mod stats;
mod streaming;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::ctx::Ctx;

/// rukt's CRI server.
#[derive(Parser, Debug)]
#[command(name = "rukt cri", version)]
struct Args {
    /// Where to listen: `unix:///PATH` (or `unix:/PATH`). The parent
    /// directory is made 0750, the socket 0660.
    #[arg(long, value_name = "ADDR", default_value = "unix:///run/rukt/cri.sock")]
    listen: listen::Addr,
    /// The store: images and pods.
    #[arg(
        long,
        default_value = "/var/lib/rukt",
        env = "RUKT_DIR",
        overrides_with = "dir"
    )]
    dir: PathBuf,
    /// Configuration directory (registries.conf, auth.json, net.d/).
    #[arg(long, default_value = "/etc/rukt", env = "RUKT_CONFIG_DIR")]
    config_dir: PathBuf,
    /// Where CNI plugins are looked up, in order (default /usr/lib/cni:/opt/cni/bin).
    #[arg(
        long,
        value_delimiter = ':',
        env = "RUKT_CNI_PATH",
        value_name = "DIR:..."
    )]
    cni_plugin_path: Vec<PathBuf>,
    /// `http` allows plain-HTTP registries, `image` skips the signature
    /// policy (as `rukt --insecure-options`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "none|http|image",
        value_parser = ["none", "http", "image"]
    )]
    insecure_options: Vec<String>,
    /// Where the engines (`rukt-stage1-<handler>`) are looked up first, as
    /// `rukt run --stage1=` does (`RUKT_STAGE1_DIR`).
    #[arg(long, value_name = "DIR")]
    stage1_dir: Option<PathBuf>,
    /// Where the streaming server (Exec, Attach, PortForward) will listen.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:0")]
    stream_address: std::net::SocketAddr,
    /// Log every call, and pass `--debug` to the engines' entrypoints (not
    /// to a sandbox's detached supervisor).
    #[arg(long)]
    debug: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // --debug is rukt's own debug output, not the HTTP/2 stack's frames.
    let filter = if args.debug {
        "info,rukt_cri=debug,rukt_pods=debug,rukt_images=debug,rukt_net=debug"
    } else {
        "info"
    };
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
                format_args!("rukt cri: {e:#}\n"),
            );
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let insecure = |o: &str| args.insecure_options.iter().any(|x| x == o);
    let (insecure_http, insecure_image) = (insecure("http"), insecure("image"));
    let ctx = Ctx::new(Ctx {
        dir: args.dir,
        config_dir: args.config_dir,
        cni_plugin_path: args.cni_plugin_path,
        insecure_http,
        insecure_image,
        stage1_dir: args.stage1_dir,
        debug: args.debug,
    })?;
    let listener = listen::bind(&args.listen)?;
    // One thread for the network, a pool for the libraries' blocking work.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(serve(ctx, listener, args.stream_address))
}

async fn serve(
    ctx: Ctx,
    listener: std::os::unix::net::UnixListener,
    stream_address: std::net::SocketAddr,
) -> Result<()> {
    let ctx = std::sync::Arc::new(ctx);
    let streams = rukt_streaming::Server::bind(
        stream_address,
        streaming::CriStreams::new(ctx.clone()),
        rukt_streaming::Config::default(),
    )
    .await
    .with_context(|| format!("cannot listen for streaming on {stream_address}"))?;
    tracing::debug!(url = streams.base_url(), "streaming");
    let svc = service::Cri::new(ctx, streams);
    let routes = tonic::service::Routes::new(
        rukt_proto::cri::v1::runtime_service_server::RuntimeServiceServer::new(svc.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
    .add_service(
        rukt_proto::cri::v1::image_service_server::ImageServiceServer::new(svc)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    );
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    serve::serve(routes, listener, shutdown)
        .await
        .context("the server failed")
}

/// Kubelet's own cap on CRI messages (16 MiB), which also bounds ExecSync's
/// output and the lists.
const MAX_MESSAGE: usize = 16 << 20;
