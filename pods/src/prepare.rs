//! Preparing a pod: fetch its images, apply each image's config defaults
//! (entrypoint, cmd, env, user, working dir) under the user's flags, resolve
//! users against the image, check volumes, and create the pod directory
//! (`embryo/` → `prepare/`, locked) with its manifest. Nothing is created
//! until every input has been checked.

use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use rukt_contract::{App, ImageInfo, Mount, PodManifest, Volume, VolumeKind};
use rukt_images::fetch::{Fetcher, Progress};
use rukt_images::store::{FileLock, ImageRecord, LockMode, Store, fsutil};

use crate::id::PodUuid;
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::spec::{AppSpec, PodSpec};
use crate::stage1::{self, Stage1};
use crate::state::Dir;
use crate::user;

/// `PATH` for apps whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a pod could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The pod directory could not be created or written.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The stage1 is unusable.
    #[error(transparent)]
    Stage1(#[from] stage1::Stage1Error),
    /// An image could not be fetched.
    #[error("cannot fetch {image}")]
    Fetch {
        /// The reference.
        image: String,
        /// The cause.
        #[source]
        source: Box<rukt_images::fetch::FetchError>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rukt_images::store::StoreError),
    /// User input that does not fit together.
    #[error("{0}")]
    Invalid(String),
    /// A user or group the image does not know.
    #[error("app {app}: {source}")]
    User {
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: user::UserError,
    },
}

fn invalid(msg: impl Into<String>) -> PrepareError {
    PrepareError::Invalid(msg.into())
}

/// A pod in `prepare/`, locked by this process.
pub struct Preparing {
    /// The pod.
    pub pod: Pod,
    /// Its exclusive lock.
    pub lock: FileLock,
    /// Its manifest, as written.
    pub manifest: PodManifest,
    /// The stage1 that will run it.
    pub stage1: Stage1,
}

/// Checks the spec, fetches images and creates the pod (see [`create`] for
/// `durable`).
pub fn prepare(
    pods: &Pods,
    store: &Store,
    fetcher: &Fetcher<'_>,
    spec: &PodSpec,
    progress: &dyn Progress,
    durable: bool,
) -> Result<Preparing, PrepareError> {
    let stage1 = Stage1::probe(
        spec.stage1.as_deref().unwrap_or(stage1::DEFAULT_FLAVOR),
        store.root(),
    )?;
    if stage1.info().flavor == "fly" {
        warn_fly_ignores(spec);
    }
    let volumes = check_volumes(spec)?;
    let mut records = Vec::new();
    for app in &spec.apps {
        let rec = fetcher
            .fetch(&app.image, progress)
            .map_err(|source| PrepareError::Fetch {
                image: app.image_input.clone(),
                source: Box::new(source),
            })?;
        store.mark_used(&rec.id);
        records.push(rec);
    }
    // From here until the manifest names the layers, `image gc` (which takes
    // the store lock exclusively) cannot remove them. Taken after fetching: a
    // failed fetch rolls back only when no one else holds the store lock.
    let _pin = store.lock_store(LockMode::Shared)?;
    // What a pod needs is the content; once the manifest names it, gc keeps it.
    for rec in &records {
        let present = rec.blobs().all(|b| store.has_blob(b))
            && rec.layers.iter().all(|l| store.has_layer(&l.diff_id));
        if !present {
            return Err(invalid(format!(
                "image {} was removed while the pod was being prepared; try again",
                rec.name
            )));
        }
    }
    let mut apps = Vec::new();
    let mut names = HashSet::new();
    for (spec_app, rec) in spec.apps.iter().zip(&records) {
        let app = build_app(
            store,
            spec_app,
            rec,
            &spec.environment,
            &volumes,
            &mut names,
        )?;
        apps.push(app);
    }
    let uuid = PodUuid::new_random();
    let manifest = PodManifest {
        interface_version: stage1.version(),
        uuid: uuid.to_string(),
        hostname: spec.hostname.clone(),
        stage1: stage1.info().clone(),
        apps,
        volumes,
        net: spec.net.unwrap_or_default(),
        namespaces: rukt_contract::Namespaces {
            ipc: spec.ipc.unwrap_or(rukt_contract::Sharing::Pod),
            pid: spec.pid.unwrap_or(rukt_contract::Sharing::Private),
        },
        resources: spec.resources,
        kvm: rukt_contract::KvmOptions {
            accel: spec.kvm_accel.unwrap_or_default(),
        },
        created: rukt_images::store::index::now_rfc3339(),
    };
    let (pod, lock) = create(pods, uuid, &manifest, durable)?;
    Ok(Preparing {
        pod,
        lock,
        manifest,
        stage1,
    })
}

