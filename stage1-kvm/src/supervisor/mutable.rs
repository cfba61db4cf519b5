//! The supervisor's half of mutable pods: the `app-*` entrypoints' requests
//! (frames of kind `AppAdd`..`AppUpdate` with an `AppRequest`, on the
//! control socket), carried out in the one loop. An add reads the manifest
//! again, binds the app's root at `mutable/<id>` in the share (and its own
//! host volumes at `volumes/<name>`, [`crate::share_live`]), opens its log
//! and asks the guest to prepare it; the other requests go to the guest
//! as they are. Each entrypoint is answered with the guest's `Reply` (an
//! `app-stop` after the app's `Exit` was recorded); `AppStarted` writes
//! `status/<app>.started`, a removal unbinds the app's share and deletes
//! its status files. Ids are never reused, so a name added again is a new
//! app to the guest. The pod runs until it is stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use rukt_contract::runtime::applog::AppLog;
use rukt_contract::runtime::load_manifest;
use rukt_contract::{PodManifest, STATUS_DIR, Volume, VolumeKind};
use rukt_kvm_init::proto::{
    AppRequest, Frame, GuestApp, Kind, parse_reply, reply_payload, stop_payload,
};
use tracing::debug;

use super::Supervisor;
use super::attach::Attach;
use crate::share_live;

/// A mutable pod's state beyond its apps' output and exits.
pub struct Mutable {
    uuid: String,
    pod_dir: PathBuf,
    share_dir: PathBuf,
    virtiofsd: u32,
    /// The apps the pod has now: name → id.
    ids: BTreeMap<String, u32>,
    /// What was bound into the share for each added app.
    binds: BTreeMap<u32, Vec<String>>,
    /// Volumes the share has.
    volumes: BTreeSet<String>,
    /// Apps the guest started.
    pub(super) started: BTreeSet<u32>,
    /// The client session waiting for each app's answer, and what it asked.
    pending: BTreeMap<u32, (u32, Kind)>,
    /// The pod is being stopped: no more changes.
    pub(super) stopping: bool,
    /// The apps' attach points.
    pub(super) attach: Attach,
}

impl Mutable {
    /// The mutable pod `manifest`, in `pod_dir`, whose share (`share_dir`)
    /// virtiofsd `virtiofsd` serves.
    pub fn new(
        manifest: &PodManifest,
        pod_dir: PathBuf,
        share_dir: PathBuf,
        virtiofsd: u32,
    ) -> Mutable {
        Mutable {
            uuid: manifest.uuid.clone(),
            pod_dir,
            share_dir,
            virtiofsd,
            ids: manifest
                .apps
                .iter()
                .enumerate()
                .map(|(i, a)| (a.name.clone(), i as u32))
                .collect(),
            binds: BTreeMap::new(),
            volumes: manifest.volumes.iter().map(|v| v.name.clone()).collect(),
            started: (0..manifest.apps.len() as u32).collect(),
            pending: BTreeMap::new(),
            stopping: false,
            attach: Attach::default(),
        }
    }

    /// Whether app `id` is one of the pod's (not removed).
    pub(super) fn has(&self, id: u32) -> bool {
        self.ids.values().any(|i| *i == id)
    }

    fn host_source(&self, v: &Volume) -> PathBuf {
        match &v.kind {
            VolumeKind::Host { source } => source.clone(),
            VolumeKind::Empty => self.pod_dir.join(rukt_contract::VOLUMES_DIR).join(&v.name),
        }
    }

    fn unbind(&mut self, id: u32) {
        for rel in self.binds.remove(&id).unwrap_or_default().iter().rev() {
            if let Err(e) = share_live::unbind(self.virtiofsd, &self.share_dir, rel) {
                tracing::warn!("{e:#}");
            }
            if let Some(name) = rel.strip_prefix("volumes/") {
                self.volumes.remove(name);
            }
        }
    }
}

