//! `rukt app attach`: the caller's stdin, stdout and stderr relayed to a
//! running app's attach point. To an app with a terminal, the caller's
//! terminal (when stdin is one) goes raw for the session and its window
//! size is sent at the start and at each SIGWINCH.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use rukt_pods::attach::Sizes;

/// Attaches to `app` of `pod` until the app's output is over.
pub fn attach(pod: &rukt_pods::Pod, app: &str, no_stdin: bool) -> Result<()> {
    let attached = rukt_pods::attach::connect(pod, app)
        .with_context(|| format!("cannot attach to app {app}"))?;
    let terminal = attached.tty && !no_stdin && std::io::stdin().is_terminal();
    let _raw = terminal.then(rukt_sys::pty::RawMode::stdin);
    let sizes = if terminal {
        Some(window_sizes().context("cannot watch the terminal's size")?)
    } else {
        None
    };
    let input: Option<Box<dyn std::io::Read + Send>> =
        (!no_stdin).then(|| Box::new(std::io::stdin()) as Box<dyn std::io::Read + Send>);
    rukt_pods::attach::relay(
        attached,
        input,
        sizes,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .with_context(|| format!("attach to app {app}"))
}

/// The caller's window size now and after each SIGWINCH (blocked here,
/// before the relay starts its threads).
fn window_sizes() -> std::io::Result<Sizes> {
    let winch = rukt_sys::pty::Winch::block()?;
    let size = || {
        rustix::termios::tcgetwinsize(std::io::stdin())
            .ok()
            .map(|w| (w.ws_row, w.ws_col))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(s) = size() {
        let _ = tx.send(s);
    }
    std::thread::spawn(move || {
        while winch.wait().is_ok() {
            if let Some(s) = size()
                && tx.send(s).is_err()
            {
                return;
            }
        }
    });
    Ok(rx)
}
