//! `rukt fetch`: resolve a reference, pick the platform, verify every
//! blob while it streams, unpack layers in parallel, and only then name the
//! image in the store. A failed fetch removes what it added (when no other
//! fetch is running; otherwise `image gc` does).

pub mod error;
pub mod layer;
pub mod progress;
pub mod stream;
mod trust;

pub use error::{FetchError, LayerError};

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use tracing::{debug, info, warn};

pub use layer::LayerJob;
pub use progress::{LayerFate, NoProgress, Progress};

use crate::digest::{Digest, VerifyStreamError, VerifyingReader};
use crate::media::{self, ManifestKind};
use crate::platform::Platform;
use crate::policy::{TrustError, TrustPolicy, Verdict};
use crate::reference::ImageRef;
use crate::registry::{
    Client, ClientOptions, Credential, Credentials, MAX_MANIFEST_SIZE, RegistriesConf,
};
use crate::source::{self, Source, SourceContext};
use crate::store::index::now_rfc3339;
use crate::store::{ImageRecord, LayerRecord, LockMode, Store, TmpArea, io_err};

/// Default cap on one layer's uncompressed size (`--max-layer-size`).
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 64 << 30;
/// Default number of layers transferred at once.
pub const DEFAULT_CONCURRENCY: usize = 3;

/// When to contact the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Only use the store.
    Never,
    /// Use the store if it has the name, fetch otherwise.
    #[default]
    New,
    /// Always check the source for a newer manifest.
    Update,
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// When to contact the source.
    pub pull_policy: PullPolicy,
    /// The platform to pick from an index.
    pub platform: Platform,
    /// `--insecure-options=http`: plain HTTP to any registry.
    pub insecure_http: bool,
    /// Cap on one layer's uncompressed size.
    pub max_layer_size: u64,
    /// Layers transferred at once.
    pub concurrency: usize,
    /// Where `registries.conf` and `auth.json` live.
    pub config_dir: PathBuf,
    /// A transfer that receives nothing for this long is retried
    /// (`--stall-timeout`).
    pub stall_timeout: Duration,
    /// Retries of one request or blob transfer.
    pub retries: u32,
    /// The whole fetch must be over within this (`--timeout`).
    pub timeout: Option<Duration>,
    /// Where the signature policy comes from.
    pub trust: TrustOptions,
}

/// Where the signature policy and the signature locations come from.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// `--signature-policy`: instead of `<config-dir>/policy.json`.
    pub policy: Option<PathBuf>,
    /// `--registries-d`: instead of `<config-dir>/registries.d`.
    pub registries_d: Option<PathBuf>,
    /// `--insecure-options=image`: no signature check.
    pub insecure: bool,
}

/// Why a fetcher cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// registries.conf is unusable.
    #[error(transparent)]
    Registries(#[from] crate::registry::config::ConfigError),
    /// The signature policy is unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            pull_policy: PullPolicy::New,
            platform: Platform::host(),
            insecure_http: false,
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            config_dir: PathBuf::from("/etc/rukt"),
            stall_timeout: crate::registry::DEFAULT_STALL_TIMEOUT,
            retries: crate::registry::DEFAULT_RETRIES,
            timeout: None,
            trust: TrustOptions::default(),
        }
    }
}

/// Something a fetch added to the store, for rollback.
#[derive(Debug, Clone)]
pub(crate) enum Created {
    Blob(Digest),
    Layer(Digest),
}

/// Fetches images into a store.
pub struct Fetcher<'a> {
    store: &'a Store,
    client: Client,
    registries: RegistriesConf,
    trust: TrustPolicy,
    opts: FetchOptions,
}

/// The single-platform manifest chosen for a fetch.
struct Chosen {
    index: Option<(Digest, Vec<u8>)>,
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
}

