//! Turning one app of a request into its manifest entry: the image config's
//! defaults (entrypoint, cmd, env, user, working dir) under the request's
//! values, the user resolved against the image's `/etc/passwd` and
//! `/etc/group`, a unique app name, and the final capability set.

use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use rukt_contract::{App, ImageInfo, Mount, Volume};
use rukt_images::store::{ImageRecord, Store};

use crate::prepare::{PrepareError, invalid};
use crate::spec::AppSpec;
use crate::user;

/// `PATH` for apps whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Sets `k` in an ordered environment, replacing an earlier value.
fn set(env: &mut Vec<(String, String)>, k: &str, v: &str) {
    match env.iter_mut().find(|(ek, _)| ek == k) {
        Some(e) => e.1 = v.to_string(),
        None => env.push((k.to_string(), v.to_string())),
    }
}

/// The manifest entry of `spec` from its fetched image; `names` holds the
/// app names already taken in the pod.
pub(crate) fn build_app(
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
        supplementary_gids: {
            let mut gids = ids.supplementary;
            gids.extend(spec.extra_gids.iter().filter(|g| **g != ids.gid));
            gids.sort_unstable();
            gids.dedup();
            gids
        },
        environment: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        readonly_rootfs: spec.readonly_rootfs,
        mounts,
        resources: spec.resources,
        capabilities: if spec.security.privileged {
            rukt_contract::isolation::ALL_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect()
        } else {
            resolve_capabilities(spec.caps_retain.as_deref(), &spec.caps_remove)
        },
        seccomp: spec.seccomp.clone(),
        oom_score_adj: spec.oom_score_adj,
        log_file: spec.log_file.clone(),
        security: spec.security.clone(),
        stdin: spec.stdin,
        stdin_once: spec.stdin_once,
        stop_signal: stop_signal(spec, &rec.name, c.stop_signal().as_deref())?,
        tty: spec.tty,
    })
}

/// The app's stop signal: its own, else its image's; SIGTERM (the default
/// every engine sends) is left out.
fn stop_signal(
    spec: &AppSpec,
    image: &str,
    from_image: Option<&str>,
) -> Result<Option<String>, PrepareError> {
    let parsed = match (&spec.stop_signal, from_image.filter(|s| !s.is_empty())) {
        (Some(own), _) => {
            rukt_contract::signal::parse(own).map_err(|e| invalid(format!("--stop-signal: {e}")))?
        }
        (None, Some(theirs)) => rukt_contract::signal::parse(theirs)
            .map_err(|e| invalid(format!("{image}: the image's StopSignal: {e}")))?,
        (None, None) => return Ok(None),
    };
    Ok((parsed != "SIGTERM").then_some(parsed))
}

/// Drops a stop signal `app` has from its image (not asked for) when the
/// engine cannot send it: the image's `StopSignal` is a default, and such
/// an engine stops every app with SIGTERM.
pub(crate) fn settle_stop_signal(app: &mut App, spec: &AppSpec, stage1: &crate::stage1::Stage1) {
    if spec.stop_signal.is_none() && !stage1.enforces(rukt_contract::Feature::StopSignal) {
        app.stop_signal = None;
    }
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

/// The volumes and mounts of `spec`'s own host mounts, for the app named
/// `app`: one host volume each, `<app>.mount<N>` (a name no `--volume` can
/// take), mounted at its target.
pub(crate) fn host_mounts(
    app: &str,
    spec: &AppSpec,
) -> Result<(Vec<rukt_contract::Volume>, Vec<Mount>), PrepareError> {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    for (i, m) in spec.host_mounts.iter().enumerate() {
        if !m.source.is_absolute() || !m.source.exists() {
            return Err(invalid(format!(
                "app {app}: mount source {} does not exist",
                m.source.display()
            )));
        }
        if !m.target.starts_with('/') {
            return Err(invalid(format!(
                "app {app}: mount target {:?} is not absolute",
                m.target
            )));
        }
        let name = format!("{app}.mount{i}");
        volumes.push(rukt_contract::Volume {
            name: name.clone(),
            kind: rukt_contract::VolumeKind::Host {
                source: m.source.clone(),
            },
            read_only: m.read_only,
            recursive: m.recursive,
            propagation: m.propagation,
        });
        mounts.push(Mount {
            volume: name,
            target: m.target.clone(),
        });
    }
    Ok((volumes, mounts))
}

/// Whether `volume` is one of `app`'s own (from [`host_mounts`]).
pub(crate) fn owned_by(volume: &str, app: &str) -> bool {
    volume
        .strip_prefix(app)
        .and_then(|rest| rest.strip_prefix(".mount"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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

    #[test]
    fn an_apps_own_volumes_are_known_by_name() {
        assert!(owned_by("web.mount0", "web"));
        assert!(owned_by("web.mount12", "web"));
        assert!(!owned_by("web.mount", "web"));
        assert!(!owned_by("webx.mount0", "web"));
        assert!(!owned_by("web-data", "web"));
    }

    #[test]
    fn the_stop_signal_is_the_apps_else_the_images_and_sigterm_is_none() {
        let image = rukt_images::reference::ImageRef::parse("busybox").unwrap();
        let mut spec = AppSpec::new(image, "busybox");
        let from = |spec: &AppSpec, img: Option<&str>| stop_signal(spec, "busybox", img);
        assert_eq!(from(&spec, None).unwrap(), None);
        assert_eq!(from(&spec, Some("")).unwrap(), None);
        assert_eq!(from(&spec, Some("SIGTERM")).unwrap(), None, "the default");
        assert_eq!(from(&spec, Some("3")).unwrap().as_deref(), Some("SIGQUIT"));
        let e = from(&spec, Some("NOPE")).unwrap_err().to_string();
        assert!(e.contains("busybox: the image's StopSignal"), "{e}");
        spec.stop_signal = Some("int".into());
        assert_eq!(
            from(&spec, Some("SIGQUIT")).unwrap().as_deref(),
            Some("SIGINT"),
            "the app's own wins"
        );
    }
}
