//! Preparing a pod: fetch its images, apply each image's config defaults
//! (entrypoint, cmd, env, user, working dir) under the user's flags, resolve
//! users against the image, check volumes, and create the pod directory
//! (`embryo/` → `prepare/`, locked) with its manifest. Nothing is created
//! until every input has been checked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use rukt_contract::{App, ImageInfo, Mount, PodManifest, Volume, VolumeKind};
use rukt_images::fetch::{Fetcher, Progress};
use rukt_images::reference::ImageRef;
use rukt_images::store::{FileLock, ImageRecord, LockMode, Store, fsutil};

use super::spec::{AppSpec, PodSpec};
use super::{Dir, Pod, PodError, Pods, io_err, user};
use crate::stage1;

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
    /// The image reference is malformed.
    #[error(transparent)]
    Reference(#[from] rukt_images::reference::ReferenceError),
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
    let stage1 = stage1::probe_cached(
        spec.stage1.as_deref().unwrap_or(stage1::DEFAULT_FLAVOR),
        &store.root().join("cache/stage1"),
    )?;
    if stage1.flavor == "fly" {
        warn_fly_ignores(spec);
    }
    let volumes = check_volumes(spec)?;
    let common_env = common_environment(spec)?;
    let mut records = Vec::new();
    for app in &spec.apps {
        let image = ImageRef::parse(&app.image)?;
        let rec = fetcher
            .fetch(&image, progress)
            .map_err(|source| PrepareError::Fetch {
                image: app.image.clone(),
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
        let app = build_app(store, spec_app, rec, &common_env, &volumes, &mut names)?;
        apps.push(app);
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let manifest = PodManifest {
        interface_version: stage1::agreed_version(&stage1),
        uuid: uuid.clone(),
        hostname: spec.hostname.clone(),
        stage1,
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
    let (pod, lock) = create(pods, &manifest, durable)?;
    Ok(Preparing {
        pod,
        lock,
        manifest,
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
fn create(pods: &Pods, manifest: &PodManifest, durable: bool) -> Result<(Pod, FileLock), PodError> {
    let path = pods.state_dir(Dir::Embryo).join(&manifest.uuid);
    std::fs::create_dir(&path).map_err(io_err("create", &path))?;
    let embryo = Pod {
        uuid: manifest.uuid.clone(),
        dir: Dir::Embryo,
        path,
    };
    let fill = || -> Result<(Pod, FileLock), PodError> {
        let lock = embryo
            .try_lock(LockMode::Exclusive)?
            .ok_or_else(|| PodError::Busy(embryo.uuid.clone()))?;
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
            let _ = std::fs::remove_dir_all(pods.state_dir(d).join(&manifest.uuid));
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
                    app.image
                )));
            }
        }
    }
    Ok(out)
}

/// `--inherit-env`, `--set-env-file`, `--set-env`, lowest precedence first.
fn common_environment(spec: &PodSpec) -> Result<Vec<(String, String)>, PrepareError> {
    let mut env = Vec::new();
    if spec.inherit_env {
        env.extend(std::env::vars());
    }
    for file in &spec.set_env_files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| invalid(format!("--set-env-file {}: {e}", file.display())))?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line.split_once('=').ok_or_else(|| {
                invalid(format!(
                    "--set-env-file {}: {line:?} is not NAME=VALUE",
                    file.display()
                ))
            })?;
            env.push((k.to_string(), v.to_string()));
        }
    }
    env.extend(spec.set_env.iter().cloned());
    Ok(env)
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
        capabilities: super::isolation::resolve_capabilities(
            spec.caps_retain.as_deref(),
            &spec.caps_remove,
        ),
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

/// The layer directories of an app, top first, for mounting.
pub fn app_lowers(store_root: &Path, app: &App) -> Vec<PathBuf> {
    app.image
        .layers
        .iter()
        .rev()
        .map(|d| {
            let (alg, hex) = d.split_once(':').unwrap_or(("sha256", d));
            store_root.join("layers").join(alg).join(hex).join("rootfs")
        })
        .collect()
}