/// fly shares the host's namespaces and sets no limits: say which of the
/// user's flags it will not honour.
fn warn_fly_ignores(spec: &PodSpec) {
    let mut ignored = Vec::new();
    let mut note = |given: bool, flag: &'static str| {
        if given && !ignored.contains(&flag) {
            ignored.push(flag);
        }
    };
    note(spec.hostname.is_some(), "--hostname");
    note(spec.net.is_some(), "--net");
    note(spec.ipc.is_some(), "--ipc");
    note(spec.pid.is_some(), "--pid");
    note(!spec.resources.is_empty(), "resource limits");
    for app in &spec.apps {
        note(!app.resources.is_empty(), "resource limits");
        note(
            app.caps_retain.is_some() || !app.caps_remove.is_empty(),
            "capability flags",
        );
        note(app.seccomp.is_some(), "--seccomp");
        note(app.oom_score_adj.is_some(), "--oom-score-adj");
    }
    if !ignored.is_empty() {
        tracing::warn!(
            "the fly stage1 runs apps in the host's namespaces without limits; ignoring {}",
            ignored.join(", ")
        );
    }
}

/// Creates `embryo/<uuid>`, locks it, moves it to `prepare/` and fills it;
/// removes it again on failure. `durable` syncs the manifest (a prepared
/// pod must survive a crash; one that runs at once is garbage after one).
fn create(
    pods: &Pods,
    uuid: PodUuid,
    manifest: &PodManifest,
    durable: bool,
) -> Result<(Pod, FileLock), PodError> {
    let path = pods.state_dir(Dir::Embryo).join(uuid.to_string());
    std::fs::create_dir(&path).map_err(io_err("create", &path))?;
    let embryo = Pod {
        uuid,
        dir: Dir::Embryo,
        path,
    };
    let fill = || -> Result<(Pod, FileLock), PodError> {
        let lock = embryo
            .try_lock(LockMode::Exclusive)?
            .ok_or(PodError::Busy(embryo.uuid))?;
        let pod = pods.move_to(&embryo, Dir::Prepare)?;
        let p = |rel: &str| pod.path.join(rel);
        for app in &manifest.apps {
            for dir in [
                format!("apps/{}/rootfs", app.name),
                format!("overlay/{}/upper", app.name),
                format!("overlay/{}/work", app.name),
            ] {
                std::fs::create_dir_all(p(&dir)).map_err(io_err("create", &p(&dir)))?;
            }
        }
        for v in &manifest.volumes {
            if v.kind == VolumeKind::Empty {
                let d = p(&format!("{}/{}", rukt_contract::VOLUMES_DIR, v.name));
                std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
            }
        }
        let mpath = p(rukt_contract::POD_MANIFEST);
        let write = if durable {
            fsutil::write_atomic
        } else {
            fsutil::write_replace
        };
        write(&mpath, &manifest.to_json()).map_err(io_err("write", &mpath))?;
        Ok((pod, lock))
    };
    fill().inspect_err(|_| {
        for d in [Dir::Embryo, Dir::Prepare] {
            let _ = std::fs::remove_dir_all(pods.state_dir(d).join(uuid.to_string()));
        }
    })
}

fn check_volumes(spec: &PodSpec) -> Result<Vec<Volume>, PrepareError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for v in &spec.volumes {
        if !rukt_contract::valid_app_name(&v.name) {
            return Err(invalid(format!(
                "volume name {:?}: use lowercase letters, digits and '-'",
                v.name
            )));
        }
        if !seen.insert(v.name.clone()) {
            return Err(invalid(format!("volume {:?} is defined twice", v.name)));
        }
        let kind = match &v.source {
            Some(src) => {
                if !src.exists() {
                    return Err(invalid(format!(
                        "volume {:?}: source {} does not exist",
                        v.name,
                        src.display()
                    )));
                }
                VolumeKind::Host {
                    source: src.clone(),
                }
            }
            None => VolumeKind::Empty,
        };
        out.push(Volume {
            name: v.name.clone(),
            kind,
            read_only: v.read_only,
        });
    }
    for app in &spec.apps {
        for (vol, _) in &app.mounts {
            if !seen.contains(vol) {
                return Err(invalid(format!(
                    "{}: --mount names volume {vol:?}, which no --volume defines",
                    app.image_input
                )));
            }
        }
    }
    Ok(out)
}

/// Sets `k` in an ordered environment, replacing an earlier value.
fn set(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    match env.iter_mut().find(|(ek, _)| ek == k) {
        Some(e) => e.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    }
}

