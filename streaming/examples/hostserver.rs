//! A streaming server over the host (bench/streaming.sh's rukt side): each
//! line on stdin is a shell command; the answer on stdout is a one-time exec
//! URL (stdout only) for `/bin/sh -c LINE`. Ends at EOF.

#[path = "host/mod.rs"]
mod host;

use rukt_streaming::{Config, Request, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        host::Host,
        Config::default(),
    )
    .await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let request = Request::Exec {
            container_id: "bench".into(),
            cmd: vec!["/bin/sh".into(), "-c".into(), line],
            tty: false,
            stdin: false,
            stdout: true,
            stderr: false,
        };
        let url = server.register(request).map_err(std::io::Error::other)?;
        out.write_all(format!("{url}\n").as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}
