//! Images from a registry, trying the configured mirrors first.

use std::io::Read;
use std::sync::Mutex;

use tracing::{debug, warn};

use super::{Resolved, Source, SourceContext, SourceError, declared_media_type};
use crate::digest::Digest;
use crate::media;
use crate::reference::RegistryRef;
use crate::registry::{Client, Endpoint, RegistryError};

/// A repository on a registry (or its mirrors).
pub struct RegistrySource<'a> {
    reference: RegistryRef,
    client: &'a Client,
    endpoints: Vec<Endpoint>,
    /// The endpoint that answered the manifest request.
    chosen: Mutex<Option<usize>>,
}

impl<'a> RegistrySource<'a> {
    /// A source for `reference`.
    pub fn new(reference: RegistryRef, ctx: &SourceContext<'a>) -> RegistrySource<'a> {
        let endpoints = ctx.registries.endpoints(&reference, ctx.insecure_http);
        RegistrySource {
            reference,
            client: ctx.client,
            endpoints,
            chosen: Mutex::new(None),
        }
    }

    /// Tries the endpoints in order, starting with the one that worked.
    fn each<T>(
        &self,
        mut f: impl FnMut(&Endpoint) -> Result<T, RegistryError>,
    ) -> Result<T, SourceError> {
        let start = self.chosen.lock().ok().and_then(|c| *c).unwrap_or(0);
        let order = (start..self.endpoints.len()).chain(0..start);
        let mut last = None;
        for i in order {
            let ep = &self.endpoints[i];
            match f(ep) {
                Ok(v) => {
                    if let Ok(mut c) = self.chosen.lock() {
                        *c = Some(i);
                    }
                    return Ok(v);
                }
                Err(e) if ep.mirror => {
                    warn!(mirror = %ep.host, error = %e, "mirror failed; trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => {
                    last = Some(e);
                    if self.endpoints.len() == 1 {
                        break;
                    }
                }
            }
        }
        Err(last
            .expect("a registry reference has at least one endpoint")
            .into())
    }
}

impl Source for RegistrySource<'_> {
    fn resolve(&self) -> Result<Resolved, SourceError> {
        let reference = self.reference.manifest_reference();
        let (bytes, content_type, claimed) =
            self.each(|ep| self.client.manifest(ep, &reference, media::MANIFEST_ACCEPT))?;
        let digest = Digest::sha256_of(&bytes);
        if let Some(expected) = &self.reference.digest {
            let actual = match expected.algorithm() {
                crate::digest::Algorithm::Sha256 => digest.clone(),
                alg => {
                    let mut h = crate::digest::Hasher::new(alg);
                    h.update(&bytes);
                    h.finish()
                }
            };
            if &actual != expected {
                return Err(SourceError::ManifestDigest {
                    expected: expected.clone(),
                    actual,
                });
            }
        } else if let Some(claimed) = claimed.and_then(|c| c.parse::<Digest>().ok())
            && claimed.algorithm() == digest.algorithm()
            && claimed != digest
        {
            return Err(SourceError::ManifestDigest {
                expected: claimed,
                actual: digest,
            });
        }
        let media_type = declared_media_type(&bytes)
            .or(content_type)
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        debug!(reference = %self.reference, %digest, %media_type, "resolved");
        Ok(Resolved {
            bytes,
            media_type,
            digest,
        })
    }

    fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, SourceError> {
        let d = digest.to_string();
        self.each(|ep| {
            self.client
                .manifest(ep, &d, media::MANIFEST_ACCEPT)
                .map(|(b, _, _)| b)
        })
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.each(|ep| {
            self.client
                .manifest(ep, tag, media::MANIFEST_ACCEPT)
                .map(|(b, _, _)| b)
        }) {
            Ok(b) => Ok(Some(b)),
            Err(SourceError::Registry(RegistryError::NotFound { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let d = digest.to_string();
        self.each(|ep| {
            self.client
                .blob(ep, &d)
                .map(|b| Box::new(b) as Box<dyn Read + Send + '_>)
        })
    }
}
