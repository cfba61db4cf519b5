//! A whole configuration list run as libcni does: each plugin gets the
//! list's `name` and `cniVersion`, the previous plugin's result as
//! `prevResult` (not the first on ADD), and `runtimeConfig` holding only
//! the capabilities it declares (here `portMappings`). ADD runs in order
//! and stops at the first error; DEL runs in reverse, with the stored
//! result as `prevResult` where the version allows, and keeps going past
//! errors so that as much as possible is freed.

use serde_json::{Map, Value, json};

use rukt_contract::PortMapping;

use crate::conf::NetConf;
use crate::plugin::{self, Invocation, Op, PluginError};

/// What the runtime passes to plugins that declare a capability.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig<'a> {
    /// `portMappings`.
    pub ports: &'a [PortMapping],
}

/// The configuration plugin `plugin` of `conf` is given.
fn plugin_config(
    conf: &NetConf,
    plugin: &Value,
    prev: Option<&Value>,
    runtime: &RuntimeConfig<'_>,
) -> Value {
    let mut c: Map<String, Value> = plugin.as_object().cloned().unwrap_or_default();
    c.insert("name".into(), Value::String(conf.name().to_string()));
    c.insert(
        "cniVersion".into(),
        Value::String(conf.version().to_string()),
    );
    if let Some(prev) = prev {
        c.insert("prevResult".into(), prev.clone());
    }
    let caps = c.remove("capabilities");
    let declares = |cap: &str| caps.as_ref().and_then(|c| c.get(cap)) == Some(&Value::Bool(true));
    let mut rc = Map::new();
    if declares("portMappings") && !runtime.ports.is_empty() {
        let ports: Vec<Value> = runtime
            .ports
            .iter()
            .map(|p| {
                let mut m = json!({
                    "hostPort": p.host_port,
                    "containerPort": p.pod_port,
                    "protocol": p.protocol.name(),
                });
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = Value::String(ip.to_string());
                }
                m
            })
            .collect();
        rc.insert("portMappings".into(), Value::Array(ports));
    }
    if !rc.is_empty() {
        c.insert("runtimeConfig".into(), Value::Object(rc));
    }
    Value::Object(c)
}

fn kind(plugin: &Value) -> &str {
    plugin
        .get("type")
        .and_then(Value::as_str)
        .expect("checked when parsed")
}

/// ADD: every plugin in order; the last one's result.
pub fn add(
    conf: &NetConf,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig<'_>,
) -> Result<Value, PluginError> {
    let mut prev: Option<Value> = None;
    for p in conf.plugins() {
        let config = plugin_config(conf, p, prev.as_ref(), runtime);
        prev = Some(plugin::run(Op::Add, kind(p), &config, inv)?);
    }
    Ok(prev.expect("a list has at least one plugin"))
}

/// DEL: every plugin in reverse, all of them even after an error; the
/// first error.
pub fn del(
    conf: &NetConf,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig<'_>,
    result: Option<&Value>,
) -> Result<(), PluginError> {
    let prev = result.filter(|_| conf.has_prev_result_on_del());
    let mut first = None;
    for p in conf.plugins().iter().rev() {
        let config = plugin_config(conf, p, prev, runtime);
        if let Err(e) = plugin::run(Op::Del, kind(p), &config, inv) {
            tracing::warn!("{e}");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// CHECK (CNI 0.4.0 and later): every plugin in order, with the stored
/// result.
pub fn check(
    conf: &NetConf,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig<'_>,
    result: &Value,
) -> Result<(), PluginError> {
    for p in conf.plugins() {
        let config = plugin_config(conf, p, Some(result), runtime);
        plugin::run(Op::Check, kind(p), &config, inv)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rukt_contract::Protocol;
    use std::path::Path;

    #[test]
    fn plugins_see_name_version_prev_result_and_only_their_capabilities() {
        let conf = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n","plugins":[
                {"type":"bridge"},
                {"type":"portmap","snat":true,"capabilities":{"portMappings":true,"bandwidth":true}}]}"#,
            Path::new("n"),
        )
        .unwrap();
        let ports = [PortMapping {
            protocol: Protocol::Tcp,
            host_port: 8080,
            pod_port: 80,
            host_ip: Some("127.0.0.1".parse().unwrap()),
        }];
        let rt = RuntimeConfig { ports: &ports };
        let first = plugin_config(&conf, &conf.plugins()[0], None, &rt);
        assert_eq!(
            first,
            json!({"type":"bridge","name":"n","cniVersion":"1.0.0"})
        );
        let prev = json!({"ips":[]});
        let second = plugin_config(&conf, &conf.plugins()[1], Some(&prev), &rt);
        assert_eq!(second["prevResult"], prev);
        assert!(second.get("capabilities").is_none());
        assert_eq!(
            second["runtimeConfig"],
            json!({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]})
        );
        let none = plugin_config(&conf, &conf.plugins()[1], None, &RuntimeConfig::default());
        assert!(none.get("runtimeConfig").is_none());
    }
}
