//! Docker credential helpers (`docker-credential-NAME` on `PATH`), named by
//! an auth file's `credHelpers` or `credsStore`: `get` with the server URL
//! on stdin answers `{"ServerURL":..,"Username":..,"Secret":..}` on stdout;
//! a `Username` of `<token>` makes the secret an identity token.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;

/// A credential helper that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The program is not on `PATH` (or cannot be run).
    #[error("credential helper docker-credential-{name} (named in {file}) cannot be run")]
    Missing {
        /// The helper's NAME.
        name: String,
        /// The auth file naming it.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It failed for a reason other than not knowing the server.
    #[error("credential helper docker-credential-{name} failed for {server}: {message}")]
    Failed {
        /// The helper's NAME.
        name: String,
        /// The server URL asked for.
        server: String,
        /// What it said.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// What a helper knows about a server.
#[derive(Clone, PartialEq, Eq)]
pub enum HelperAnswer {
    /// A user name and password.
    Password(String, String),
    /// An identity token.
    IdentityToken(String),
}

impl std::fmt::Debug for HelperAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        match self {
            HelperAnswer::Password(u, _) => write!(f, "Password({u}, <redacted>)"),
            HelperAnswer::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

/// The server URL helpers are asked about: docker's name for Docker Hub,
/// `host[:port]` for the rest.
pub fn server_url(host: &str) -> String {
    match host {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        h => h.to_string(),
    }
}

/// Runs `docker-credential-NAME get` for `host`: `Ok(None)` when the helper
/// has no credentials for it.
pub fn get(name: &str, file: &str, host: &str) -> Result<Option<HelperAnswer>, HelperError> {
    let program = format!("docker-credential-{name}");
    let server = server_url(host);
    let missing = |source| HelperError::Missing {
        name: name.to_string(),
        file: file.to_string(),
        source,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(missing)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its output.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(missing)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed = |message: String| HelperError::Failed {
        name: name.to_string(),
        server: server.clone(),
        message,
    };
    if !out.status.success() {
        let said = [stdout.trim(), String::from_utf8_lossy(&out.stderr).trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("; ");
        // docker-credential-helpers' ErrCredentialsNotFound.
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(if said.is_empty() {
            format!("exited with {}", out.status)
        } else {
            said
        }));
    }
    let answer: Answer = serde_json::from_str(stdout.trim())
        .map_err(|e| failed(format!("its answer is not the helper protocol's JSON: {e}")))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == "<token>" {
        HelperAnswer::IdentityToken(answer.secret)
    } else {
        HelperAnswer::Password(answer.username, answer.secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_asked_by_its_docker_name() {
        assert_eq!(server_url("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_url("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn a_missing_helper_is_named() {
        let e = get("rukt-surely-missing", "/x/auth.json", "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential helper docker-credential-rukt-surely-missing (named in /x/auth.json) cannot be run"
        );
    }
}
