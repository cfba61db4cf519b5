//! `rukt cri`: a thin front-end that execs the CRI server (`rukt-cri`,
//! next to `rukt` or in `/usr/lib/rukt`, docs/cri.md) with the store,
//! configuration directory, CNI plugin path and insecure options `rukt`
//! was given, then the caller's arguments.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;

use super::Globals;

pub fn run(g: &Globals, args: &[OsString]) -> Result<ExitCode> {
    let mut flags = vec![
        OsString::from("--dir"),
        g.dir.clone().into_os_string(),
        OsString::from("--config-dir"),
        g.config_dir.clone().into_os_string(),
    ];
    if !g.cni_plugin_path.is_empty() {
        flags.push("--cni-plugin-path".into());
        flags.push(std::env::join_paths(&g.cni_plugin_path).unwrap_or_default());
    }
    let mut insecure = Vec::new();
    if g.insecure_http {
        insecure.push("http");
    }
    if g.trust.insecure {
        insecure.push("image");
    }
    if !insecure.is_empty() {
        flags.push(format!("--insecure-options={}", insecure.join(",")).into());
    }
    Err(super::service_bin::exec("rukt-cri", &flags, g.debug, args))
}
