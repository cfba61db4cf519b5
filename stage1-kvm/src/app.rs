//! The `app-add|start|stop|rm|update` entrypoints of a mutable kvm pod:
//! each is one request (a frame of kind `AppAdd`..`AppUpdate` carrying an
//! `AppRequest`) to the pod's supervisor over its control socket
//! (`stage1/control.sock`, where `enter` and `stop` connect too), answered
//! with one `Reply` frame when the guest has done it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::{AppArgs, AppStopArgs};
use rukt_kvm_init::proto::{AppRequest, Decoder, Frame, Kind, parse_reply};

use crate::pod;

/// How long add, start, rm and update may take (an add prepares mounts
/// in the guest, under TCG).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);
/// What a stop may take beyond its own timeout: the reaping and recording.
const STOP_SLACK: Duration = Duration::from_secs(10);

fn check(uuid: &str) -> anyhow::Result<()> {
    let manifest = pod::load(uuid)?;
    if !manifest.mutable {
        bail!("pod {uuid} is not a mutable pod (start one with `rukt app sandbox`)");
    }
    if !pod::is_running()? {
        bail!("pod {uuid} is not running");
    }
    Ok(())
}

/// `app-add`, `app-start`, `app-rm` or `app-update`, as `kind` says.
pub fn change(args: &AppArgs, kind: Kind) -> anyhow::Result<()> {
    check(&args.uuid)?;
    let req = AppRequest {
        app: args.app.clone(),
        ..AppRequest::default()
    };
    call(kind, &req, CHANGE_TIMEOUT)
}

/// `app-stop`.
pub fn stop(args: &AppStopArgs) -> anyhow::Result<()> {
    check(&args.uuid)?;
    let req = AppRequest {
        app: args.app.clone(),
        force: args.force,
        timeout_secs: u32::try_from(args.timeout_secs).unwrap_or(u32::MAX),
    };
    call(
        Kind::AppStop,
        &req,
        Duration::from_secs(args.timeout_secs) + STOP_SLACK,
    )
}

/// Sends `req` to the supervisor and waits up to `timeout` for its reply.
fn call(kind: Kind, req: &AppRequest, timeout: Duration) -> anyhow::Result<()> {
    let stage1 = pod::dir()?.join(rukt_contract::STAGE1_DIR);
    let mut stream = UnixStream::connect(pod::control_socket(&stage1))
        .context("cannot reach the pod's supervisor")?;
    let frame = Frame::new(kind, 0, serde_json::to_vec(req)?);
    stream
        .write_all(&frame.encode())
        .context("cannot send to the pod's supervisor")?;
    stream.set_read_timeout(Some(timeout))?;
    let mut decoder = Decoder::default();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(f) = decoder.next_frame()? {
            if f.kind == Kind::Reply {
                return parse_reply(&f.payload).map_err(|e| anyhow::anyhow!("{e}"));
            }
        }
        let n = stream
            .read(&mut buf)
            .context("no answer from the pod's supervisor")?;
        if n == 0 {
            bail!("the pod's supervisor hung up without an answer");
        }
        decoder.push(&buf[..n]);
    }
}
