//! A client for the OCI distribution (registry v2) protocol: manifests and
//! blobs by digest, anonymous, basic and bearer-token auth, TLS with the
//! system's roots plus `certs.d` per registry, plain HTTP (and unverified
//! TLS) only for endpoints the user allowed.

pub mod auth;
pub mod authfile;
pub mod challenge;
pub mod config;
pub mod credhelper;
pub mod error;
pub mod retry;
pub mod tls;
mod token;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use ureq::tls::{RootCerts, TlsConfig};

pub use auth::{Credential, Credentials};
pub use challenge::Challenge;
pub use config::{Endpoint, RegistriesConf};
pub use error::RegistryError;
pub use retry::{DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT, ResumingBlob, RetryHook};

/// Largest manifest or token answer read into memory.
pub const MAX_MANIFEST_SIZE: u64 = 8 << 20;
/// Largest error body read for its message.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// A manifest as served: body, `Content-Type` and the
/// `Docker-Content-Digest` the registry claims.
pub type Manifest = (Vec<u8>, Option<String>, Option<String>);

/// A response body being streamed.
pub type BodyReader = Box<dyn Read + Send>;

/// How patient a client is, and where per-registry TLS files are.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// A transfer that receives nothing for this long is retried.
    pub stall_timeout: Duration,
    /// Retries of one request or blob transfer.
    pub retries: u32,
    /// The `certs.d` directories, in order (see [`tls::certs_dirs`]).
    pub certs_dirs: Vec<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            retries: DEFAULT_RETRIES,
            certs_dirs: tls::certs_dirs(std::path::Path::new("/etc/rukt")),
        }
    }
}

/// How a host was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scheme {
    Https,
    /// HTTPS without verifying the certificate (insecure endpoints only).
    HttpsUnverified,
    Http,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            _ => "https",
        }
    }
}

/// What was sent to authorize a request, to name a refusal.
#[derive(Debug, Clone)]
enum Sent {
    Basic {
        from: String,
    },
    Bearer {
        realm: String,
        scope: String,
        who: String,
    },
}

/// A registry client; cheap to share between threads.
pub struct Client {
    agent: ureq::Agent,
    stall_timeout: Duration,
    retries: u32,
    certs_dirs: Vec<PathBuf>,
    /// Agents per (host, verify) for hosts with `certs.d` files or
    /// unverified TLS.
    agents: Mutex<HashMap<(String, bool), ureq::Agent>>,
    /// When every request must be over.
    deadline: Mutex<Option<Instant>>,
    credentials: Credentials,
    /// Authorization header per (host, repository), and what it is.
    auth: Mutex<HashMap<(String, String), (String, Sent)>>,
    /// Scheme that worked per host.
    schemes: Mutex<HashMap<String, Scheme>>,
    /// Hosts already warned about unverified TLS.
    warned: Mutex<HashSet<String>>,
}

