//! Loopback TCP: `listen` serves a few connections, `connect` talks to a server.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::sys;

/// Listens on `127.0.0.1:port`, prints `listening PORT`, then answers `count` connections:
/// reads a line and replies `pong LINE`, printing `served LINE`.
pub fn listen(port: u16, count: usize, out: &mut impl Write) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    writeln!(out, "listening {port}")?;
    out.flush()?;
    for _ in 0..count {
        let (stream, _) = listener.accept()?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        let line = line.trim();
        writeln!(&stream, "pong {line}")?;
        writeln!(out, "served {line}")?;
        out.flush()?;
    }
    Ok(())
}

/// Connects to `127.0.0.1:port`, retrying refused connections for `wait`; sends `message`
/// and prints `reply LINE`. A failure prints `error ERRNO` and returns false.
pub fn connect(port: u16, wait: Duration, message: &str, out: &mut impl Write) -> io::Result<bool> {
    let deadline = Instant::now() + wait;
    let stream = loop {
        match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            Ok(s) => break s,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                writeln!(out, "error {}", sys::error_name(&e))?;
                return Ok(false);
            }
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(&stream, "{message}")?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    writeln!(out, "reply {}", line.trim())?;
    Ok(true)
}
