//! The streaming server driven by client-go itself (`rukt-streamclient`,
//! tests/streamclient, built by scripts/setup.sh): exec, attach and
//! port-forward over SPDY and WebSocket, against a backend that runs real
//! host processes and dials a real local TCP server.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use rukt_streaming::{Config, Request, Server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

#[path = "../examples/host/mod.rs"]
mod host;
use host::Host;

async fn server() -> Server<Host> {
    Server::bind("127.0.0.1:0".parse().unwrap(), Host, Config::default())
        .await
        .unwrap()
}

fn client() -> String {
    let path = std::env::var("RUKT_STREAMCLIENT")
        .unwrap_or_else(|_| "/opt/rukt-test/bin/rukt-streamclient".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: run scripts/setup.sh"
    );
    path
}

struct Ran {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the client's `verb` on `url` with `flags` and `input` on its stdin.
async fn stream_client(
    verb: &str,
    url: &str,
    transport: &str,
    flags: &[&str],
    input: &[u8],
) -> Ran {
    let mut child = Command::new(client())
        .args([verb, "-url", url, "-transport", transport])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("client timed out")
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn exec(cmd: &str, stdin: bool, stderr: bool) -> Request {
    Request::Exec {
        container_id: "c1".into(),
        cmd: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        tty: false,
        stdin,
        stdout: true,
        stderr,
    }
}

/// A tty exec that prints the first `n` terminal sizes it is sent.
fn resize_exec(n: usize) -> Request {
    Request::Exec {
        container_id: "c1".into(),
        cmd: vec!["@resize".into(), n.to_string()],
        tty: true,
        stdin: false,
        stdout: true,
        stderr: false,
    }
}

/// A tty exec under `protocol` gets the one size it is sent.
async fn one_resize(server: &Server<Host>, transport: &str, protocol: &str) {
    let url = server.register(resize_exec(1)).unwrap();
    let flags = ["-protocols", protocol, "-tty", "-resize", "90x20"];
    let ran = stream_client("exec", &url, transport, &flags, b"").await;
    let got = (ran.code, ran.stdout.as_slice());
    assert_eq!(got, (0, &b"90x20\n"[..]), "{protocol}: {}", ran.stderr);
}

const TRANSPORTS: [&str; 2] = ["spdy", "websocket"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_echoes_stdin_splits_stderr_and_reports_the_exit_code() {
    let server = server().await;
    for transport in TRANSPORTS {
        let url = server
            .register(exec("cat; echo oops >&2; exit 3", true, true))
            .unwrap();
        let ran = stream_client(
            "exec",
            &url,
            transport,
            &["-stdin", "-stderr"],
            b"hello\nworld\n",
        )
        .await;
        assert_eq!(ran.code, 3, "{transport}: {}", ran.stderr);
        assert_eq!(ran.stdout, b"hello\nworld\n", "{transport}");
        assert_eq!(ran.stderr, "oops\n", "{transport}");

        let url = server.register(exec("exit 0", false, false)).unwrap();
        let ran = stream_client("exec", &url, transport, &[], b"").await;
        assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_and_input_arrive_whole() {
    let server = server().await;
    let big: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|i: u32| b'a' + (i % 26) as u8)
        .collect();
    for transport in TRANSPORTS {
        let url = server
            .register(exec("head -c 8388608 /dev/zero | tr '\\0' x", false, false))
            .unwrap();
        let ran = stream_client("exec", &url, transport, &[], b"").await;
        assert_eq!(ran.code, 0, "{transport}: {}", ran.stderr);
        assert_eq!(ran.stdout.len(), 8 << 20, "{transport}");
        assert!(ran.stdout.iter().all(|b| *b == b'x'), "{transport}");

        let url = server.register(exec("cat", true, false)).unwrap();
        let ran = stream_client("exec", &url, transport, &["-stdin"], &big).await;
        assert_eq!(ran.code, 0, "{transport}: {}", ran.stderr);
        assert!(
            ran.stdout == big,
            "{transport}: {} bytes back of {}",
            ran.stdout.len(),
            big.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_sessions_get_their_resizes() {
    let server = server().await;
    for transport in TRANSPORTS {
        let request = resize_exec(2);
        let url = server.register(request).unwrap();
        let ran = stream_client(
            "exec",
            &url,
            transport,
            &["-tty", "-resize", "100x30,120x40"],
            b"",
        )
        .await;
        assert_eq!(ran.code, 0, "{transport}: {}", ran.stderr);
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            "100x30\n120x40\n",
            "{transport}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_streams_and_reports_failure() {
    let server = server().await;
    for transport in TRANSPORTS {
        let attach = |id: &str| Request::Attach {
            container_id: id.into(),
            tty: false,
            stdin: true,
            stdout: true,
            stderr: true,
        };
        let url = server.register(attach("c1")).unwrap();
        let ran = stream_client(
            "attach",
            &url,
            transport,
            &["-stdin", "-stderr"],
            b"attached\n",
        )
        .await;
        assert_eq!(
            (ran.code, ran.stdout.as_slice()),
            (0, &b"attached\n"[..]),
            "{transport}: {}",
            ran.stderr
        );

        let url = server.register(attach("gone")).unwrap();
        let ran = stream_client("attach", &url, transport, &["-stdin", "-stderr"], b"").await;
        assert_eq!(ran.code, 125, "{transport}");
        assert!(
            ran.stderr.contains("container gone is not running"),
            "{transport}: {}",
            ran.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_stay_apart() {
    let server = server().await;
    let mut runs = Vec::new();
    for i in 0..8 {
        let transport = TRANSPORTS[i % 2];
        let url = server
            .register(exec(&format!("cat; exit {i}"), true, false))
            .unwrap();
        runs.push(tokio::spawn(async move {
            let input = format!("session {i}\n").repeat(1000);
            let ran = stream_client("exec", &url, transport, &["-stdin"], input.as_bytes()).await;
            assert_eq!(ran.code, i as i32, "{}", ran.stderr);
            assert_eq!(ran.stdout, input.as_bytes());
        }));
    }
    for r in runs {
        r.await.unwrap();
    }
}

/// A running `rukt-streamclient portforward`, listening on `local`.
struct Forward {
    child: tokio::process::Child,
    local: u16,
}

impl Forward {
    async fn start(url: &str, transport: &str, port: u16) -> Forward {
        let port = port.to_string();
        let mut child = Command::new(client())
            .args([
                "portforward",
                "-url",
                url,
                "-transport",
                transport,
                "-port",
                &port,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let line = line.expect("the client did not listen").unwrap().unwrap();
        let local = line.strip_prefix("listening ").unwrap().parse().unwrap();
        Forward { child, local }
    }

    /// Closes the client's stdin (it stops) and returns its status and stderr.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let status = status.expect("the client did not stop").unwrap();
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        pipe.read_to_string(&mut stderr).await.unwrap();
        (status, stderr)
    }
}

async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_reaches_a_tcp_server() {
    let server = server().await;
    let echo = echo_server().await;
    for transport in TRANSPORTS {
        let url = server
            .register(Request::PortForward {
                sandbox_id: "s1".into(),
                ports: vec![echo],
            })
            .unwrap();
        let forward = Forward::start(&url, transport, echo).await;
        let local = forward.local;
        let mut conns = Vec::new();
        for i in 0..4 {
            conns.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
                let sent = format!("connection {i} ").repeat(50_000).into_bytes();
                let (mut r, mut w) = conn.split();
                let write = async {
                    w.write_all(&sent).await.unwrap();
                    w.shutdown().await.unwrap();
                };
                let mut back = Vec::new();
                let read = r.read_to_end(&mut back);
                let (_, got) = tokio::join!(write, read);
                got.unwrap();
                assert!(back == sent, "{} bytes back of {}", back.len(), sent.len());
            }));
        }
        for c in conns {
            tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("a forwarded connection hung")
                .unwrap();
        }
        let (status, stderr) = forward.stop().await;
        assert!(status.success(), "{transport}: {stderr}");
    }
}

async fn raw(addr: &str, request: &[u8]) -> String {
    let addr: SocketAddr = addr.strip_prefix("http://").unwrap().parse().unwrap();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out))
        .await
        .expect("the server kept the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_single_use_and_unknown_ones_refused() {
    let server = server().await;
    let url = server.register(exec("echo once", false, false)).unwrap();
    let ran = stream_client("exec", &url, "spdy", &[], b"").await;
    assert_eq!(
        (ran.code, ran.stdout.as_slice()),
        (0, &b"once\n"[..]),
        "{}",
        ran.stderr
    );
    let again = stream_client("exec", &url, "spdy", &[], b"").await;
    assert_eq!(again.code, 125, "a used token is refused");
    assert!(
        again
            .stderr
            .contains("the session is unknown, used or expired"),
        "{}",
        again.stderr
    );
    let base = server.base_url().to_string();
    let path = url.strip_prefix(&base).unwrap().to_string();
    let answer = raw(
        &base,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let answer = raw(
        &base,
        b"GET /exec/0123456789abcdef HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // A token of one kind does not open another.
    let url = server.register(exec("true", false, false)).unwrap();
    let token = url.rsplit('/').next().unwrap();
    let answer = raw(
        &base,
        format!("GET /attach/{token} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_without_harm() {
    let server = server().await;
    let base = server.base_url().to_string();
    let huge = format!(
        "GET /exec/x HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(
        raw(&base, huge.as_bytes())
            .await
            .starts_with("HTTP/1.1 400")
    );
    assert!(
        raw(&base, b"NOT HTTP AT ALL\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400")
    );
    let url = server.register(exec("true", false, false)).unwrap();
    let path = url.strip_prefix(&base).unwrap();
    let answer = raw(
        &base,
        format!("POST {path} HTTP/1.1\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "no protocol version offered: {answer}"
    );
    // After the upgrade, garbage ends the connection (a GOAWAY, then close).
    let url = server.register(exec("true", false, false)).unwrap();
    let path = url.strip_prefix(&base).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&[
        0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
    ]);
    let answer = raw(&base, &request).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    // The server still serves real clients afterwards.
    let url = server.register(exec("echo fine", false, false)).unwrap();
    let ran = stream_client("exec", &url, "spdy", &[], b"").await;
    assert_eq!(ran.stdout, b"fine\n", "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_protocol_versions_still_work() {
    let server = server().await;
    let url = server.register(exec("cat; exit 3", true, true)).unwrap();
    let flags = ["-protocols", "v2.channel.k8s.io", "-stdin", "-stderr"];
    let ran = stream_client("exec", &url, "spdy", &flags, b"two\n").await;
    assert_eq!((ran.code, ran.stdout.as_slice()), (125, &b"two\n"[..]));
    assert!(
        ran.stderr
            .contains("command terminated with non-zero exit code: exit status 3"),
        "v2 reports the exit as text: {}",
        ran.stderr
    );
    one_resize(&server, "spdy", "v3.channel.k8s.io").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_exits_early_ends_the_session() {
    let server = server().await;
    let big = vec![b'z'; 6 << 20];
    for transport in TRANSPORTS {
        let url = server.register(exec("head -c 5", true, false)).unwrap();
        let started = std::time::Instant::now();
        let ran = stream_client("exec", &url, transport, &["-stdin"], &big).await;
        assert_eq!(
            (ran.code, ran.stdout.as_slice()),
            (0, &b"zzzzz"[..]),
            "{transport}: {}",
            ran.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{transport}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_failures_reach_the_client() {
    let server = server().await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let echo = echo_server().await;
    for (ports, port, want) in [
        (vec![], closed, "Connection refused"),
        (vec![echo], closed, "is not allowed"),
    ] {
        let url = server
            .register(Request::PortForward {
                sandbox_id: "s1".into(),
                ports,
            })
            .unwrap();
        let forward = Forward::start(&url, "spdy", port).await;
        let local = forward.local;
        let mut conn = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
        let mut back = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut back)).await;
        assert!(read.is_ok(), "the failed connection was closed");
        let (_, stderr) = forward.stop().await;
        assert!(stderr.contains(want), "want {want:?} in: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_v4_still_works() {
    let server = server().await;
    let url = server.register(exec("cat; exit 4", true, false)).unwrap();
    let flags = ["-protocols", "v4.channel.k8s.io", "-stdin"];
    let ran = stream_client("exec", &url, "websocket", &flags, b"four\n").await;
    assert_eq!(
        (ran.code, ran.stdout.as_slice()),
        (4, &b"four\n"[..]),
        "{}",
        ran.stderr
    );
    one_resize(&server, "websocket", "v4.channel.k8s.io").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_connections_are_bounded() {
    let config = Config {
        token_ttl: Duration::from_millis(200),
        max_connections: 1,
        handshake_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), Host, config)
        .await
        .unwrap();
    let base = server.base_url().to_string();
    let url = server.register(exec("true", false, false)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path = url.strip_prefix(&base).unwrap();
    let answer = raw(&base, format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "an expired token: {answer}"
    );
    // A client that never sends its head holds the only slot until the handshake timeout.
    let addr = base.strip_prefix("http://").unwrap().to_string();
    let _idle = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw(&base, b"GET /exec/x HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let answer = raw(&base, b"GET /exec/x HTTP/1.1\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "the slot is free again: {answer}"
    );
}

/// Waits (10 s at most) for `counter` to leave `from`.
async fn until_changed(
    counter: &std::sync::atomic::AtomicUsize,
    from: usize,
    failure: impl Fn() -> String,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counter.load(std::sync::atomic::Ordering::SeqCst) == from {
        assert!(tokio::time::Instant::now() < deadline, "{}", failure());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_ends_its_attach() {
    use std::sync::atomic::Ordering;
    let server = server().await;
    for (round, transport) in TRANSPORTS.iter().enumerate() {
        let request = Request::Attach {
            container_id: "silent".into(),
            tty: false,
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let url = server.register(request).unwrap();
        let mut child = Command::new(client())
            .args(["attach", "-url", &url, "-transport", transport, "-stdin"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        // The client is killed only once its attach reached the backend (a
        // client killed before that leaves nothing to end).
        until_changed(&host::SILENT_ATTACHES_STARTED, round, || {
            format!("{transport}: the attach never reached the backend")
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            host::SILENT_ATTACHES_ENDED.load(Ordering::SeqCst),
            round,
            "{transport}: still attached"
        );
        child.kill().await.unwrap();
        until_changed(&host::SILENT_ATTACHES_ENDED, round, || {
            format!("{transport}: the backend never heard the client leave")
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_dropped_and_busy_ones_kept() {
    let config = Config {
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), Host, config)
        .await
        .unwrap();
    for transport in TRANSPORTS {
        let url = server
            .register(exec("sleep 5; echo late", false, false))
            .unwrap();
        let started = std::time::Instant::now();
        let ran = stream_client("exec", &url, transport, &[], b"").await;
        // What the client makes of it differs (spdystream reads reset streams
        // as ended); the session is gone either way, long before "late".
        assert!(ran.stdout.is_empty(), "{transport}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{transport}: {:?}",
            started.elapsed()
        );

        let busy = "for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.3; done";
        let url = server.register(exec(busy, false, false)).unwrap();
        let ran = stream_client("exec", &url, transport, &[], b"").await;
        assert_eq!(
            (ran.code, ran.stdout.as_slice()),
            (0, &b"1\n2\n3\n4\n5\n6\n7\n8\n"[..]),
            "{transport}: {}",
            ran.stderr
        );
    }
}