impl Supervisor {
    /// An `app-*` request from client `session`: its answer now, or `None`
    /// when the guest will give it.
    pub(super) fn app_call(
        &mut self,
        session: u32,
        kind: Kind,
        payload: &[u8],
    ) -> anyhow::Result<Option<Result<(), String>>> {
        let req: AppRequest = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => return Ok(Some(Err(format!("invalid request: {e}")))),
        };
        let Some(m) = self.mutable.as_ref() else {
            return Ok(Some(Err("the pod is not mutable".into())));
        };
        if m.stopping {
            return Ok(Some(Err("the pod is stopping".into())));
        }
        let known = m.ids.get(&req.app).copied();
        let frame = match (kind, known) {
            (Kind::AppAdd, Some(_)) => {
                return Ok(Some(Err(format!(
                    "the pod already has an app {:?}",
                    req.app
                ))));
            }
            (Kind::AppAdd, None) => match self.add(&req.app) {
                Ok(f) => f,
                Err(e) => return Ok(Some(Err(e))),
            },
            // Never added (an interrupted `app add`): nothing to forget.
            (Kind::AppRm, None) => return Ok(Some(Ok(()))),
            (_, None) => return Ok(Some(Err(format!("the pod has no app {:?}", req.app)))),
            (Kind::AppStop, Some(id)) => {
                // 0: SIGKILL at once (`--force`, or `--timeout=0`).
                let secs = if req.force { 0 } else { req.timeout_secs };
                Frame::new(Kind::AppStop, id, stop_payload(secs))
            }
            (Kind::AppUpdate, Some(id)) => {
                let manifest = match load_manifest(&m.uuid) {
                    Ok(p) => p,
                    Err(e) => return Ok(Some(Err(e.to_string()))),
                };
                let Some(app) = manifest.app(&req.app) else {
                    return Ok(Some(Err(format!(
                        "the pod's manifest has no app {:?}",
                        req.app
                    ))));
                };
                Frame::new(Kind::AppUpdate, id, serde_json::to_vec(&app.resources)?)
            }
            (kind, Some(id)) => Frame::new(kind, id, Vec::new()),
        };
        let m = self.mutable.as_mut().expect("a mutable pod");
        if m.pending.contains_key(&frame.id) {
            return Ok(Some(Err(format!(
                "app {} is busy with another request",
                req.app
            ))));
        }
        m.pending.insert(frame.id, (session, kind));
        self.send_guest(&frame)?;
        Ok(None)
    }

    /// Binds the app stage0 added to the manifest into the share and opens
    /// its log; the frame that asks the guest to prepare it.
    fn add(&mut self, name: &str) -> Result<Frame, String> {
        let m = self.mutable.as_mut().expect("a mutable pod");
        let manifest = load_manifest(&m.uuid).map_err(|e| e.to_string())?;
        let app = manifest
            .app(name)
            .ok_or_else(|| format!("the pod's manifest has no app {name:?}"))?
            .clone();
        let id = self.apps.len() as u32;
        let root = format!("mutable/{id}");
        let mut binds = Vec::new();
        let mut volumes = Vec::new();
        let mut bind_all = || -> anyhow::Result<()> {
            let source = m.pod_dir.join(rukt_contract::app_rootfs(name));
            share_live::bind(m.virtiofsd, &m.share_dir, &root, &source, false)?;
            binds.push(root.clone());
            for mount in &app.mounts {
                let Some(v) = manifest.volumes.iter().find(|v| v.name == mount.volume) else {
                    anyhow::bail!("app {name}: no volume {:?}", mount.volume);
                };
                if m.volumes.contains(&v.name) {
                    continue;
                }
                let rel = format!("volumes/{}", v.name);
                let source = m.host_source(v);
                share_live::bind(m.virtiofsd, &m.share_dir, &rel, &source, v.read_only)?;
                binds.push(rel);
                m.volumes.insert(v.name.clone());
                volumes.push(v.clone());
            }
            Ok(())
        };
        let bound = bind_all();
        m.binds.insert(id, binds);
        if let Err(e) = bound {
            m.unbind(id);
            return Err(format!("{e:#}"));
        }
        m.ids.insert(name.to_string(), id);
        if let Err(e) = m.attach.open(id, &app) {
            tracing::warn!("app {name}: cannot open its attach point: {e}");
        }
        let log = AppLog::for_app(&m.pod_dir, &app, manifest.logs)
            .inspect_err(|e| tracing::warn!("app {name}: cannot open its log file: {e}"))
            .ok();
        self.logs.push(log);
        self.apps.push(name.to_string());
        self.outcome.codes.push(None);
        let add = GuestApp { app, root, volumes };
        let payload = serde_json::to_vec(&add).map_err(|e| e.to_string())?;
        Ok(Frame::new(Kind::AppAdd, id, payload))
    }

    /// The guest answered the request about app `id`.
    pub(super) fn guest_reply(&mut self, id: u32, payload: &[u8]) {
        let Some(m) = self.mutable.as_mut() else {
            return;
        };
        let Some((session, kind)) = m.pending.remove(&id) else {
            return;
        };
        let outcome = parse_reply(payload);
        debug!("app {id}: {kind:?} answered {outcome:?}");
        let name = self.apps.get(id as usize).cloned().unwrap_or_default();
        match (kind, &outcome) {
            (Kind::AppAdd, Err(_)) => self.forget(id, &name),
            (Kind::AppRm, Ok(())) => {
                self.forget(id, &name);
                for file in [
                    name.clone(),
                    format!("{name}.reason"),
                    format!("{name}.started"),
                ] {
                    let _ = std::fs::remove_file(PathBuf::from(STATUS_DIR).join(file));
                }
            }
            _ => {}
        }
        if let Some(c) = self.clients.get_mut(&session) {
            let frame = Frame::new(Kind::Reply, 0, reply_payload(&outcome));
            if c.stream.write_all(&frame.encode()).is_err() {
                self.clients.remove(&session);
            }
        }
    }

    /// The guest started app `id`.
    pub(super) fn app_started(&mut self, id: u32) -> anyhow::Result<()> {
        let Some(name) = self.apps.get(id as usize).cloned() else {
            return Ok(());
        };
        crate::pod::write_file(STATUS_DIR, &format!("{name}.started"), b"")?;
        self.events.app_started(&name);
        if let Some(m) = self.mutable.as_mut() {
            m.started.insert(id);
        }
        Ok(())
    }

    /// App `id` is no longer the pod's: its share, log and name go.
    fn forget(&mut self, id: u32, name: &str) {
        let Some(m) = self.mutable.as_mut() else {
            return;
        };
        m.unbind(id);
        m.attach.close(id);
        m.ids.remove(name);
        m.started.remove(&id);
        self.logs.close(id as usize);
    }

    /// The pod is stopping: no more changes.
    pub(super) fn stopping(&mut self) {
        if let Some(m) = self.mutable.as_mut() {
            m.stopping = true;
        }
    }
}
