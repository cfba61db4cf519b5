//! Socket activation for the one app: this process has the PID of `rukt
//! run` and becomes the app by exec, so the descriptors systemd passed (fd
//! 3 onwards, kept by stage0) and `LISTEN_PID` stay true as they are; the
//! app's environment gets the three variables and the exec keeps the
//! descriptors open.

use std::os::fd::RawFd;

use rukt_contract::{ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID, ListenFds};

use crate::exec::set_var;

/// Adds the variables to `env`; returns the descriptors to keep (none
/// without socket activation).
pub fn hand_on(env: &mut Vec<String>) -> Vec<RawFd> {
    let Some(fds) = ListenFds::from_env() else {
        return Vec::new();
    };
    set_var(env, ENV_LISTEN_FDS, &fds.count.to_string());
    set_var(env, ENV_LISTEN_FDNAMES, &fds.names_value());
    set_var(env, ENV_LISTEN_PID, &std::process::id().to_string());
    fds.fds().collect()
}