fn build_app(
    store: &Store,
    spec: &AppSpec,
    rec: &ImageRecord,
    common_env: &[(String, String)],
    volumes: &[Volume],
    names: &mut HashSet<String>,
) -> Result<App, PrepareError> {
    let config: ImageConfiguration =
        serde_json::from_slice(&store.read_blob(&rec.id)?).map_err(|e| {
            invalid(format!(
                "{}: the stored image config is corrupt: {e}",
                rec.name
            ))
        })?;
    let c = config.config().clone().unwrap_or_default();
    let name = app_name(spec, rec, names)?;

    let exec = match (&spec.exec, &spec.args) {
        (Some(e), args) => std::iter::once(e.clone())
            .chain(args.iter().flatten().cloned())
            .collect(),
        (None, args) => {
            let entry = c.entrypoint().clone().unwrap_or_default();
            let rest = args
                .clone()
                .unwrap_or_else(|| c.cmd().clone().unwrap_or_default());
            entry.into_iter().chain(rest).collect::<Vec<_>>()
        }
    };
    if exec.is_empty() {
        return Err(invalid(format!(
            "app {name}: the image {} has no command; give one with --exec",
            rec.name
        )));
    }

    let mut env: Vec<(String, String)> = Vec::new();
    for kv in c.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            set(&mut env, k, v);
        }
    }
    for (k, v) in common_env.iter().chain(&spec.environment) {
        set(&mut env, k, v);
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        let (k, v) = DEFAULT_PATH.split_once('=').expect("constant has =");
        set(&mut env, k, v);
    }

    let layers: Vec<PathBuf> = rec
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_rootfs(&l.diff_id))
        .collect();
    let user_spec = spec
        .user
        .clone()
        .or_else(|| c.user().clone())
        .unwrap_or_default();
    let passwd = user::read_image_file(&layers, "passwd");
    let group = user::read_image_file(&layers, "group");
    let ids = user::resolve(
        &user_spec,
        spec.group.as_deref(),
        passwd.as_deref(),
        group.as_deref(),
    )
    .map_err(|source| PrepareError::User {
        app: name.clone(),
        source,
    })?;

    let working_dir = spec
        .working_dir
        .clone()
        .or_else(|| c.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !working_dir.starts_with('/') {
        return Err(invalid(format!(
            "app {name}: working directory {working_dir:?} is not absolute"
        )));
    }
    let mounts = spec
        .mounts
        .iter()
        .map(|(volume, target)| {
            debug_assert!(volumes.iter().any(|v| &v.name == volume));
            Mount {
                volume: volume.clone(),
                target: target.clone(),
            }
        })
        .collect();
    Ok(App {
        name,
        image: ImageInfo {
            name: rec.name.clone(),
            id: rec.id.to_string(),
            manifest: rec.manifest.to_string(),
            layers: rec.layers.iter().map(|l| l.diff_id.to_string()).collect(),
        },
        exec,
        working_dir,
        uid: ids.uid,
        gid: ids.gid,
        supplementary_gids: ids.supplementary,
        environment: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        readonly_rootfs: spec.readonly_rootfs,
        mounts,
        resources: spec.resources,
        capabilities: resolve_capabilities(spec.caps_retain.as_deref(), &spec.caps_remove),
        seccomp: spec.seccomp.clone(),
        oom_score_adj: spec.oom_score_adj,
    })
}

/// `--name`, or the image's last path component, made unique.
fn app_name(
    spec: &AppSpec,
    rec: &ImageRecord,
    names: &mut HashSet<String>,
) -> Result<String, PrepareError> {
    if let Some(n) = &spec.name {
        if !rukt_contract::valid_app_name(n) {
            return Err(invalid(format!(
                "app name {n:?}: use lowercase letters, digits and '-'"
            )));
        }
        if !names.insert(n.clone()) {
            return Err(invalid(format!("two apps are named {n:?}")));
        }
        return Ok(n.clone());
    }
    let base = rec.name.rsplit('/').next().unwrap_or("app");
    let base = base.split([':', '@']).next().unwrap_or("app");
    let mut clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    clean = clean.trim_matches('-').chars().take(48).collect();
    if clean.is_empty() {
        clean = "app".into();
    }
    let mut candidate = clean.clone();
    let mut n = 2;
    while !names.insert(candidate.clone()) {
        candidate = format!("{clean}-{n}");
        n += 1;
    }
    Ok(candidate)
}

/// The set an app gets: `retain` replaces the default set, then `remove`
/// takes names away (rkt's semantics for `--caps-retain`/`--caps-remove`).
pub fn resolve_capabilities(retain: Option<&[String]>, remove: &[String]) -> Vec<String> {
    let base: Vec<String> = match retain {
        Some(r) => r.to_vec(),
        None => rukt_contract::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for c in base {
        if !remove.contains(&c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        let all = rukt_contract::DEFAULT_CAPABILITIES.len();
        let set = resolve_capabilities(None, &["CAP_CHOWN".into()]);
        assert!(!set.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(set.len(), all - 1);
        let retain = ["CAP_NET_ADMIN".to_string(), "CAP_KILL".to_string()];
        assert_eq!(
            resolve_capabilities(Some(&retain), &["CAP_KILL".into()]),
            ["CAP_NET_ADMIN"]
        );
    }
}
