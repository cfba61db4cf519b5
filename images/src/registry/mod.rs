//! A client for the OCI distribution (registry v2) protocol: manifests and
//! blobs by digest, anonymous, basic and bearer-token auth, TLS with the
//! system's roots, plain HTTP only for endpoints the user allowed.

pub mod auth;
pub mod config;
pub mod retry;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::debug;
use ureq::tls::{RootCerts, TlsConfig};

pub use auth::{Challenge, Credential, Credentials};
pub use config::{Endpoint, RegistriesConf};
pub use retry::{DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT, ResumingBlob, RetryHook};

/// Largest manifest or token answer read into memory.
pub const MAX_MANIFEST_SIZE: u64 = 8 << 20;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Connecting, TLS or reading failed.
    #[error("cannot reach {url}")]
    Transport {
        /// The request.
        url: String,
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
    /// Credentials are missing or refused.
    #[error(
        "{url}: authentication required or refused (status {status}); add credentials to auth.json"
    )]
    Unauthorized {
        /// The request.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Any other unexpected status.
    #[error("{url}: unexpected status {status}")]
    Status {
        /// The request.
        url: String,
        /// The status.
        status: u16,
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

/// A manifest as served: body, `Content-Type` and the
/// `Docker-Content-Digest` the registry claims.
pub type Manifest = (Vec<u8>, Option<String>, Option<String>);

/// A response body being streamed.
pub type BodyReader = Box<dyn Read + Send>;

/// How patient a client is.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// A transfer that receives nothing for this long is retried.
    pub stall_timeout: Duration,
    /// Retries of one request or blob transfer.
    pub retries: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// A registry client; cheap to share between threads.
pub struct Client {
    agent: ureq::Agent,
    stall_timeout: Duration,
    retries: u32,
    /// When every request must be over.
    deadline: Mutex<Option<Instant>>,
    credentials: Credentials,
    /// Authorization header per (host, repository).
    auth: Mutex<HashMap<(String, String), String>>,
    /// Scheme that worked per host.
    schemes: Mutex<HashMap<String, &'static str>>,
}

impl Client {
    /// A client with the given credentials.
    pub fn new(credentials: Credentials, opts: ClientOptions) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(opts.stall_timeout))
            .max_idle_connections_per_host(8)
            .user_agent(concat!("rukt/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            stall_timeout: opts.stall_timeout,
            retries: opts.retries,
            deadline: Mutex::new(None),
            credentials,
            auth: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
        }
    }

    /// GETs a manifest by tag or digest: its bytes and media type, and the
    /// `Docker-Content-Digest` the registry claims.
    pub fn manifest(
        &self,
        ep: &Endpoint,
        reference: &str,
        accept: &str,
    ) -> Result<Manifest, RegistryError> {
        let path = format!("manifests/{reference}");
        let resp = self.get(ep, &path, Some(accept), None)?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
        };
        let media_type = header("content-type");
        let claimed = header("docker-content-digest");
        let url = self.url(ep, &path);
        let body = resp
            .into_body()
            .into_with_config()
            .limit(MAX_MANIFEST_SIZE)
            .read_to_vec()
            .map_err(|e| self.body_error(&url, e.into_io()))?;
        Ok((body, media_type, claimed))
    }

    /// GETs a URL outside the registry API (a signature lookaside):
    /// `None` on 404, refused past `limit` bytes. No credentials are sent.
    pub fn get_url(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|source| RegistryError::Transport {
                url: url.to_string(),
                source,
            })?;
        match resp.status().as_u16() {
            200..=299 => {}
            404 => return Ok(None),
            status => {
                return Err(RegistryError::Status {
                    url: url.to_string(),
                    status,
                });
            }
        }
        resp.into_body()
            .into_with_config()
            .limit(limit)
            .read_to_vec()
            .map(Some)
            .map_err(|e| self.body_error(url, e.into_io()))
    }

    /// Opens a blob for streaming; dropped and stalled transfers resume.
    pub fn blob(&self, ep: &Endpoint, digest: &str) -> Result<ResumingBlob<'_>, RegistryError> {
        ResumingBlob::open(self, ep, digest)
    }

    /// Sets (or clears) the instant by which every request must be over.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = deadline;
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().ok().and_then(|d| *d)
    }

    fn url(&self, ep: &Endpoint, path: &str) -> String {
        let scheme = self
            .schemes
            .lock()
            .map(|s| s.get(&ep.host).copied())
            .ok()
            .flatten()
            .unwrap_or("https");
        format!("{scheme}://{}/v2/{}/{path}", ep.host, ep.repository)
    }

    /// GETs `path`, from byte `from` on if given, retrying what may be
    /// transient.
    fn get(
        &self,
        ep: &Endpoint,
        path: &str,
        accept: Option<&str>,
        from: Option<u64>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let mut attempt = 0;
        loop {
            match self.get_once(ep, path, accept, from) {
                Err(e) => self.retry_or_fail(&self.url(ep, path), &mut attempt, e)?,
                ok => return ok,
            }
        }
    }

    fn get_once(
        &self,
        ep: &Endpoint,
        path: &str,
        accept: Option<&str>,
        from: Option<u64>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let key = (ep.host.clone(), ep.repository.clone());
        let mut retried = false;
        loop {
            let cached = self.auth.lock().ok().and_then(|m| m.get(&key).cloned());
            let (url, resp) = self.send(ep, path, accept, cached.as_deref(), from)?;
            let status = resp.status().as_u16();
            match status {
                200..=299 => return Ok(resp),
                401 if !retried => {
                    retried = true;
                    let header = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let value = match Challenge::parse(header) {
                        Some(Challenge::Basic) => match self.credentials.get(&ep.host) {
                            Some(c) => c.basic(),
                            None => return Err(RegistryError::Unauthorized { url, status }),
                        },
                        Some(Challenge::Bearer {
                            realm,
                            service,
                            scope,
                        }) => {
                            let scope = scope
                                .unwrap_or_else(|| format!("repository:{}:pull", ep.repository));
                            format!(
                                "Bearer {}",
                                self.token(&ep.host, &realm, service.as_deref(), &scope)?
                            )
                        }
                        None => return Err(RegistryError::Unauthorized { url, status }),
                    };
                    if let Ok(mut m) = self.auth.lock() {
                        m.insert(key.clone(), value);
                    }
                }
                401 | 403 => return Err(RegistryError::Unauthorized { url, status }),
                404 => return Err(RegistryError::NotFound { url }),
                429 | 502 | 503 | 504 => {
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry::parse_retry_after);
                    return Err(RegistryError::Busy {
                        url,
                        status,
                        retry_after,
                    });
                }
                _ => return Err(RegistryError::Status { url, status }),
            }
        }
    }

    /// Sends one GET, choosing https, or http where allowed and https fails.
    fn send(
        &self,
        ep: &Endpoint,
        path: &str,
        accept: Option<&str>,
        auth: Option<&str>,
        from: Option<u64>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), RegistryError> {
        let known = self
            .schemes
            .lock()
            .ok()
            .and_then(|s| s.get(&ep.host).copied());
        let schemes: &[&'static str] = match (known, ep.insecure) {
            (Some(s), _) => {
                if s == "http" {
                    &["http"]
                } else {
                    &["https"]
                }
            }
            (None, true) => &["https", "http"],
            (None, false) => &["https"],
        };
        let mut last = None;
        for &scheme in schemes {
            let url = format!("{scheme}://{}/v2/{}/{path}", ep.host, ep.repository);
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            if let Some(n) = from {
                req = req.header("Range", format!("bytes={n}-"));
            }
            let remaining = match self.deadline() {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(RegistryError::Deadline { url }),
                },
                None => None,
            };
            match req.config().timeout_global(remaining).build().call() {
                Ok(resp) => {
                    if let Ok(mut s) = self.schemes.lock() {
                        s.insert(ep.host.clone(), scheme);
                    }
                    return Ok((url, resp));
                }
                Err(source) => {
                    debug!(%url, error = %source, "request failed");
                    last = Some(self.body_error(&url, source.into_io()));
                }
            }
        }
        Err(last.expect("at least one scheme is tried"))
    }

    fn token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let mut req = self.agent.get(realm).query("scope", scope);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some(c) = self.credentials.get(host) {
            req = req.header("Authorization", c.basic());
        }
        let url = realm.to_string();
        let resp = req.call().map_err(|source| RegistryError::Transport {
            url: url.clone(),
            source,
        })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::Unauthorized { url, status });
        }
        if !(200..300).contains(&status) {
            return Err(RegistryError::Status { url, status });
        }
        let body = resp
            .into_body()
            .into_with_config()
            .limit(MAX_MANIFEST_SIZE)
            .read_to_vec()
            .map_err(|source| RegistryError::Transport {
                url: url.clone(),
                source,
            })?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| RegistryError::Token { url: url.clone() })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or(RegistryError::Token { url })
    }
}
