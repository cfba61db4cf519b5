//! `WWW-Authenticate` challenges (RFC 6750 shape): the scheme a registry
//! asks for, where its token endpoint is, and why it refused what it was
//! given (`error="invalid_token"`, `error="insufficient_scope"`).

use std::collections::HashMap;

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...[,error=...]`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The `scope` the registry asked for.
        scope: Option<String>,
        /// Why the registry refused the token it was sent, if it says.
        error: Option<String>,
        /// The registry's words for it.
        description: Option<String>,
    },
}

impl Challenge {
    /// Parses the header value; `None` for schemes rukt does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
                error: params.get("error").cloned(),
                description: params.get("error_description").cloned(),
            }),
            _ => None,
        }
    }

    /// The bearer `error` parameter, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            Challenge::Bearer { error, .. } => error.as_deref(),
            Challenge::Basic => None,
        }
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// The first `message` (and `detail`, when a string) of a distribution
/// error body `{"errors":[{"code":..,"message":..,"detail":..}]}`, or of a
/// token server's `{"details":..}`/`{"error":..}`; empty when there is none.
pub fn body_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let first = &v["errors"][0];
    let message = first["message"]
        .as_str()
        .or_else(|| v["details"].as_str())
        .or_else(|| v["error_description"].as_str())
        .or_else(|| v["error"].as_str())
        .unwrap_or("");
    match first["detail"].as_str() {
        Some(d) if !d.is_empty() && !message.is_empty() => format!("{message}: {d}"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into()),
                error: Some("insufficient_scope".into()),
                description: None,
            }
        );
        assert_eq!(c.error(), Some("insufficient_scope"));
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn reads_error_bodies() {
        assert_eq!(
            body_message(
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#
            ),
            "authentication required"
        );
        assert_eq!(
            body_message(br#"{"details":"wrong password"}"#),
            "wrong password"
        );
        assert_eq!(body_message(b"<html>"), "");
    }
}
