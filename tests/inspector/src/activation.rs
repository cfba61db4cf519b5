//! systemd's protocols seen from an app: `notify MSG` sends one datagram to `NOTIFY_SOCKET`
//! (sd_notify(3)); `serve-fd3` accepts one connection on the socket-activated listener at fd 3
//! and tells the client what the app was given (its PID, `LISTEN_*`).

use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixDatagram;

/// Sends `message` to `NOTIFY_SOCKET` (a path); false when there is none.
pub fn notify(message: &str, out: &mut impl Write) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        writeln!(out, "no NOTIFY_SOCKET")?;
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to(message.replace("\\n", "\n").as_bytes(), path)?;
    Ok(true)
}

/// Serves one connection on fd 3: writes `pid=P LISTEN_PID=.. LISTEN_FDS=.. LISTEN_FDNAMES=..`,
/// then `mib` MiB of zeros (a throughput probe).
pub fn serve_fd3(mib: u64, out: &mut impl Write) -> std::io::Result<bool> {
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| "-".to_owned());
    let line = format!(
        "pid={} LISTEN_PID={} LISTEN_FDS={} LISTEN_FDNAMES={}",
        std::process::id(),
        var("LISTEN_PID"),
        var("LISTEN_FDS"),
        var("LISTEN_FDNAMES")
    );
    writeln!(out, "{line}")?;
    out.flush()?;
    // SAFETY: socket activation passed a listening socket at fd 3; this process owns it now.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(3) };
    let (mut conn, _) = listener.accept()?;
    writeln!(conn, "{line}")?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..mib {
        conn.write_all(&chunk)?;
    }
    Ok(true)
}
