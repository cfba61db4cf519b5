//! `--sd-notify=app`: the app is the unit's main process (stage0 → stage1
//! → app are all execs), so it notifies the service manager itself and no
//! relay stands between them: the engine sends no `READY=1` and the app's
//! environment keeps `NOTIFY_SOCKET`. An abstract socket (`@name`) is
//! reachable as is (fly shares the host's network namespace); a socket
//! path outside the chroot is bind-mounted at `/run/notify/notify.sock`
//! (as nspawn's relay socket is), which `NOTIFY_SOCKET` then names. What
//! the service manager accepts from it is its own rule (`NotifyAccess=`):
//! the same as for the app run without a container.

use std::os::fd::BorrowedFd;

use anyhow::Context;
use rukt_contract::sdnotify::{APP_SOCKET, SdNotify};
use rukt_contract::{ENV_NOTIFY_SOCKET, PodManifest};

use crate::exec::set_var;

/// Whether the engine announces readiness itself (every mode but `app`).
pub fn engine_ready(pod: &PodManifest) -> bool {
    !matches!(pod.sd_notify, SdNotify::App(_))
}

/// In `app` mode, gives the app the service manager's socket; does nothing
/// otherwise or when no `NOTIFY_SOCKET` was given.
pub fn give_app(
    pod: &PodManifest,
    root: BorrowedFd<'_>,
    env: &mut Vec<String>,
) -> anyhow::Result<()> {
    if engine_ready(pod) {
        return Ok(());
    }
    let Some(socket) = std::env::var(ENV_NOTIFY_SOCKET)
        .ok()
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    if socket.starts_with('@') {
        set_var(env, ENV_NOTIFY_SOCKET, &socket);
        return Ok(());
    }
    crate::mounts::bind_file(root, &socket, APP_SOCKET)
        .with_context(|| format!("cannot give the app the notification socket {socket}"))?;
    set_var(env, ENV_NOTIFY_SOCKET, APP_SOCKET);
    Ok(())
}
