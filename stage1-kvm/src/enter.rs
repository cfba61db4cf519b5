//! `enter [--debug] --pid=PID --app=NAME UUID -- [CMD ARGS...]`: runs a
//! command inside a running app of the pod's VM, through the supervisor's
//! control socket: the guest starts it in the app's root as the app's user
//! with the app's environment; its stdout and stderr come back here, our
//! stdin goes there, and we exit with its exit code.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use anyhow::{Context, bail};
use rukt_contract::{EnterArgs, PID_FILE};
use rukt_kvm_init::proto::{Decoder, ExecRequest, Frame, Kind, parse_exit};
use rustix::event::{PollFd, PollFlags};

use crate::pod;

/// Runs the command; its exit code.
pub fn enter(args: &EnterArgs) -> anyhow::Result<u8> {
    let manifest = pod::load(&args.uuid)?;
    if manifest.app(&args.app).is_none() {
        bail!("the pod has no app {:?}", args.app);
    }
    if !pod::is_running()? {
        bail!("the pod is not running");
    }
    let pid = std::fs::read_to_string(PID_FILE).unwrap_or_default();
    if pid.trim() != args.pid.to_string() {
        bail!("process {} is not this pod's supervisor", args.pid);
    }
    let stage1 = pod::dir()?.join(rukt_contract::STAGE1_DIR);
    let mut stream = UnixStream::connect(pod::control_socket(&stage1))
        .context("cannot reach the pod's supervisor")?;
    let mut env = Vec::new();
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    let req = ExecRequest {
        app: args.app.clone(),
        argv: args.command.clone(),
        env,
    };
    stream.write_all(&Frame::new(Kind::Exec, 0, serde_json::to_vec(&req)?).encode())?;
    pump(stream)
}

/// Relays stdin out and output in until the command's exit frame.
fn pump(mut stream: UnixStream) -> anyhow::Result<u8> {
    let mut stdin = Some(io::stdin());
    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds = vec![PollFd::new(&stream, PollFlags::IN)];
        if let Some(s) = &stdin {
            fds.push(PollFd::new(s, PollFlags::IN));
        }
        rustix::event::poll(&mut fds, None).or_else(|e| {
            if e == rustix::io::Errno::INTR {
                Ok(0)
            } else {
                Err(e)
            }
        })?;
        let (from_pod, from_stdin) = (
            !fds[0].revents().is_empty(),
            fds.get(1).is_some_and(|f| !f.revents().is_empty()),
        );
        if from_stdin && let Some(s) = stdin.as_mut() {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                stdin = None;
            }
            stream.write_all(&Frame::new(Kind::Stdin, 0, buf[..n].to_vec()).encode())?;
        }
        if !from_pod {
            continue;
        }
        let n = stream
            .read(&mut buf)
            .context("cannot read from the supervisor")?;
        if n == 0 {
            bail!("the pod ended before the command did");
        }
        decoder.push(&buf[..n]);
        while let Some(f) = decoder.next_frame()? {
            match f.kind {
                Kind::Stdout => {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(&f.payload).and_then(|()| out.flush());
                }
                Kind::Stderr => {
                    let mut err = io::stderr().lock();
                    let _ = err.write_all(&f.payload).and_then(|()| err.flush());
                }
                Kind::Exit => return Ok(parse_exit(&f.payload).map_or(254, |(code, _)| code)),
                Kind::Error => bail!("{}", String::from_utf8_lossy(&f.payload)),
                _ => {}
            }
        }
    }
}
