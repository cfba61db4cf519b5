//! Preparing a pod: fetch its images, apply each image's config defaults
//! (entrypoint, cmd, env, user, working dir) under the user's flags, resolve
//! users against the image, check volumes, and create the pod directory
//! (`embryo/` → `prepare/`, locked) with its manifest. Nothing is created
//! until every input has been checked.

use std::collections::HashSet;

use rukt_contract::sdnotify::SdNotify;
use rukt_contract::{Feature, PodManifest, Sharing, Volume, VolumeKind};
use rukt_images::fetch::{Fetcher, Progress};
use rukt_images::store::{FileLock, ImageRecord, LockMode, Store, fsutil};

use crate::app_build::build_app;
use crate::id::PodUuid;
use crate::pod::{Pod, PodError, Pods, io_err};
use crate::spec::{AppSpec, PodSpec};
use crate::stage1::{self, Stage1};
use crate::state::Dir;
use crate::user;

/// Why a pod could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The pod directory could not be created or written.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// The stage1 is unusable.
    #[error(transparent)]
    Stage1(#[from] stage1::Stage1Error),
    /// The stage1 would not enforce what the pod asks.
    #[error(transparent)]
    Unsupported(#[from] crate::features::Unsupported),
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

pub(crate) fn invalid(msg: impl Into<String>) -> PrepareError {
    PrepareError::Invalid(msg.into())
}

/// `--sd-notify=app[:NAME]` resolved to an app of the pod (the first
/// without a name).
fn notifying_app(asked: &SdNotify, apps: &[rukt_contract::App]) -> Result<SdNotify, PrepareError> {
    let SdNotify::App(name) = asked else {
        return Ok(asked.clone());
    };
    let found = match name.as_str() {
        "" => apps.first(),
        n => apps.iter().find(|a| a.name == n),
    };
    found.map(|a| SdNotify::App(a.name.clone())).ok_or_else(|| {
        invalid(format!(
            "--sd-notify=app:{name}: the pod has no app {name:?}"
        ))
    })
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
    catalog: &rukt_net::Catalog,
    progress: &dyn Progress,
    durable: bool,
) -> Result<Preparing, PrepareError> {
    let stage1 = Stage1::probe(
        spec.stage1.as_deref().unwrap_or(stage1::DEFAULT_FLAVOR),
        store.root(),
    )?;
    // Before anything is fetched, created or mounted.
    stage1.require(crate::features::required_by_pod(spec))?;
    let cgroup_parent = match &spec.cgroup_parent {
        Some(p) => crate::cgroup_parent::check(p)?,
        None => None,
    };
    let volumes = check_volumes(spec)?;
    let (records, _pin) = fetch_images(store, fetcher, &spec.apps, progress)?;
    let mut apps = Vec::new();
    let mut names = HashSet::new();
    let mut volumes = volumes;
    for (spec_app, rec) in spec.apps.iter().zip(&records) {
        let mut app = build_app(
            store,
            spec_app,
            rec,
            &spec.environment,
            &volumes,
            &mut names,
        )?;
        crate::app_build::settle_stop_signal(&mut app, spec_app, &stage1);
        let (own, mounts) = crate::app_build::host_mounts(&app.name, spec_app)?;
        volumes.extend(own);
        app.mounts.extend(mounts);
        apps.push(app);
    }
    let net = crate::network::settle(spec, &stage1, catalog, store, &records)?;
    let sd_notify = notifying_app(&spec.sd_notify, &apps)?;
    let uuid = PodUuid::new_random();
    let manifest = PodManifest {
        interface_version: stage1.version(),
        uuid: uuid.to_string(),
        hostname: spec.hostname.clone(),
        stage1: stage1.info().clone(),
        apps,
        volumes,
        net: net.net,
        namespaces: rukt_contract::Namespaces {
            ipc: spec
                .ipc
                .unwrap_or_else(|| stage1.default_sharing(Sharing::Pod, Feature::ipc)),
            pid: spec
                .pid
                .unwrap_or_else(|| stage1.default_sharing(Sharing::Private, Feature::pid)),
        },
        resources: spec.resources,
        kvm: rukt_contract::KvmOptions {
            accel: spec.kvm_accel.unwrap_or_default(),
        },
        logs: spec.logs,
        sd_notify,
        sysctls: spec.sysctls.clone(),
        mutable: spec.mutable,
        cgroup_parent,
        created: rukt_images::store::index::now_rfc3339(),
        revision: 0,
        cni_path: if net.networks.is_empty() {
            Vec::new()
        } else {
            catalog.plugin_dirs.clone()
        },
        networks: net.networks,
        ports: net.ports,
        dns: spec.dns.clone(),
    };
    crate::sysctl::check(&manifest.sysctls, manifest.net, manifest.namespaces.ipc)?;
    let uuid_text = uuid.to_string();
    let aborted = |e: &PrepareError| crate::events::prepare_aborted(store.root(), &uuid_text, e);
    rukt_net::ports::reserve(store.root(), &uuid_text, &manifest.ports, |holder| {
        crate::network::holds_ports(pods, holder)
    })
    .map_err(|e| invalid(e.to_string()))
    .inspect_err(aborted)?;
    let confs: Vec<(String, Vec<u8>)> = manifest
        .networks
        .iter()
        .zip(&net.confs)
        .map(|(n, c)| (rukt_contract::net_conf(&n.name), c.to_json()))
        .collect();
    let (pod, lock) = create(pods, uuid, &manifest, &confs, durable)
        .map_err(PrepareError::from)
        .inspect_err(|e| {
            let _ = rukt_net::ports::release(store.root(), &uuid_text);
            aborted(e);
        })?;
    crate::events::prepared(store.root(), &manifest);
    Ok(Preparing {
        pod,
        lock,
        manifest,
        stage1,
    })
}

/// Fetches every app's image and pins the store: until the returned lock is
/// dropped, `image gc` (which takes the store lock exclusively) cannot remove
/// what was fetched, so the caller must name it in a manifest before that.
pub(crate) fn fetch_images(
    store: &Store,
    fetcher: &Fetcher<'_>,
    apps: &[AppSpec],
    progress: &dyn Progress,
) -> Result<(Vec<ImageRecord>, FileLock), PrepareError> {
    let mut records = Vec::new();
    for app in apps {
        let rec = fetcher
            .fetch(&app.image, progress)
            .map_err(|source| PrepareError::Fetch {
                image: app.image_input.clone(),
                source: Box::new(source),
            })?;
        store.mark_used(&rec.id);
        records.push(rec);
    }
    // Taken after fetching: a failed fetch rolls back only when no one else
    // holds the store lock.
    let pin = store.lock_store(LockMode::Shared)?;
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
    Ok((records, pin))
}

/// Creates `embryo/<uuid>`, locks it, moves it to `prepare/` and fills it;
/// removes it again on failure. `durable` syncs the manifest (a prepared
/// pod must survive a crash; one that runs at once is garbage after one).
fn create(
    pods: &Pods,
    uuid: PodUuid,
    manifest: &PodManifest,
    files: &[(String, Vec<u8>)],
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
            crate::run::create_app_dirs(&pod, &app.name)?;
        }
        for v in &manifest.volumes {
            if v.kind == VolumeKind::Empty {
                let d = p(&format!("{}/{}", rukt_contract::VOLUMES_DIR, v.name));
                std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
            }
        }
        let write = if durable {
            fsutil::write_atomic
        } else {
            fsutil::write_replace
        };
        for (rel, data) in files {
            let path = p(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            }
            write(&path, data).map_err(io_err("write", &path))?;
        }
        let mpath = p(rukt_contract::POD_MANIFEST);
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
            recursive: v.recursive,
            propagation: v.propagation,
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
