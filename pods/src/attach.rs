//! `rukt app attach` and `rukt cri`'s Attach: a connection to a running
//! app's attach point (`rukt_contract::attach`), and a relay between it
//! and a caller's stdin, stdout and stderr.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use rukt_contract::Feature;
use rukt_contract::attach::{STDERR, attach_socket, read_frame};

use crate::app::AppError;
use crate::pod::Pod;
use crate::state::State;

/// Connects to `app`'s attach point in the running mutable `pod`.
pub fn connect(pod: &Pod, app: &str) -> Result<UnixStream, AppError> {
    let manifest = pod.manifest()?;
    let state = pod.state();
    if state != State::Running {
        return Err(AppError::NotRunning {
            uuid: pod.uuid,
            state,
        });
    }
    if manifest.app(app).is_none() {
        return Err(AppError::NoApp {
            uuid: pod.uuid,
            app: app.to_string(),
        });
    }
    let stage1 = crate::stage1::Stage1::for_pod(pod, &manifest)?;
    stage1.require([Feature::MutablePods, Feature::Attach])?;
    let path = pod.path.join(attach_socket(app));
    // Through the directory's descriptor: a store path may be longer than
    // a socket address can be.
    let dir = std::fs::File::open(path.parent().expect("a parent"))
        .map_err(crate::pod::io_err("open", &path))?;
    let short = format!(
        "/proc/self/fd/{}/{app}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    );
    UnixStream::connect(&short).map_err(|e| crate::pod::io_err("connect to", &path)(e).into())
}

/// Relays between an attach connection and the caller: `input` (if any)
/// to the app's stdin, its stdout and stderr frames to `out` and `err`.
/// Returns when the app's output is over (the connection closed).
pub fn relay(
    conn: UnixStream,
    input: Option<Box<dyn Read + Send>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    if let Some(mut input) = input {
        let mut to_app = conn.try_clone()?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut input, &mut to_app);
            // End of input: the app's stdin closes if it is stdin_once.
            let _ = to_app.shutdown(std::net::Shutdown::Write);
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
