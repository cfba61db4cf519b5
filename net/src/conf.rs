//! One CNI network configuration list (`*.conflist`), parsed strictly
//! enough that a plugin never sees a file rukt would misread: an object
//! with a valid `name`, a `cniVersion` the distribution's plugins speak,
//! and a non-empty `plugins` list whose `type`s are plain file names (a
//! type is the plugin's file name in the plugin path, so `../x` would be a
//! path traversal).

use std::path::Path;

use serde_json::{Map, Value};

/// The CNI versions Debian's plugins (1.1.1) answer to, oldest first.
/// Configuration lists began with 0.3.0; 1.1.0 is refused by the plugins.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// Why a configuration list is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// Not JSON, or not an object.
    #[error("{origin}: not a JSON object: {reason}")]
    Json {
        /// Where it came from.
        origin: String,
        /// The parser's message.
        reason: String,
    },
    /// A field missing or of the wrong kind.
    #[error("{origin}: {reason}")]
    Field {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    name: String,
    version: String,
    raw: Map<String, Value>,
}

/// Whether `s` is a valid CNI network name or container ID:
/// `[A-Za-z0-9][A-Za-z0-9_.-]*`.
pub fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl NetConf {
    /// Parses `data`; `origin` names the file in errors.
    pub fn parse(data: &[u8], origin: &Path) -> Result<NetConf, ConfError> {
        let origin = origin.display().to_string();
        let field = |reason: String| ConfError::Field {
            origin: origin.clone(),
            reason,
        };
        let value: Value = serde_json::from_slice(data).map_err(|e| ConfError::Json {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let Value::Object(mut raw) = value else {
            return Err(ConfError::Json {
                origin: origin.clone(),
                reason: "the top level is not an object".into(),
            });
        };
        let name = match raw.get("name") {
            Some(Value::String(n)) if valid_name(n) => n.clone(),
            Some(Value::String(n)) => {
                return Err(field(format!(
                    "network name {n:?} is not valid (letters, digits, '_', '.', '-')"
                )));
            }
            _ => return Err(field("no \"name\" string".into())),
        };
        let version = pick_version(&raw).map_err(field)?;
        raw.insert("cniVersion".into(), Value::String(version.clone()));
        let Some(Value::Array(plugins)) = raw.get("plugins") else {
            return Err(field(
                "no \"plugins\" list (single-plugin .conf files are not supported)".into(),
            ));
        };
        if plugins.is_empty() {
            return Err(field("the \"plugins\" list is empty".into()));
        }
        for (i, p) in plugins.iter().enumerate() {
            let Some(obj) = p.as_object() else {
                return Err(field(format!("plugin {i} is not an object")));
            };
            check_type(obj.get("type")).map_err(|r| field(format!("plugin {i}: {r}")))?;
            if let Some(ipam) = obj.get("ipam")
                && ipam.as_object().is_some_and(|o| !o.is_empty())
            {
                check_type(ipam.get("type")).map_err(|r| field(format!("plugin {i} ipam: {r}")))?;
            }
        }
        Ok(NetConf { name, version, raw })
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CNI version used with its plugins.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether `version` is at least `0.4.0` (CHECK, and DEL with
    /// `prevResult`).
    pub fn has_prev_result_on_del(&self) -> bool {
        self.version != "0.3.0" && self.version != "0.3.1"
    }

    /// The plugins' configurations, in order.
    pub fn plugins(&self) -> &[Value] {
        self.raw["plugins"].as_array().expect("checked when parsed")
    }

    /// Every executable the list needs: each plugin's `type` and its IPAM's.
    pub fn executables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for p in self.plugins() {
            out.extend(p.get("type").and_then(Value::as_str));
            out.extend(p.pointer("/ipam/type").and_then(Value::as_str));
        }
        out
    }

    /// Whether some plugin declares the runtime capability `cap`
    /// (`portMappings`).
    pub fn has_capability(&self, cap: &str) -> bool {
        self.plugins()
            .iter()
            .any(|p| p.pointer(&format!("/capabilities/{cap}")) == Some(&Value::Bool(true)))
    }

    /// Appends a plugin to the chain (a `portmap` for published ports).
    pub fn push_plugin(&mut self, plugin: Value) {
        if let Some(Value::Array(list)) = self.raw.get_mut("plugins") {
            list.push(plugin);
        }
    }

    /// The list as JSON, as the pod directory keeps it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.raw).expect("a JSON map always serialises")
    }
}

/// The version to use: `cniVersion`, or the highest supported one of
/// `cniVersions` (CNI 1.1).
fn pick_version(raw: &Map<String, Value>) -> Result<String, String> {
    let unsupported = |v: &str| {
        format!(
            "cniVersion {v} is not supported (the plugins speak {})",
            SUPPORTED_VERSIONS.join(", ")
        )
    };
    if let Some(Value::Array(list)) = raw.get("cniVersions") {
        let best = SUPPORTED_VERSIONS
            .iter()
            .rev()
            .find(|s| list.iter().any(|v| v.as_str() == Some(s)));
        return match best {
            Some(v) => Ok(v.to_string()),
            None => Err(unsupported(&Value::Array(list.clone()).to_string())),
        };
    }
    match raw.get("cniVersion") {
        Some(Value::String(v)) if SUPPORTED_VERSIONS.contains(&v.as_str()) => Ok(v.clone()),
        Some(Value::String(v)) => Err(unsupported(v)),
        _ => Err("no \"cniVersion\" string".into()),
    }
}

fn check_type(t: Option<&Value>) -> Result<(), String> {
    match t {
        Some(Value::String(t)) if valid_name(t) && t != "." && t != ".." => Ok(()),
        Some(Value::String(t)) => Err(format!("type {t:?} is not a plugin file name")),
        _ => Err("no \"type\" string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetConf, ConfError> {
        NetConf::parse(s.as_bytes(), Path::new("t.conflist"))
    }

    #[test]
    fn a_good_list() {
        let c = parse(
            r#"{"cniVersion":"1.0.0","name":"mynet","plugins":[
                {"type":"bridge","ipam":{"type":"host-local"}},
                {"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        assert_eq!(c.name(), "mynet");
        assert_eq!(c.executables(), ["bridge", "host-local", "portmap"]);
        assert!(c.has_capability("portMappings"));
        assert!(!c.has_capability("bandwidth"));
        assert!(c.has_prev_result_on_del());
        let again = NetConf::parse(&c.to_json(), Path::new("x")).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn versions() {
        let v = |s: &str| {
            parse(&format!(
                r#"{{{s},"name":"n","plugins":[{{"type":"ptp"}}]}}"#
            ))
        };
        assert_eq!(v(r#""cniVersion":"0.3.1""#).unwrap().version(), "0.3.1");
        assert!(
            !v(r#""cniVersion":"0.3.1""#)
                .unwrap()
                .has_prev_result_on_del()
        );
        let e = v(r#""cniVersion":"1.1.0""#).unwrap_err().to_string();
        assert!(e.contains("cniVersion 1.1.0 is not supported"), "{e}");
        let both = v(r#""cniVersions":["1.1.0","1.0.0"]"#).unwrap();
        assert_eq!(both.version(), "1.0.0");
        assert!(v(r#""cniVersion":1"#).is_err());
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases = [
            ("[]", "not a JSON object"),
            ("{", "not a JSON object"),
            (r#"{"cniVersion":"1.0.0","plugins":[]}"#, "no \"name\""),
            (
                r#"{"cniVersion":"1.0.0","name":"a b","plugins":[]}"#,
                "not valid",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","type":"bridge"}"#,
                "no \"plugins\"",
            ),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "empty"),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"x":1}]}"#,
                "plugin 0: no \"type\"",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]}"#,
                "not a plugin file name",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"/x"}}]}"#,
                "plugin 0 ipam",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with("t.conflist: ") && e.contains(want),
                "{text}: {e}"
            );
        }
    }
}
