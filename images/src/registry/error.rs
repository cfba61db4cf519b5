//! What can go wrong talking to a registry, each auth failure said as what
//! it is: no credentials, credentials refused, a token refused as invalid
//! or expired, a token without the needed scope, an unsafe token realm.

use std::time::Duration;

use super::auth::CredentialError;
use super::tls::CertsError;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Connecting or reading failed.
    #[error("cannot reach {url}")]
    Transport {
        /// The request.
        url: String,
        /// The cause.
        #[source]
        source: ureq::Error,
    },
    /// The TLS handshake failed, for a reason the hint names.
    #[error("cannot reach {url} ({hint})")]
    Tls {
        /// The request.
        url: String,
        /// What to do about it.
        hint: &'static str,
        /// The cause.
        #[source]
        source: ureq::Error,
    },
    /// The registry does not have it.
    #[error("{url}: not found")]
    NotFound {
        /// The request.
        url: String,
    },
    /// The registry (or its token server) wants credentials and no source
    /// has any for the host.
    #[error(
        "{url}: {host} requires authentication and no credentials for it were found (looked in {searched}); run `rukt login {host}`"
    )]
    NoCredentials {
        /// The request.
        url: String,
        /// The registry host.
        host: String,
        /// The auth files looked in.
        searched: String,
    },
    /// The credentials were refused (wrong user name or password, or a
    /// revoked token).
    #[error(
        "{url}: the credentials for {host} from {from} were refused (status {status}{}); check the user name and password, or run `rukt login {host}`",
        said(registry_says)
    )]
    Refused {
        /// The request (the registry's, or its token server's).
        url: String,
        /// The registry host.
        host: String,
        /// Where the credentials came from.
        from: String,
        /// 401 or 403.
        status: u16,
        /// What the server said.
        registry_says: String,
    },
    /// The registry refused the token it was given (`invalid_token`:
    /// expired, or not signed by an issuer it trusts).
    #[error(
        "{url}: the registry refused the token from {realm} as invalid or expired (error=\"invalid_token\"{}); the token server's clock or keys may be wrong",
        said(registry_says)
    )]
    InvalidToken {
        /// The request.
        url: String,
        /// The token endpoint.
        realm: String,
        /// What the registry said.
        registry_says: String,
    },
    /// The token does not grant what the request needs
    /// (`insufficient_scope`).
    #[error(
        "{url}: the token from {realm} does not grant {scope} (error=\"insufficient_scope\"{}); {who} may not pull this repository",
        said(registry_says)
    )]
    InsufficientScope {
        /// The request.
        url: String,
        /// The token endpoint.
        realm: String,
        /// The scope asked for.
        scope: String,
        /// Whose token it is, for the message.
        who: String,
        /// What the registry said.
        registry_says: String,
    },
    /// Refused for another reason (401 after a second attempt, 403).
    #[error("{url}: access denied (status {status}{})", said(registry_says))]
    Denied {
        /// The request.
        url: String,
        /// The status.
        status: u16,
        /// What the registry said.
        registry_says: String,
    },
    /// An HTTPS registry named a plain-HTTP token endpoint.
    #[error(
        "{host} is reached over HTTPS but names the plain-HTTP token endpoint {realm}; refusing to send credentials there (allow plain HTTP for {host} with insecure = true in registries.conf or --insecure-options=http)"
    )]
    InsecureRealm {
        /// The registry host.
        host: String,
        /// The token endpoint.
        realm: String,
    },
    /// A registry asked for basic auth, and the credential is an identity
    /// token.
    #[error(
        "{host} asks for basic authentication but the credential from {from} is an identity token, which only a token server takes"
    )]
    IdentityTokenForBasic {
        /// The registry host.
        host: String,
        /// Where it came from.
        from: String,
    },
    /// The credential sources failed.
    #[error("cannot look up credentials for {host}")]
    Credentials {
        /// The registry host.
        host: String,
        /// The cause.
        #[source]
        source: CredentialError,
    },
    /// `certs.d` for the host is unusable.
    #[error("cannot use the TLS certificates for {host}")]
    Certs {
        /// The registry host.
        host: String,
        /// The cause.
        #[source]
        source: CertsError,
    },
    /// Any other unexpected status.
    #[error("{url}: unexpected status {status}{}", said(registry_says))]
    Status {
        /// The request.
        url: String,
        /// The status.
        status: u16,
        /// What the server said.
        registry_says: String,
    },
    /// The registry is overloaded (429, 502, 503, 504).
    #[error("{url}: the registry is busy (status {status})")]
    Busy {
        /// The request.
        url: String,
        /// The status.
        status: u16,
        /// What `Retry-After` asked for.
        retry_after: Option<Duration>,
    },
    /// No byte arrived for the stall timeout.
    #[error("{url}: no data received for {}s (--stall-timeout)", after.as_secs_f64())]
    Stalled {
        /// The request.
        url: String,
        /// The stall timeout.
        after: Duration,
    },
    /// The whole operation's deadline passed.
    #[error("{url}: the deadline passed (--timeout)")]
    Deadline {
        /// The request under way.
        url: String,
    },
    /// Every retry failed; the last failure (naming the request) is the
    /// source.
    #[error("gave up after {attempts} attempts")]
    GaveUp {
        /// How many were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<RegistryError>,
    },
    /// The token endpoint answered nonsense.
    #[error("{url}: invalid token response")]
    Token {
        /// The token endpoint.
        url: String,
    },
}

/// `; the registry says: "..."`, or nothing.
fn said(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!("; the server says {message:?}")
    }
}

impl RegistryError {
    /// A transport failure, as [`RegistryError::Tls`] when it is a TLS one.
    pub(crate) fn transport(url: &str, source: ureq::Error) -> RegistryError {
        let chain = error_chain(&source);
        let url = url.to_string();
        match super::tls::hint(&chain) {
            Some(hint) if is_tls(&source, &chain) => RegistryError::Tls { url, hint, source },
            _ => RegistryError::Transport { url, source },
        }
    }

    /// Whether this is a TLS failure (for the insecure fallback).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, RegistryError::Tls { .. })
    }
}

fn is_tls(e: &ureq::Error, chain: &str) -> bool {
    matches!(e, ureq::Error::Rustls(_) | ureq::Error::Tls(_))
        || chain.contains("alert")
        || chain.contains("certificate")
}

/// An error and its causes on one line.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}
