//! `rukt api-service`: a thin front-end that execs the API service binary
//! (`rukt-api-service`, next to `rukt` or in `/usr/lib/rukt`) with the
//! store and the caller's arguments. Socket-activated descriptors and
//! `LISTEN_PID` survive the exec (same process, descriptors inherited).

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;

use super::Globals;

pub fn run(g: &Globals, args: &[OsString]) -> Result<ExitCode> {
    let flags = [OsString::from("--dir"), g.dir.clone().into_os_string()];
    Err(super::service_bin::exec(
        "rukt-api-service",
        &flags,
        g.debug,
        args,
    ))
}
