//! Version, Status, RuntimeConfig and UpdateRuntimeConfig: who rukt is,
//! whether it and the network are ready, its runtime handlers (one per
//! engine) and its cgroup driver.

use std::collections::HashMap;

use rukt_proto::cri::v1 as cri;

use crate::ctx::Ctx;

/// The CRI version kubelet asks about and rukt speaks.
pub const API_VERSION: &str = "v1";

/// The runtime handlers: the engines, `nspawn` the default (also listed
/// under the empty name, which the CRI reserves for the default).
pub const HANDLERS: [&str; 3] = ["nspawn", "kvm", "fly"];

/// The handler a sandbox asked for; empty is the default.
pub fn handler_or_default(h: &str) -> &str {
    if h.is_empty() { HANDLERS[0] } else { h }
}

/// `Version`.
pub fn version() -> cri::VersionResponse {
    cri::VersionResponse {
        // The version of the kubelet runtime API (always "0.1.0" upstream).
        version: "0.1.0".into(),
        runtime_name: "rukt".into(),
        runtime_version: env!("CARGO_PKG_VERSION").into(),
        runtime_api_version: API_VERSION.into(),
    }
}

fn condition(kind: &str, ready: bool, reason: &str, message: String) -> cri::RuntimeCondition {
    cri::RuntimeCondition {
        r#type: kind.into(),
        status: ready,
        reason: if ready { String::new() } else { reason.into() },
        message: if ready { String::new() } else { message },
    }
}

/// `Status`: the runtime is ready when the store is usable and the
/// default engine is found; the network when the CNI `loopback` plugin
/// (every pod network needs it) is on the plugin path.
pub fn status(ctx: &Ctx, verbose: bool) -> cri::StatusResponse {
    let store_ok = ctx.dir.join("pods").is_dir();
    let engine = rukt_pods::stage1::locate(&ctx.stage1_for(HANDLERS[0]));
    let runtime_ready = store_ok && engine.is_ok();
    let runtime_msg = match (&engine, store_ok) {
        (Err(e), _) => crate::error::chain(e),
        (Ok(_), false) => format!("the store {} has no pods directory", ctx.dir.display()),
        _ => String::new(),
    };
    let catalog = ctx.net_catalog();
    let cni = catalog
        .plugin_dirs
        .iter()
        .any(|d| d.join("loopback").is_file());
    let net_msg = format!(
        "no CNI loopback plugin in {}",
        catalog
            .plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    );
    let features = |name: &str| cri::RuntimeHandler {
        name: name.into(),
        features: Some(cri::RuntimeHandlerFeatures {
            recursive_read_only_mounts: false,
            user_namespaces: false,
        }),
    };
    let mut info = HashMap::new();
    if verbose {
        info.insert(
            "config".into(),
            serde_json::json!({
                "dir": ctx.dir,
                "configDir": ctx.config_dir,
                "cniPluginPath": catalog.plugin_dirs,
                "defaultHandler": HANDLERS[0],
            })
            .to_string(),
        );
    }
    cri::StatusResponse {
        status: Some(cri::RuntimeStatus {
            conditions: vec![
                condition(
                    "RuntimeReady",
                    runtime_ready,
                    "RuntimeNotReady",
                    runtime_msg,
                ),
                condition("NetworkReady", cni, "NetworkPluginNotReady", net_msg),
            ],
        }),
        info,
        runtime_handlers: std::iter::once("").chain(HANDLERS).map(features).collect(),
        features: Some(cri::RuntimeFeatures {
            supplemental_groups_policy: false,
            user_namespaces_host_network: false,
        }),
    }
}

/// `RuntimeConfig`: rukt makes its cgroups itself (cgroupfs), never
/// through systemd.
pub fn runtime_config() -> cri::RuntimeConfigResponse {
    cri::RuntimeConfigResponse {
        linux: Some(cri::LinuxRuntimeConfiguration {
            cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_fields_are_all_set() {
        let v = version();
        for f in [
            &v.version,
            &v.runtime_name,
            &v.runtime_version,
            &v.runtime_api_version,
        ] {
            assert!(!f.is_empty());
        }
        assert_eq!(v.runtime_api_version, "v1");
        assert_eq!(handler_or_default(""), "nspawn");
        assert_eq!(handler_or_default("kvm"), "kvm");
    }

    #[test]
    fn status_has_both_conditions_and_every_handler() {
        let d = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            dir: d.path().into(),
            config_dir: d.path().into(),
            cni_plugin_path: vec![d.path().join("cni")],
            insecure_http: false,
            insecure_image: false,
            stage1_dir: None,
            debug: false,
        };
        let s = status(&ctx, false);
        let c = s.status.unwrap().conditions;
        assert_eq!(c[0].r#type, "RuntimeReady");
        assert!(!c[0].status, "no pods directory");
        assert_eq!(c[1].r#type, "NetworkReady");
        assert!(!c[1].status && c[1].message.contains("loopback"));
        let names: Vec<_> = s.runtime_handlers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["", "nspawn", "kvm", "fly"]);
        assert_eq!(
            runtime_config().linux.unwrap().cgroup_driver,
            cri::CgroupDriver::Cgroupfs as i32
        );
    }
}
