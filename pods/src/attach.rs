//! `rukt app attach` and `rukt cri`'s Attach: a connection to a running
//! app's attach point (`rukt_contract::attach`), and a relay between it
//! and a caller's stdin, stdout and stderr. An app with a terminal takes
//! its input in frames, window sizes among them.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use rukt_contract::Feature;
use rukt_contract::attach::{STDERR, TtyInput, attach_socket, read_frame};

use crate::app::AppError;
use crate::pod::Pod;
use crate::state::State;

/// A connection to an app's attach point.
#[derive(Debug)]
pub struct Attached {
    /// The socket.
    pub conn: UnixStream,
    /// The app has a terminal: its output is one stream, its input goes
    /// in [`TtyInput`] frames.
    pub tty: bool,
}

/// Connects to `app`'s attach point in the running mutable `pod`.
pub fn connect(pod: &Pod, app: &str) -> Result<Attached, AppError> {
    let manifest = pod.manifest()?;
    let state = pod.state();
    if state != State::Running {
        return Err(AppError::NotRunning {
            uuid: pod.uuid,
            state,
        });
    }
    let Some(tty) = manifest.app(app).map(|a| a.tty) else {
        return Err(AppError::NoApp {
            uuid: pod.uuid,
            app: app.to_string(),
        });
    };
    let stage1 = crate::stage1::Stage1::for_pod(pod, &manifest)?;
    stage1.require([Feature::MutablePods, Feature::Attach])?;
    if tty {
        stage1.require([Feature::AppTty])?;
    }
    let path = pod.path.join(attach_socket(app));
    // Through the directory's descriptor: a store path may be longer than
    // a socket address can be.
    let dir = std::fs::File::open(path.parent().expect("a parent"))
        .map_err(crate::pod::io_err("open", &path))?;
    let short = format!(
        "/proc/self/fd/{}/{app}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    );
    let conn = UnixStream::connect(&short).map_err(crate::pod::io_err("connect to", &path))?;
    Ok(Attached { conn, tty })
}

/// Window sizes (rows, columns) for an app's terminal, as they change.
pub type Sizes = std::sync::mpsc::Receiver<(u16, u16)>;

/// Relays between an attach connection and the caller: `input` (if any)
/// to the app's stdin, its stdout and stderr frames to `out` and `err`;
/// for an app with a terminal, `sizes` to its window size. Returns when
/// the app's output is over (the connection closed).
pub fn relay(
    attached: Attached,
    input: Option<Box<dyn Read + Send>>,
    sizes: Option<Sizes>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let Attached { conn, tty } = attached;
    // One writer for the input's and the sizes' frames, a frame at a time.
    let to_app = Arc::new(Mutex::new(conn.try_clone()?));
    if let (true, Some(sizes)) = (tty, sizes) {
        let to_app = to_app.clone();
        std::thread::spawn(move || {
            for (rows, cols) in sizes {
                let mut frame = Vec::new();
                TtyInput::Resize { rows, cols }.encode(&mut frame);
                if send(&to_app, &frame).is_err() {
                    return;
                }
            }
        });
    }
    if let Some(mut input) = input {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut frame = Vec::new();
                let data = if tty {
                    TtyInput::Stdin(&buf[..n]).encode(&mut frame);
                    &frame
                } else {
                    &buf[..n]
                };
                if send(&to_app, data).is_err() {
                    return;
                }
            }
            // End of input: the app's stdin closes if it is stdin_once.
            if let Ok(conn) = to_app.lock() {
                let _ = conn.shutdown(std::net::Shutdown::Write);
            }
        });
    }
    let mut conn = conn;
    while let Some((stream, data)) = read_frame(&mut conn)? {
        let w: &mut dyn Write = if stream == STDERR { err } else { out };
        w.write_all(&data)?;
        w.flush()?;
    }
    Ok(())
}

/// Writes `data` whole to the app's side.
fn send(to_app: &Mutex<UnixStream>, data: &[u8]) -> std::io::Result<()> {
    let mut conn = to_app
        .lock()
        .map_err(|_| std::io::Error::other("an attach writer panicked"))?;
    conn.write_all(data)
}
