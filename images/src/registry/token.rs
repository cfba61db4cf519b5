//! Answering a registry's challenge: basic credentials, or a bearer token
//! from its token server (credentials as basic auth, an identity token as
//! an OAuth2 refresh token, or anonymous), never over plain HTTP unless
//! the registry itself may be; and naming a refusal for what it is.

use tracing::debug;

use super::auth::Secret;
use super::{Challenge, Client, Credential, Endpoint, RegistryError, Scheme, Sent};

impl Client {
    fn credential(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        self.credentials
            .get(host)
            .map_err(|source| RegistryError::Credentials {
                host: host.to_string(),
                source,
            })
    }

    fn no_credentials(&self, url: &str, host: &str) -> RegistryError {
        RegistryError::NoCredentials {
            url: url.to_string(),
            host: host.to_string(),
            searched: self.credentials.searched(),
        }
    }

    /// The `Authorization` value answering `challenge` (from the 401 of
    /// `url`), and what it is.
    pub(super) fn authorize(
        &self,
        ep: &Endpoint,
        url: &str,
        challenge: Option<&Challenge>,
    ) -> Result<(String, Sent), RegistryError> {
        match challenge {
            Some(Challenge::Basic) => {
                let cred = self
                    .credential(&ep.host)?
                    .ok_or_else(|| self.no_credentials(url, &ep.host))?;
                let value = cred
                    .basic()
                    .ok_or_else(|| RegistryError::IdentityTokenForBasic {
                        host: ep.host.clone(),
                        from: cred.source.clone(),
                    })?;
                Ok((value, Sent::Basic { from: cred.source }))
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
                ..
            }) => {
                if realm.to_ascii_lowercase().starts_with("http://") && !ep.insecure {
                    return Err(RegistryError::InsecureRealm {
                        host: ep.host.clone(),
                        realm: realm.clone(),
                    });
                }
                let scope = scope.clone().unwrap_or_else(|| {
                    if ep.repository.is_empty() {
                        String::new()
                    } else {
                        format!("repository:{}:pull", ep.repository)
                    }
                });
                let cred = self.credential(&ep.host)?;
                let token = self.token(ep, realm, service.as_deref(), &scope, cred.as_ref())?;
                let who = match &cred {
                    Some(c) if !c.username.is_empty() => {
                        format!(
                            "the account {:?} (credentials from {})",
                            c.username, c.source
                        )
                    }
                    Some(c) => format!("the account of {}", c.source),
                    None => "an anonymous user".to_string(),
                };
                Ok((
                    format!("Bearer {token}"),
                    Sent::Bearer {
                        realm: realm.clone(),
                        scope,
                        who,
                    },
                ))
            }
            None => match self.credential(&ep.host)? {
                None => Err(self.no_credentials(url, &ep.host)),
                Some(_) => Err(RegistryError::Denied {
                    url: url.to_string(),
                    status: 401,
                    registry_says: "no challenge rukt can answer".into(),
                }),
            },
        }
    }

    /// The error for a 401/403 to a request authorized with `sent`.
    pub(super) fn refusal(
        &self,
        ep: &Endpoint,
        url: String,
        resp: ureq::http::Response<ureq::Body>,
        sent: Option<Sent>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let challenge = super::www_authenticate(&resp);
        let mut registry_says = super::error_message(resp);
        if let Some(Challenge::Bearer {
            description: Some(d),
            ..
        }) = &challenge
        {
            registry_says = d.clone();
        }
        match (challenge.as_ref().and_then(Challenge::error), sent) {
            (Some("insufficient_scope"), Some(Sent::Bearer { realm, scope, who })) => {
                RegistryError::InsufficientScope {
                    url,
                    realm,
                    scope,
                    who,
                    registry_says,
                }
            }
            (Some("invalid_token"), Some(Sent::Bearer { realm, .. })) => {
                RegistryError::InvalidToken {
                    url,
                    realm,
                    registry_says,
                }
            }
            (_, Some(Sent::Basic { from })) if status == 401 => RegistryError::Refused {
                url,
                host: ep.host.clone(),
                from,
                status,
                registry_says,
            },
            _ => RegistryError::Denied {
                url,
                status,
                registry_says,
            },
        }
    }

    /// A bearer token from `realm` for `scope`.
    fn token(
        &self,
        ep: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let verify = self.scheme(&ep.host) != Some(Scheme::HttpsUnverified);
        let agent = self.agent(&ep.host, verify)?;
        let url = realm.to_string();
        let timeout = self.remaining(&url)?;
        let sent = match cred.map(|c| (&c.secret, c)) {
            Some((Secret::IdentityToken(t), _)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t.as_str()),
                    ("client_id", "rukt"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                agent
                    .post(realm)
                    .config()
                    .timeout_global(timeout)
                    .build()
                    .send_form(form)
            }
            other => {
                let mut req = agent.get(realm);
                if !scope.is_empty() {
                    req = req.query("scope", scope);
                }
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                if let Some(b) = other.and_then(|(_, c)| c.basic()) {
                    req = req.header("Authorization", b);
                }
                req.config().timeout_global(timeout).build().call()
            }
        };
        let resp = sent.map_err(|e| self.body_error(&url, e.into_io()))?;
        let status = resp.status().as_u16();
        debug!(%url, status, "token request");
        if status == 401 || status == 403 {
            let registry_says = super::error_message(resp);
            return Err(match cred {
                None => self.no_credentials(&url, &ep.host),
                Some(c) => RegistryError::Refused {
                    url,
                    host: ep.host.clone(),
                    from: c.source.clone(),
                    status,
                    registry_says,
                },
            });
        }
        if !(200..300).contains(&status) {
            let registry_says = super::error_message(resp);
            return Err(RegistryError::Status {
                url,
                status,
                registry_says,
            });
        }
        let body = self.small_body(&url, resp)?;
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