fn build_agent(tls: TlsConfig, stall_timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(stall_timeout))
        .max_idle_connections_per_host(8)
        .user_agent(concat!("rukt/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Client {
    /// A client with the given credentials.
    pub fn new(credentials: Credentials, opts: ClientOptions) -> Client {
        let system = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        Client {
            agent: build_agent(system, opts.stall_timeout),
            stall_timeout: opts.stall_timeout,
            retries: opts.retries,
            certs_dirs: opts.certs_dirs,
            agents: Mutex::new(HashMap::new()),
            deadline: Mutex::new(None),
            credentials,
            auth: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// The agent for `host`: its `certs.d` CAs and client certificate, and
    /// no verification at all unless `verify`.
    fn agent(&self, host: &str, verify: bool) -> Result<ureq::Agent, RegistryError> {
        let key = (host.to_string(), verify);
        if let Some(a) = self.agents.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(a);
        }
        let certs = tls::HostCerts::load(&self.certs_dirs, host).map_err(|source| {
            RegistryError::Certs {
                host: host.to_string(),
                source,
            }
        })?;
        let agent = if verify && certs.is_empty() {
            self.agent.clone()
        } else {
            build_agent(certs.tls_config(verify), self.stall_timeout)
        };
        if let Ok(mut m) = self.agents.lock() {
            m.insert(key, agent.clone());
        }
        Ok(agent)
    }

    /// Checks that the registry of `ep` accepts its credentials (what
    /// `rukt login` does before saving them): `GET /v2/`, authorized as the
    /// registry asks.
    pub fn check_login(&self, ep: &Endpoint) -> Result<(), RegistryError> {
        let ep = Endpoint {
            repository: String::new(),
            ..ep.clone()
        };
        self.get(&ep, "", None, None).map(|_| ())
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
        let body = self.small_body(&url, resp)?;
        Ok((body, media_type, claimed))
    }

    /// GETs a URL outside the registry API (a signature lookaside):
    /// `None` on 404, refused past `limit` bytes. No credentials are sent.
    pub fn get_url(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let resp = self
            .agent
            .get(url)
            .call()
            .map_err(|source| RegistryError::transport(url, source))?;
        match resp.status().as_u16() {
            200..=299 => {}
            404 => return Ok(None),
            status => {
                return Err(RegistryError::Status {
                    url: url.to_string(),
                    status,
                    registry_says: String::new(),
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

    /// The time left before the deadline (`None`: no deadline), or the
    /// error for `url` if it has passed.
    fn remaining(&self, url: &str) -> Result<Option<Duration>, RegistryError> {
        match self.deadline() {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(RegistryError::Deadline {
                    url: url.to_string(),
                }),
            },
            None => Ok(None),
        }
    }

    fn scheme(&self, host: &str) -> Option<Scheme> {
        self.schemes.lock().ok().and_then(|s| s.get(host).copied())
    }

    fn url(&self, ep: &Endpoint, path: &str) -> String {
        api_url(self.scheme(&ep.host).unwrap_or(Scheme::Https), ep, path)
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
            let header = cached.as_ref().map(|(h, _)| h.as_str());
            let (url, resp) = self.send(ep, path, accept, header, from)?;
            let status = resp.status().as_u16();
            match status {
                200..=299 => return Ok(resp),
                401 if !retried => {
                    retried = true;
                    let challenge = www_authenticate(&resp);
                    let value = self.authorize(ep, &url, challenge.as_ref())?;
                    if let Ok(mut m) = self.auth.lock() {
                        m.insert(key.clone(), value);
                    }
                }
                401 | 403 => {
                    let sent = cached.map(|(_, s)| s);
                    return Err(self.refusal(ep, url, resp, sent));
                }
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
                _ => {
                    let registry_says = error_message(resp);
                    return Err(RegistryError::Status {
                        url,
                        status,
                        registry_says,
                    });
                }
            }
        }
    }

    /// Sends one GET: over HTTPS, and for an insecure endpoint then HTTPS
    /// without verification (if the certificate was the problem) and plain
    /// HTTP.
    fn send(
        &self,
        ep: &Endpoint,
        path: &str,
        accept: Option<&str>,
        auth: Option<&str>,
        from: Option<u64>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), RegistryError> {
        let schemes: &[Scheme] = match (self.scheme(&ep.host), ep.insecure) {
            (Some(Scheme::Https), _) => &[Scheme::Https],
            (Some(Scheme::HttpsUnverified), _) => &[Scheme::HttpsUnverified],
            (Some(Scheme::Http), _) => &[Scheme::Http],
            (None, true) => &[Scheme::Https, Scheme::HttpsUnverified, Scheme::Http],
            (None, false) => &[Scheme::Https],
        };
        let mut last: Option<RegistryError> = None;
        for &scheme in schemes {
            if scheme == Scheme::HttpsUnverified && last.as_ref().is_some_and(|e| !e.is_tls()) {
                continue;
            }
            let url = api_url(scheme, ep, path);
            let agent = self.agent(&ep.host, scheme != Scheme::HttpsUnverified)?;
            let mut req = agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            if let Some(n) = from {
                req = req.header("Range", format!("bytes={n}-"));
            }
            let remaining = self.remaining(&url)?;
            match req.config().timeout_global(remaining).build().call() {
                Ok(resp) => {
                    if scheme == Scheme::HttpsUnverified {
                        self.warn_unverified(&ep.host);
                    }
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

    fn warn_unverified(&self, host: &str) {
        let first = self
            .warned
            .lock()
            .map(|mut w| w.insert(host.to_string()))
            .unwrap_or(true);
        if first {
            warn!(
                "the TLS certificate of {host} cannot be verified and is NOT checked: the registry is insecure in registries.conf (or --insecure-options=http); anyone on the network path can read and change what is fetched"
            );
        }
    }
}

/// `SCHEME://HOST/v2/REPOSITORY/PATH` (`/v2/PATH` without a repository).
fn api_url(scheme: Scheme, ep: &Endpoint, path: &str) -> String {
    if ep.repository.is_empty() {
        format!("{}://{}/v2/{path}", scheme.as_str(), ep.host)
    } else {
        format!(
            "{}://{}/v2/{}/{path}",
            scheme.as_str(),
            ep.host,
            ep.repository
        )
    }
}

fn www_authenticate(resp: &ureq::http::Response<ureq::Body>) -> Option<Challenge> {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
}

/// The message of an error response's body, if it has one.
fn error_message(resp: ureq::http::Response<ureq::Body>) -> String {
    resp.into_body()
        .into_with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_vec()
        .map(|b| challenge::body_message(&b))
        .unwrap_or_default()
}
