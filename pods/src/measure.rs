//! What of a pod's life is measured into the TPM event log (`rukt-tpm`,
//! `docs/tpm.md`), as each event's fields: a pod prepared (its images and
//! manifest), its apps started (stage0 is about to exec the stage1: the
//! stage1 binary's digest and its argv's, the manifest's digest and each
//! app's image), its apps and the pod exited (measured once, by whichever
//! stage0 first sees the exit: `status`, `gc`, `rm`), and its removal; and
//! an image verified by `rukt fetch`.
//!
//! The policy is the [`Measurer`]'s: these return an error only when
//! measurement is required and failed.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rukt_contract::{App, PodManifest};
use rukt_images::digest::Digest;
use rukt_images::store::ImageRecord;
pub use rukt_tpm::{EventKind, Fields, MeasureError, Measurer};

use crate::pod::Pod;
use crate::stage1::Stage1;
use crate::status::{PodStatus, pod_exit_code};

/// The marker a pod's directory gets once its exits were measured.
const EXIT_MEASURED: &str = "tpm-exit-measured";

/// The fields of a pod's images, in app order.
fn image_fields(pod: &Pod, apps: &[&App]) -> Fields {
    Fields {
        pod: Some(pod.uuid.to_string()),
        image_digests: apps.iter().map(|a| a.image.manifest.clone()).collect(),
        config_digests: apps.iter().map(|a| a.image.id.clone()).collect(),
        layers: apps.iter().flat_map(|a| a.image.layers.clone()).collect(),
        manifest_digest: manifest_digest(pod),
        ..Fields::default()
    }
}

/// `sha256:` of the pod manifest as it is on disk.
fn manifest_digest(pod: &Pod) -> Option<String> {
    let data = std::fs::read(pod.path.join(rukt_contract::POD_MANIFEST)).ok()?;
    Some(Digest::sha256_of(&data).to_string())
}

/// `pod-prepared`: the pod's directory and manifest exist.
pub fn pod_prepared(m: &Measurer, pod: &Pod, manifest: &PodManifest) -> Result<(), MeasureError> {
    let apps: Vec<&App> = manifest.apps.iter().collect();
    m.measure(EventKind::PodPrepared, image_fields(pod, &apps))
        .map(drop)
}

/// `app-started`, one per app: stage0 is about to exec `stage1` with
/// `argv` (the entrypoint's arguments) for the pod. The stage1 binary's
/// digest is cached in `cache_dir` by its identity.
pub fn apps_started(
    m: &Measurer,
    pod: &Pod,
    manifest: &PodManifest,
    stage1: &Stage1,
    argv: &[OsString],
    cache_dir: &Path,
) -> Result<(), MeasureError> {
    if !m.is_on() {
        return Ok(());
    }
    let path = &stage1.info().path;
    let stage1_digest = binary_digest(path, cache_dir).ok();
    let mut joined = Vec::new();
    for a in argv {
        joined.extend(a.as_bytes());
        joined.push(0);
    }
    let argv_digest = Digest::sha256_of(&joined).to_string();
    for app in &manifest.apps {
        let fields = Fields {
            app: Some(app.name.clone()),
            image: Some(app.image.name.clone()),
            stage1: Some(path.display().to_string()),
            stage1_digest: stage1_digest.clone(),
            argv_digest: Some(argv_digest.clone()),
            ..image_fields(pod, &[app])
        };
        m.measure(EventKind::AppStarted, fields)?;
    }
    Ok(())
}

/// `app-exited` for each app and `pod-exited`, once per pod: when `st` says
/// the pod is over with every exit code known and no one measured it yet.
pub fn pod_exited(m: &Measurer, pod: &Pod, st: &PodStatus) -> Result<(), MeasureError> {
    if !m.is_on() || !st.exited() {
        return Ok(());
    }
    let Some(code) = pod_exit_code(st) else {
        return Ok(());
    };
    // The first stage0 to create the marker measures; the others see it.
    let marker = pod.path.join(EXIT_MEASURED);
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_err()
    {
        return Ok(());
    }
    let base = Fields {
        pod: Some(pod.uuid.to_string()),
        manifest_digest: manifest_digest(pod),
        ..Fields::default()
    };
    let result = (|| {
        for a in &st.apps {
            let fields = Fields {
                app: Some(a.name.clone()),
                image: Some(a.image.clone()),
                exit_status: a.exit_code,
                ..base.clone()
            };
            m.measure(EventKind::AppExited, fields)?;
        }
        let fields = Fields {
            exit_status: Some(code),
            ..base.clone()
        };
        m.measure(EventKind::PodExited, fields)
    })();
    if result.is_err() {
        // Measured by the next stage0 that looks.
        let _ = std::fs::remove_file(&marker);
    }
    result.map(drop)
}

/// `image-verified`: `rec` was fetched (or found in the store) and checked
/// against its digests.
pub fn image_verified(m: &Measurer, rec: &ImageRecord) -> Result<(), MeasureError> {
    let fields = Fields {
        image: Some(rec.name.clone()),
        image_digests: vec![rec.manifest.to_string()],
        config_digests: vec![rec.id.to_string()],
        layers: rec.layers.iter().map(|l| l.diff_id.to_string()).collect(),
        ..Fields::default()
    };
    m.measure(EventKind::ImageVerified, fields).map(drop)
}

/// `pod-gc`: the pod was removed.
pub fn pod_gc(m: &Measurer, uuid: &crate::PodUuid) -> Result<(), MeasureError> {
    let fields = Fields {
        pod: Some(uuid.to_string()),
        ..Fields::default()
    };
    m.measure(EventKind::PodGc, fields).map(drop)
}

/// `sha256:` of the file at `path`, remembered in `cache_dir` under its
/// identity (device, inode, size, mtime, ctime): hashing a stage1 binary
/// costs milliseconds, a pod's start should not.
pub fn binary_digest(path: &Path, cache_dir: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let key = format!(
        "{} {} {} {}.{} {}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    let file = cache_dir.join(format!("digest-{}-{}", meta.dev(), meta.ino()));
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Some((k, d)) = text.trim_end().split_once('\n')
        && k == key
    {
        return Ok(d.to_string());
    }
    let mut hasher = rukt_images::digest::Hasher::new(rukt_images::digest::Algorithm::Sha256);
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = hasher.finish().to_string();
    // A cache: best effort, not synced.
    let text = format!("{key}\n{digest}\n");
    if let Err(e) = std::fs::create_dir_all(cache_dir)
        .and_then(|()| rukt_sys::atomic::write_replace(&file, text.as_bytes()))
    {
        tracing::debug!(error = %e, "cannot cache the stage1 binary's digest");
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_digest_is_cached_by_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, cache) = (dir.path().join("stage1"), dir.path().join("cache"));
        std::fs::write(&bin, b"one").unwrap();
        let first = binary_digest(&bin, &cache).unwrap();
        assert_eq!(first, Digest::sha256_of(b"one").to_string());
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        assert_eq!(binary_digest(&bin, &cache).unwrap(), first);
        // Rewritten in place (same inode): its ctime and size change, so it is hashed again.
        std::fs::write(&bin, b"two!").unwrap();
        assert_eq!(
            binary_digest(&bin, &cache).unwrap(),
            Digest::sha256_of(b"two!").to_string()
        );
    }
}
