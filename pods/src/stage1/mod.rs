//! The one way into a stage1: the [`Stage1`] handle, made by probing the
//! engine ([`probe`]), runs each of its entrypoints from a read-only view of
//! its binary (`exe_guard`), in the pod directory, with no descriptor but
//! stdio and those the contract names (the pod lock, socket activation's),
//! and refuses up front what the engine would not enforce.

pub mod probe;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitStatus;

use rukt_contract::{
    Feature, NetMode, PodManifest, STAGE0_CACHE, Sharing, Stage1Features, Stage1Info,
};

pub use probe::{Stage1Error, locate};

use crate::exe_guard::Stage1Command;
use crate::features::Unsupported;
use crate::pod::Pod;

/// The default engine.
pub const DEFAULT_FLAVOR: &str = "nspawn";

/// A stage1, what it enforces, and the interface version agreed with it:
/// every call into a stage1 goes through this.
#[derive(Debug, Clone)]
pub struct Stage1 {
    info: Stage1Info,
    version: u32,
    features: Stage1Features,
}

impl Stage1 {
    /// Finds `flavor_or_path` for a new pod and agrees on the highest
    /// version both sides speak (the answers are cached in the store at
    /// `store_root`).
    pub fn probe(flavor_or_path: &str, store_root: &Path) -> Result<Stage1, Stage1Error> {
        let (flavor, path) = locate(flavor_or_path)?;
        let features =
            probe::probe_cached(&path, &rukt_contract::cache_dir(store_root, STAGE0_CACHE))?;
        let version = rukt_contract::agree(&features.interface_versions)
            .expect("probe refuses a stage1 without a common version");
        let features = features.at_version(version);
        Ok(Stage1 {
            info: Stage1Info {
                flavor,
                path,
                interface_versions: features.interface_versions.clone(),
            },
            version,
            features,
        })
    }

    /// What it enforces at the agreed version.
    pub fn features(&self) -> &Stage1Features {
        &self.features
    }

    /// The stage1 `pod` was made for, with the version its manifest records.
    pub fn for_pod(pod: &Pod, manifest: &PodManifest) -> Result<Stage1, Stage1Error> {
        let path = &manifest.stage1.path;
        let features = match rukt_contract::store_of_pod(&pod.path) {
            Some(store) => {
                probe::probe_cached(path, &rukt_contract::cache_dir(store, STAGE0_CACHE))?
            }
            None => probe::probe(path)?,
        };
        if !features
            .interface_versions
            .contains(&manifest.interface_version)
        {
            // Replaced by a stage1 that no longer speaks the pod's version.
            return Err(Stage1Error::Incompatible {
                path: path.clone(),
                versions: features.interface_versions,
            });
        }
        Ok(Stage1 {
            info: manifest.stage1.clone(),
            version: manifest.interface_version,
            features: features.at_version(manifest.interface_version),
        })
    }

    /// Where it is and what it declared.
    pub fn info(&self) -> &Stage1Info {
        &self.info
    }

    /// The interface version both sides speak.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether it enforces `f`.
    pub fn enforces(&self, f: Feature) -> bool {
        self.features.enforces(f)
    }

    /// The network a pod gets when none is asked: its own (`none`), unless
    /// the engine can only give the host's (fly), so that the manifest says
    /// what the pod really has.
    pub fn default_net(&self) -> NetMode {
        if !self.enforces(Feature::NetNone) && self.enforces(Feature::NetHost) {
            NetMode::Host
        } else {
            NetMode::None
        }
    }

    /// The sharing of a namespace when none is asked: `preferred` (the
    /// contract's default) if the engine provides it, else the first mode it
    /// does provide (kvm's guest has one PID namespace, fly only the
    /// host's), so that the manifest says what the pod really has.
    pub fn default_sharing(&self, preferred: Sharing, feature: fn(Sharing) -> Feature) -> Sharing {
        [preferred, Sharing::Pod, Sharing::Private, Sharing::Host]
            .into_iter()
            .find(|m| self.enforces(feature(*m)))
            .unwrap_or(preferred)
    }