impl<'a> Fetcher<'a> {
    /// A fetcher reading `registries.conf`, credentials and the signature
    /// policy from the options' config directory.
    pub fn new(store: &'a Store, opts: FetchOptions) -> Result<Fetcher<'a>, SetupError> {
        Fetcher::with_credentials(store, opts, Vec::new())
    }

    /// A fetcher as [`Fetcher::new`] that uses `given` (host, credential)
    /// before any auth file: a CRI `PullImage`'s own `AuthConfig`.
    pub fn with_credentials(
        store: &'a Store,
        opts: FetchOptions,
        given: Vec<(String, Credential)>,
    ) -> Result<Fetcher<'a>, SetupError> {
        let registries = RegistriesConf::load(&opts.config_dir.join("registries.conf"))?;
        let mut trust = TrustPolicy::load(
            &opts.config_dir,
            opts.trust.policy.as_deref(),
            opts.trust.registries_d.as_deref(),
        )?;
        trust.set_insecure(opts.trust.insecure);
        let credentials = given
            .into_iter()
            .fold(Credentials::load(&opts.config_dir), |c, (host, cred)| {
                c.with(&host, cred)
            });
        let client = Client::new(
            credentials,
            ClientOptions {
                stall_timeout: opts.stall_timeout,
                retries: opts.retries,
                certs_dirs: crate::registry::tls::certs_dirs(&opts.config_dir),
            },
        );
        Ok(Fetcher {
            store,
            client,
            registries,
            trust,
            opts,
        })
    }

    /// Fetches `image` (as the pull policy says) and returns its record;
    /// past the options' timeout, fails with [`FetchError::Deadline`] and
    /// leaves the store as it was.
    pub fn fetch(
        &self,
        image: &ImageRef,
        progress: &dyn Progress,
    ) -> Result<ImageRecord, FetchError> {
        let deadline = self.opts.timeout.map(|t| Instant::now() + t);
        self.client.set_deadline(deadline);
        let r = self.fetch_inner(image, progress, deadline);
        self.client.set_deadline(None);
        match (r, self.opts.timeout, deadline) {
            (Err(e), Some(timeout), Some(d)) if Instant::now() >= d => {
                debug!(error = %e, "failed at the deadline");
                Err(FetchError::Deadline { timeout })
            }
            (r, _, _) => r,
        }
    }

