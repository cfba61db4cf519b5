//! The fetch side of image trust: signatures read from the image's own
//! source (sigstore attachments, lookaside over HTTPS), and the check run
//! on the chosen manifest before anything is stored.

use std::io::Read;

use crate::digest::{Digest, VerifyingReader};
use crate::policy::{MAX_SIGNATURE_SIZE, Signatures};
use crate::registry::Client;
use crate::source::Source;

/// Signatures read through a source and the shared client.
pub(crate) struct SourceSignatures<'a> {
    pub(crate) source: &'a dyn Source,
    pub(crate) client: &'a Client,
}

impl Signatures for SourceSignatures<'_> {
    fn attachment(&self, tag: &str) -> Result<Option<Vec<u8>>, String> {
        let m = self
            .source
            .tagged_manifest(tag)
            .map_err(|e| e.to_string())?;
        if m.as_ref()
            .is_some_and(|b| b.len() as u64 > MAX_SIGNATURE_SIZE)
        {
            return Err("the attachment manifest is larger than 4 MiB".into());
        }
        Ok(m)
    }

    fn blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, String> {
        if size > MAX_SIGNATURE_SIZE {
            return Err("larger than 4 MiB".into());
        }
        let r = self.source.blob(digest).map_err(|e| e.to_string())?;
        let mut v = VerifyingReader::new(r.take(size + 1), digest.algorithm(), Some(size));
        let mut out = Vec::new();
        v.read_to_end(&mut out).map_err(|e| e.to_string())?;
        v.verify(digest).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn url(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, String> {
        self.client.get_url(url, limit).map_err(|e| e.to_string())
    }
}