    /// Refuses what it would not enforce.
    pub fn require(&self, need: impl IntoIterator<Item = Feature>) -> Result<(), Unsupported> {
        let missing: BTreeSet<Feature> = need.into_iter().filter(|f| !self.enforces(*f)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Unsupported {
                flavor: self.info.flavor.clone(),
                missing,
            })
        }
    }

    /// The command for one entrypoint of `pod`, started in the pod directory
    /// with only stdio and `keep` open.
    fn command(&self, pod: &Pod, argv: Vec<OsString>, keep: Vec<RawFd>) -> Stage1Command {
        let mut cmd = command(&self.info.path, keep);
        cmd.args(argv).current_dir(&pod.path);
        cmd
    }

    /// Execs an entrypoint that becomes the caller (`run`, `enter`), with
    /// `env` set, passing on the descriptors `keep`; returns only if exec
    /// failed.
    pub fn exec(
        &self,
        pod: &Pod,
        argv: Vec<OsString>,
        env: &[(&str, String)],
        keep: Vec<RawFd>,
    ) -> std::io::Error {
        let mut cmd = self.command(pod, argv, keep);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.exec()
    }

    /// Starts an entrypoint as a child in its own process group (so the
    /// caller can kill all of it) with `stdio` as its stdin, stdout and
    /// stderr, and returns without waiting (`enter` for CRI ExecSync).
    pub fn spawn(
        &self,
        pod: &Pod,
        argv: Vec<OsString>,
        stdio: [std::process::Stdio; 3],
    ) -> std::io::Result<std::process::Child> {
        let [stdin, stdout, stderr] = stdio;
        let mut cmd = self.command(pod, argv, Vec::new());
        cmd.stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        // The read-only view may close once the child has exec'd.
        cmd.spawn()
    }

    /// Starts an entrypoint that outlives the caller (a mutable pod's `run`
    /// for `rukt cri`): in a session of its own, with `env` set, stdin and
    /// stdout on `/dev/null`, stderr on `stderr`, passing on `keep`.
    pub fn spawn_detached(
        &self,
        pod: &Pod,
        argv: Vec<OsString>,
        env: &[(&str, String)],
        keep: Vec<RawFd>,
        stderr: impl Into<std::process::Stdio>,
    ) -> std::io::Result<std::process::Child> {
        let mut cmd = self.command(pod, argv, keep);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(stderr);
        rukt_sys::session::setsid_on_exec(&mut cmd);
        cmd.spawn()
    }

    /// Runs an entrypoint that returns (`stop`, `gc`, `app-*`) and waits.
    pub fn call(&self, pod: &Pod, argv: Vec<OsString>) -> std::io::Result<ExitStatus> {
        self.command(pod, argv, Vec::new()).status()
    }
}

/// The variables of systemd's protocols: only `run` may pass them on, and
/// only as [`crate::run`] decides; every other call of a stage1 gets none.
const SYSTEMD_ENV: [&str; 4] = [
    rukt_contract::ENV_LISTEN_FDS,
    rukt_contract::ENV_LISTEN_FDNAMES,
    rukt_contract::ENV_LISTEN_PID,
    rukt_contract::ENV_NOTIFY_SOCKET,
];

/// A command running the stage1 at `path`: from a read-only view of its
/// binary, with only stdio and `keep` open and none of systemd's variables.
pub(crate) fn command(path: &Path, keep: Vec<RawFd>) -> Stage1Command {
    let mut cmd = crate::exe_guard::command(path);
    for k in SYSTEMD_ENV {
        cmd.env_remove(k);
    }
    rukt_sys::fds::close_fds_on_exec(&mut cmd, keep);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage1(enforces: &[Feature]) -> Stage1 {
        Stage1 {
            info: Stage1Info {
                flavor: "test".into(),
                path: "/x".into(),
                interface_versions: vec![1, 2],
            },
            version: 2,
            features: Stage1Features {
                interface_versions: vec![1, 2],
                enforces: enforces.iter().copied().collect(),
            },
        }
    }

    #[test]
    fn defaults_are_what_the_engine_really_gives() {
        let all = stage1(&Feature::ALL);
        assert_eq!(all.default_net(), NetMode::None);
        assert_eq!(
            all.default_sharing(Sharing::Private, Feature::pid),
            Sharing::Private
        );
        let fly = stage1(&[Feature::NetHost, Feature::IpcHost, Feature::PidHost]);
        assert_eq!(fly.default_net(), NetMode::Host);
        assert_eq!(
            fly.default_sharing(Sharing::Pod, Feature::ipc),
            Sharing::Host
        );
        assert_eq!(
            fly.default_sharing(Sharing::Private, Feature::pid),
            Sharing::Host
        );
        let kvm = stage1(&[Feature::NetNone, Feature::IpcPod, Feature::PidPod]);
        assert_eq!(kvm.default_net(), NetMode::None);
        assert_eq!(
            kvm.default_sharing(Sharing::Private, Feature::pid),
            Sharing::Pod
        );
        let v1_unknown = stage1(&[]);
        assert_eq!(
            v1_unknown.default_sharing(Sharing::Private, Feature::pid),
            Sharing::Private
        );
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let e = stage1(&[Feature::Hostname])
            .require([Feature::Hostname, Feature::Seccomp])
            .unwrap_err();
        assert_eq!(e.missing, [Feature::Seccomp].into_iter().collect());
        assert!(
            e.to_string()
                .contains("the test stage1 does not enforce --seccomp"),
            "{e}"
        );
    }
}