    fn fetch_inner(
        &self,
        image: &ImageRef,
        progress: &dyn Progress,
        deadline: Option<Instant>,
    ) -> Result<ImageRecord, FetchError> {
        let wanted_name = image.store_name();
        if self.opts.pull_policy != PullPolicy::Update
            && let Some(name) = &wanted_name
            && let Some(rec) = self.store.index()?.images.get(name)
        {
            debug!(%name, "in the store already");
            if self.trust.requires_signatures(image) {
                self.recheck(image, rec)?;
            }
            return Ok(rec.clone());
        }
        if self.opts.pull_policy == PullPolicy::Never {
            return Err(FetchError::NotInStore {
                name: wanted_name.unwrap_or_else(|| image.to_string()),
            });
        }
        let ctx = SourceContext {
            client: &self.client,
            registries: &self.registries,
            insecure_http: self.opts.insecure_http,
        };
        let src = source::open(image, &ctx)?;
        let resolved = src.resolve()?;
        let name = wanted_name
            .or_else(|| src.name())
            .unwrap_or_else(|| image.to_string());

        let store_lock = self.store.lock_store(LockMode::Shared)?;
        let tmp_root = self.store.tmp_root();
        if let Err(e) = crate::store::tmp::clean_stale(&tmp_root, false) {
            debug!(error = %e, "cannot clean stale scratch directories");
        }
        let tmp = TmpArea::create(&tmp_root).map_err(io_err("create scratch in", &tmp_root))?;
        let mut created = Vec::new();
        let result = self.fetch_locked(
            src.as_ref(),
            resolved,
            &name,
            image,
            &tmp,
            progress,
            deadline,
            &mut created,
        );
        drop(tmp);
        if result.is_err() && !created.is_empty() {
            self.rollback(store_lock, &created);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_locked(
        &self,
        src: &dyn Source,
        resolved: source::Resolved,
        name: &str,
        image: &ImageRef,
        tmp: &TmpArea,
        progress: &dyn Progress,
        deadline: Option<Instant>,
        created: &mut Vec<Created>,
    ) -> Result<ImageRecord, FetchError> {
        let top = resolved.digest.clone();
        let chosen = self.choose_manifest(src, resolved)?;
        let verdict = self.check_trust(src, image, &top, &chosen.digest)?;
        if let Some(rec) = self.store.index()?.images.get(name)
            && rec.manifest == chosen.digest
            && self.complete(rec)
        {
            info!(%name, "up to date");
            return Ok(self.store.update_index(|idx| {
                let r = idx.images.get_mut(name).expect("record checked above");
                r.last_used = now_rfc3339();
                r.clone()
            })?);
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&chosen.bytes).map_err(|e| FetchError::Malformed {
                what: "manifest",
                digest: chosen.digest.clone(),
                reason: e.to_string(),
            })?;
        let cfg_desc = manifest.config();
        let cfg_digest = oci_digest(cfg_desc.digest(), "config")?;
        let cfg_type = cfg_desc.media_type().to_string();
        if !media::is_config(&cfg_type) {
            return Err(FetchError::MediaType {
                digest: cfg_digest,
                media_type: cfg_type,
                expected: "an image config",
            });
        }
        let cfg_bytes = read_verified(
            src.blob(&cfg_digest)?,
            &cfg_digest,
            cfg_desc.size(),
            "config",
        )?;
        let config: ImageConfiguration =
            serde_json::from_slice(&cfg_bytes).map_err(|e| FetchError::Malformed {
                what: "config",
                digest: cfg_digest.clone(),
                reason: e.to_string(),
            })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(FetchError::DiffIdCount {
                layers: manifest.layers().len(),
                diff_ids: diff_ids.len(),
            });
        }
        let mut jobs = Vec::new();
        for (desc, diff) in manifest.layers().iter().zip(diff_ids) {
            let blob = oci_digest(desc.digest(), "layer")?;
            let media_type = desc.media_type().to_string();
            if media::layer_compression(&media_type).is_none() {
                return Err(FetchError::MediaType {
                    digest: blob,
                    media_type,
                    expected: "a layer tar (plain, gzip or zstd)",
                });
            }
            let diff_id: Digest = diff.parse().map_err(|e: crate::digest::DigestParseError| {
                FetchError::Malformed {
                    what: "config",
                    digest: cfg_digest.clone(),
                    reason: e.to_string(),
                }
            })?;
            jobs.push(LayerJob {
                blob,
                size: desc.size(),
                media_type,
                diff_id,
            });
        }
        let platform = Platform {
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            variant: config.variant().clone(),
        };
        if chosen.index.is_none()
            && !self.opts.platform.matches(
                &platform.os,
                &platform.architecture,
                platform.variant.as_deref(),
            )
        {
            warn!(image = %platform, host = %self.opts.platform, "the image's platform differs from the requested one");
        }

        if let Some((d, bytes)) = &chosen.index {
            self.put_small(d, bytes, tmp, created)?;
        }
        self.put_small(&chosen.digest, &chosen.bytes, tmp, created)?;
        self.put_small(&cfg_digest, &cfg_bytes, tmp, created)?;
        let metas = self.fetch_layers(src, &jobs, tmp, progress, deadline, created)?;

        let now = now_rfc3339();
        let record = ImageRecord {
            name: name.to_string(),
            id: cfg_digest,
            manifest: chosen.digest,
            manifest_media_type: chosen.media_type,
            index: chosen.index.map(|(d, _)| d),
            platform,
            layers: jobs
                .into_iter()
                .map(|j| LayerRecord {
                    blob: j.blob,
                    diff_id: j.diff_id,
                    media_type: j.media_type,
                    size: j.size,
                })
                .collect(),
            size: metas.iter().map(|m| m.size).sum(),
            created: config.created().clone(),
            fetched: now.clone(),
            last_used: now,
            source: image.to_string(),
            trust: Some(verdict),
        };
        self.store
            .update_index(|idx| idx.images.insert(record.name.clone(), record.clone()))?;
        info!(name = %record.name, id = %record.id, "image stored");
        crate::events::imported(self.store, &record);
        Ok(record)
    }

    /// Applies the signature policy to the manifest the reference names and
    /// the instance chosen from it (when it is an index), before anything
    /// is stored.
    fn check_trust(
        &self,
        src: &dyn Source,
        image: &ImageRef,
        top: &Digest,
        chosen: &Digest,
    ) -> Result<Verdict, FetchError> {
        let mut digests = vec![top.clone()];
        if chosen != top {
            digests.push(chosen.clone());
        }
        let sigs = trust::SourceSignatures {
            source: src,
            client: &self.client,
        };
        let verdict = self.trust.evaluate(image, &digests, &sigs)?;
        info!(%image, policy = ?verdict.policy, signers = verdict.signers.len(), "signature policy satisfied");
        Ok(verdict)
    }

    /// Checks a stored image again when the policy for `image` wants
    /// signatures: the stored digests against signatures read now.
    fn recheck(&self, image: &ImageRef, rec: &ImageRecord) -> Result<(), FetchError> {
        let ctx = SourceContext {
            client: &self.client,
            registries: &self.registries,
            insecure_http: self.opts.insecure_http,
        };
        let src = source::open(image, &ctx)?;
        let top = rec.index.clone().unwrap_or_else(|| rec.manifest.clone());
        self.check_trust(src.as_ref(), image, &top, &rec.manifest)?;
        Ok(())
    }

    /// Follows an index to the manifest for the wanted platform.
    fn choose_manifest(
        &self,
        src: &dyn Source,
        resolved: source::Resolved,
    ) -> Result<Chosen, FetchError> {
        if media::DOCKER_SCHEMA1.contains(&resolved.media_type.as_str()) {
            return Err(FetchError::Schema1);
        }
        match media::manifest_kind(&resolved.media_type) {
            Some(ManifestKind::Manifest) => Ok(Chosen {
                index: None,
                bytes: resolved.bytes,
                digest: resolved.digest,
                media_type: resolved.media_type,
            }),
            Some(ManifestKind::Index) => {
                let index: ImageIndex =
                    serde_json::from_slice(&resolved.bytes).map_err(|e| FetchError::Malformed {
                        what: "index",
                        digest: resolved.digest.clone(),
                        reason: e.to_string(),
                    })?;
                let wanted = &self.opts.platform;
                let pick = index.manifests().iter().find(|d| {
                    d.platform().as_ref().is_some_and(|p| {
                        wanted.matches(
                            &p.os().to_string(),
                            &p.architecture().to_string(),
                            p.variant().as_deref(),
                        )
                    }) && media::manifest_kind(d.media_type().as_ref())
                        == Some(ManifestKind::Manifest)
                });
                let Some(desc) = pick else {
                    let available = index
                        .manifests()
                        .iter()
                        .filter_map(|d| {
                            d.platform()
                                .as_ref()
                                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(FetchError::NoPlatform {
                        wanted: wanted.clone(),
                        available,
                    });
                };
                let digest = oci_digest(desc.digest(), "manifest")?;
                let bytes = src.manifest(&digest)?;
                let bytes = read_verified(&bytes[..], &digest, desc.size(), "manifest")?;
                Ok(Chosen {
                    index: Some((resolved.digest, resolved.bytes)),
                    bytes,
                    digest,
                    media_type: desc.media_type().to_string(),
                })
            }
            None => Err(FetchError::ManifestType(resolved.media_type)),
        }
    }

    /// Whether everything a record needs is still stored.
    fn complete(&self, rec: &ImageRecord) -> bool {
        rec.blobs().all(|b| self.store.has_blob(b))
            && rec.layers.iter().all(|l| self.store.has_layer(&l.diff_id))
    }

    /// Stores a small verified blob (manifest, index, config).
    fn put_small(
        &self,
        digest: &Digest,
        bytes: &[u8],
        tmp: &TmpArea,
        created: &mut Vec<Created>,
    ) -> Result<(), FetchError> {
        let lock_path = self.store.item_lock_path(digest);
        let _lock = crate::store::FileLock::acquire(&lock_path, LockMode::Exclusive)
            .map_err(io_err("lock", &lock_path))?;
        if self.store.has_blob(digest) {
            return Ok(());
        }
        let t = tmp.unique("small");
        crate::store::fsutil::write_atomic(&t, bytes).map_err(io_err("write", &t))?;
        layer::rename_into(&t, &self.store.blob_path(digest))?;
        created.push(Created::Blob(digest.clone()));
        Ok(())
    }

    /// Runs the layer jobs on up to `concurrency` threads; the first error
    /// cancels the rest.
    fn fetch_layers(
        &self,
        src: &dyn Source,
        jobs: &[LayerJob],
        tmp: &TmpArea,
        progress: &dyn Progress,
        deadline: Option<Instant>,
        created: &mut Vec<Created>,
    ) -> Result<Vec<crate::store::LayerMeta>, FetchError> {
        let cancel = AtomicBool::new(false);
        let ctx = layer::LayerCtx {
            store: self.store,
            source: src,
            tmp,
            progress,
            cancel: &cancel,
            deadline,
            max_layer_size: self.opts.max_layer_size,
        };
        let next = Mutex::new(0usize);
        let metas: Mutex<Vec<Option<crate::store::LayerMeta>>> = Mutex::new(vec![None; jobs.len()]);
        // The error of the layer that failed first, decided by who flips
        // `cancel`: the others' failures are only its consequences.
        let root_cause: Mutex<Option<FetchError>> = Mutex::new(None);
        let shared_created = Mutex::new(Vec::new());
        let workers = self.opts.concurrency.clamp(1, jobs.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = {
                            let mut n = next.lock().expect("job counter");
                            if *n >= jobs.len() || cancel.load(Ordering::Relaxed) {
                                return;
                            }
                            *n += 1;
                            *n - 1
                        };
                        let mut mine = Vec::new();
                        let r = layer::ensure_layer(&ctx, &jobs[i], &mut mine);
                        shared_created.lock().expect("created list").extend(mine);
                        match r {
                            Ok(m) => metas.lock().expect("metas")[i] = Some(m),
                            Err(e) => {
                                if cancel
                                    .compare_exchange(
                                        false,
                                        true,
                                        Ordering::SeqCst,
                                        Ordering::SeqCst,
                                    )
                                    .is_ok()
                                {
                                    *root_cause.lock().expect("root cause") = Some(e);
                                }
                                return;
                            }
                        }
                    }
                });
            }
        });
        created.extend(shared_created.into_inner().expect("created list"));
        if let Some(e) = root_cause.into_inner().expect("root cause") {
            return Err(e);
        }
        Ok(metas
            .into_inner()
            .expect("metas")
            .into_iter()
            .flatten()
            .collect())
    }

    /// Removes what a failed fetch added, if no other fetch is running
    /// (they hold the store lock shared) and no image references it.
    fn rollback(&self, store_lock: crate::store::FileLock, created: &[Created]) {
        match store_lock.try_upgrade() {
            Ok(true) => {}
            _ => {
                debug!("other fetches are running; leaving unreferenced content to image gc");
                return;
            }
        }
        let r = self.store.with_index_locked(|idx| {
            for item in created {
                let (path, referenced, digest) = match item {
                    Created::Blob(d) => (self.store.blob_path(d), idx.references_blob(d), d),
                    Created::Layer(d) => (self.store.layer_dir(d), idx.references_layer(d), d),
                };
                if !referenced {
                    let _ = crate::store::fsutil::remove_any(&path);
                    let _ = std::fs::remove_file(self.store.item_lock_path(digest));
                }
            }
        });
        if let Err(e) = r {
            warn!(error = %e, "cannot roll back a failed fetch; image gc will clean up");
        }
        drop(store_lock);
    }
}

fn oci_digest(d: &oci_spec::image::Digest, what: &'static str) -> Result<Digest, FetchError> {
    d.to_string()
        .parse()
        .map_err(|e: crate::digest::DigestParseError| FetchError::Malformed {
            what,
            digest: Digest::sha256_of(d.to_string().as_bytes()),
            reason: e.to_string(),
        })
}

/// Reads a small blob whole, verifying digest and size.
fn read_verified(
    r: impl Read,
    digest: &Digest,
    size: u64,
    what: &'static str,
) -> Result<Vec<u8>, FetchError> {
    let err = |source| FetchError::Blob {
        what,
        digest: digest.clone(),
        source,
    };
    if size > MAX_MANIFEST_SIZE {
        return Err(err(VerifyStreamError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "too large",
        ))));
    }
    let mut v = VerifyingReader::new(r, digest.algorithm(), Some(size));
    let mut out = Vec::with_capacity(size as usize);
    v.read_to_end(&mut out)
        .map_err(|e| err(VerifyStreamError::Io(e)))?;
    v.verify(digest).map_err(err)?;
    Ok(out)
}
