//! The words of `rukt run`/`prepare`, parsed rkt-style into the library's
//! typed request ([`PodSpec`]) and what only the command line has:
//!
//! ```text
//! rukt run [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS...] [--- IMAGE [APP FLAGS] [-- ARGS...]]...
//! ```
//!
//! App flags bind to the image before them; pod flags may stand anywhere
//! outside an app's `-- ARGS`. Both `--flag=value` and `--flag value` work.
//! Every error here is a usage error (exit code 2).

use std::path::PathBuf;

use clap::ValueEnum;
use rukt_contract::sdnotify::SdNotify;
use rukt_contract::{KvmAccel, Resources, Sharing};
use rukt_images::fetch::PullPolicy;
use rukt_images::reference::ImageRef;
use rukt_pods::{AppSpec, PodSpec, VolumeSpec};

use super::PullPolicyArg;
use super::flags as isolation;

/// A parse error, worded for the command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// An app flag before any image.
    #[error("{0} is an app flag; put it after the image it applies to")]
    AppFlagWithoutImage(String),
    /// A flag nobody knows.
    #[error("unknown flag {0}")]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// A malformed value.
    #[error("invalid {flag} value {value:?}: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No image at all.
    #[error("no image given")]
    NoImage,
    /// `rukt app sandbox` starts a pod without apps.
    #[error("rukt app sandbox takes the pod's flags only; add apps with `rukt app add`")]
    SandboxImage,
    /// `rukt app add` takes one image and its app flags only.
    #[error("rukt app add takes one IMAGE with its app flags (and --pull-policy, --quiet)")]
    NotOneApp,
    /// An image reference that does not parse.
    #[error("invalid image {input:?}: {reason}")]
    Image {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

/// Everything `run`/`prepare` was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunWords {
    /// The pod, for the library. Its `environment` holds `--set-env` only;
    /// the verb adds `--inherit-env` and `--set-env-file` below it.
    pub spec: PodSpec,
    /// `--uuid-file-save`.
    pub uuid_file_save: Option<PathBuf>,
    /// `--set-env-file FILE` (every app).
    pub set_env_files: Vec<PathBuf>,
    /// `--inherit-env`.
    pub inherit_env: bool,
    /// `--pull-policy`.
    pub pull_policy: PullPolicy,
    /// `--stall-timeout` and `--timeout`.
    pub limits: FetchLimits,
    /// `--quiet`.
    pub quiet: bool,
}

/// The fetch's `--stall-timeout` and `--timeout`, where given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchLimits {
    /// `--stall-timeout`.
    pub stall_timeout: Option<std::time::Duration>,
    /// `--timeout`.
    pub timeout: Option<std::time::Duration>,
}

const APP_FLAGS: [&str; 18] = [
    "--stop-signal",
    "--stdin",
    "--stdin-once",
    "--tty",
    "--privileged",
    "--security-opt",
    "--caps-retain",
    "--caps-remove",
    "--seccomp",
    "--oom-score-adj",
    "--name",
    "--exec",
    "--working-dir",
    "--user",
    "--group",
    "--environment",
    "--readonly-rootfs",
    "--mount",
];

impl RunWords {
    /// Parses the words after `run`/`prepare`.
    pub fn parse(words: &[String]) -> Result<RunWords, SpecError> {
        let out = Self::parse_any(words)?;
        if out.spec.apps.is_empty() {
            return Err(SpecError::NoImage);
        }
        Ok(out)
    }

    /// Parses the words after `app sandbox`: the pod's flags, no image.
    pub fn parse_sandbox(words: &[String]) -> Result<RunWords, SpecError> {
        let out = Self::parse_any(words)?;
        if !out.spec.apps.is_empty() {
            return Err(SpecError::SandboxImage);
        }
        Ok(out)
    }

    fn parse_any(words: &[String]) -> Result<RunWords, SpecError> {
        let mut out = RunWords::default();
        let spec = &mut out.spec;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            i += 1;
            if w == "---" {
                continue;
            }
            if w == "--" {
                let app = spec.apps.last_mut().ok_or(SpecError::NoImage)?;
                let end = words[i..]
                    .iter()
                    .position(|x| x == "---")
                    .map_or(words.len(), |p| i + p);
                app.args = Some(words[i..end].to_vec());
                i = end;
                continue;
            }
            // podman's short `-p`.
            let long;
            let w = match w.strip_prefix("-p") {
                Some("") => "--publish",
                Some(v) if !w.starts_with("--") => {
                    long = format!("--publish={}", v.trim_start_matches('='));
                    long.as_str()
                }
                _ => w.as_str(),
            };
            // podman's short `-t`.
            let w = if w == "-t" { "--tty" } else { w };
            let Some(flag_body) = w.strip_prefix("--") else {
                let image = ImageRef::parse(w).map_err(|e| SpecError::Image {
                    input: w.to_string(),
                    reason: e.to_string(),
                })?;
                spec.apps.push(AppSpec::new(image, w));
                continue;
            };
            let (flag, inline) = match flag_body.split_once('=') {
                Some((f, v)) => (format!("--{f}"), Some(v.to_string())),
                None => (w.to_string(), None),
            };
            let mut value = |name: &str| -> Result<String, SpecError> {
                if let Some(v) = &inline {
                    return Ok(v.clone());
                }
                let v = words
                    .get(i)
                    .cloned()
                    .ok_or_else(|| SpecError::MissingValue(name.to_string()))?;
                i += 1;
                Ok(v)
            };
            if let Some(parse) = resource_flag(&flag) {
                let v = value(&flag)?;
                let target = match spec.apps.last_mut() {
                    Some(app) => &mut app.resources,
                    None => &mut spec.resources,
                };
                parse(target, &v)?;
                continue;
            }
            if APP_FLAGS.contains(&flag.as_str()) {
                let Some(app) = spec.apps.last_mut() else {
                    return Err(SpecError::AppFlagWithoutImage(flag));
                };
                match flag.as_str() {
                    "--name" => app.name = Some(value("--name")?),
                    "--exec" => app.exec = Some(value("--exec")?),
                    "--working-dir" => app.working_dir = Some(value("--working-dir")?),
                    "--user" => app.user = Some(value("--user")?),
                    "--group" => app.group = Some(value("--group")?),
                    "--environment" => app
                        .environment
                        .push(key_value("--environment", &value("--environment")?)?),
                    "--readonly-rootfs" => {
                        app.readonly_rootfs = inline
                            .as_deref()
                            .map_or(Ok(true), |v| boolean("--readonly-rootfs", v))?
                    }
                    "--mount" => match mount(&value("--mount")?)? {
                        Mounted::Volume(volume, target) => app.mounts.push((volume, target)),
                        Mounted::Host(m) => app.host_mounts.push(m),
                    },
                    "--caps-retain" => {
                        app.caps_retain = Some(isolation::capabilities(
                            "--caps-retain",
                            &value("--caps-retain")?,
                        )?)
                    }
                    "--caps-remove" => app.caps_remove.extend(isolation::capabilities(
                        "--caps-remove",
                        &value("--caps-remove")?,
                    )?),
                    "--seccomp" => app.seccomp = Some(isolation::seccomp(&value("--seccomp")?)?),
                    "--stop-signal" => {
                        let v = value("--stop-signal")?;
                        rukt_contract::signal::parse(&v).map_err(|_| SpecError::Invalid {
                            flag: "--stop-signal",
                            value: v.clone(),
                            reason: "expected a signal name (SIGQUIT, QUIT) or a number from 1 to 64",
                        })?;
                        app.stop_signal = Some(v);
                    }
                    "--stdin" => {
                        app.stdin = inline
                            .as_deref()
                            .map_or(Ok(true), |v| boolean("--stdin", v))?
                    }
                    "--stdin-once" => {
                        app.stdin_once = inline
                            .as_deref()
                            .map_or(Ok(true), |v| boolean("--stdin-once", v))?;
                        app.stdin |= app.stdin_once;
                    }
                    "--tty" => {
                        app.tty = inline
                            .as_deref()
                            .map_or(Ok(true), |v| boolean("--tty", v))?
                    }
                    "--privileged" => {
                        app.security.privileged = inline
                            .as_deref()
                            .map_or(Ok(true), |v| boolean("--privileged", v))?
                    }
                    "--security-opt" => security_opt(&mut app.security, &value("--security-opt")?)?,
                    "--oom-score-adj" => {
                        app.oom_score_adj = Some(isolation::number(
                            "--oom-score-adj",
                            &value("--oom-score-adj")?,
                            -1000,
                            1000,
                            "expected -1000 to 1000",
                        )?)
                    }
                    _ => unreachable!("listed in APP_FLAGS"),
                }
                continue;
            }
            match flag.as_str() {
                "--volume" => spec.volumes.push(volume(&value("--volume")?)?),
                "--hostname" => spec.hostname = Some(value("--hostname")?),
                "--stage1" => spec.stage1 = Some(value("--stage1")?),
                "--uuid-file-save" => {
                    out.uuid_file_save = Some(PathBuf::from(value("--uuid-file-save")?))
                }
                "--set-env" => spec
                    .environment
                    .push(key_value("--set-env", &value("--set-env")?)?),
                "--set-env-file" => out
                    .set_env_files
                    .push(PathBuf::from(value("--set-env-file")?)),
                "--inherit-env" => {
                    out.inherit_env = inline
                        .as_deref()
                        .map_or(Ok(true), |v| boolean("--inherit-env", v))?
                }
                "--interactive" => {
                    spec.interactive = inline
                        .as_deref()
                        .map_or(Ok(true), |v| boolean("--interactive", v))?
                }
                "--pull-policy" => {
                    let v = value("--pull-policy")?;
                    out.pull_policy = PullPolicyArg::from_str(&v, false)
                        .map_err(|_| SpecError::Invalid {
                            flag: "--pull-policy",
                            value: v,
                            reason: "expected never, new or update",
                        })?
                        .into()
                }
                "--stall-timeout" | "--timeout" => {
                    let name = if flag == "--timeout" {
                        "--timeout"
                    } else {
                        "--stall-timeout"
                    };
                    let v = value(name)?;
                    let d = super::positive_duration(&v).map_err(|_| SpecError::Invalid {
                        flag: name,
                        value: v,
                        reason: "expected a duration such as 30s or 2m",
                    })?;
                    if name == "--timeout" {
                        out.limits.timeout = Some(d);
                    } else {
                        out.limits.stall_timeout = Some(d);
                    }
                }
                "--net" => super::netflags::net(spec, &value("--net")?)?,
                "--port" => spec.ports.push(super::netflags::port(&value("--port")?)?),
                "--publish" => spec
                    .ports
                    .push(super::netflags::publish(&value("--publish")?)?),
                "--dns" => super::netflags::dns(&mut spec.dns, &value("--dns")?)?,
                "--dns-search" => spec.dns.search.extend(super::netflags::words(
                    "--dns-search",
                    &value("--dns-search")?,
                )?),
                "--dns-opt" => spec
                    .dns
                    .options
                    .extend(super::netflags::words("--dns-opt", &value("--dns-opt")?)?),
                "--dns-domain" => spec.dns.domain = Some(value("--dns-domain")?),
                "--hosts-entry" => {
                    super::netflags::hosts_entry(&mut spec.dns, &value("--hosts-entry")?)?
                }
                "--ipc" | "--pid" => {
                    let v = value(&flag)?;
                    let s = Sharing::from_name(&v).ok_or(SpecError::Invalid {
                        flag: if flag == "--ipc" { "--ipc" } else { "--pid" },
                        value: v,
                        reason: "expected pod, private or host",
                    })?;
                    if flag == "--ipc" {
                        spec.ipc = Some(s);
                    } else {
                        spec.pid = Some(s);
                    }
                }
                "--kvm-accel" => {
                    let v = value("--kvm-accel")?;
                    spec.kvm_accel = Some(KvmAccel::from_name(&v).ok_or(SpecError::Invalid {
                        flag: "--kvm-accel",
                        value: v,
                        reason: "expected auto, kvm or tcg",
                    })?)
                }
                "--sysctl" => {
                    let (k, v) = key_value("--sysctl", &value("--sysctl")?)?;
                    spec.sysctls.insert(k, v);
                }
                "--cgroup-parent" => {
                    let v = value("--cgroup-parent")?;
                    rukt_pods::cgroup_parent::check(&v).map_err(|_| SpecError::Invalid {
                        flag: "--cgroup-parent",
                        value: v.clone(),
                        reason: "expected an absolute cgroupfs path such as /kubepods/pod1 (no . or .., not a systemd slice)",
                    })?;
                    spec.cgroup_parent = Some(v);
                }
                "--sd-notify" => {
                    let v = value("--sd-notify")?;
                    spec.sd_notify = match v.split_once(':') {
                        _ if v == "pod" => SdNotify::Pod,
                        _ if v == "ignore" => SdNotify::Ignore,
                        _ if v == "app" => SdNotify::App(String::new()),
                        Some(("app", name)) if !name.is_empty() => SdNotify::App(name.to_string()),
                        _ => {
                            return Err(SpecError::Invalid {
                                flag: "--sd-notify",
                                value: v,
                                reason: "expected pod, app, app:NAME or ignore",
                            });
                        }
                    }
                }
                "--log-max-size" => {
                    let v = value("--log-max-size")?;
                    spec.logs.max_size = isolation::size("--log-max-size", &v)?;
                    if spec.logs.max_size < 4096 {
                        return Err(isolation::invalid(
                            "--log-max-size",
                            &v,
                            "must be at least 4Ki",
                        ));
                    }
                }
                "--log-max-files" => {
                    spec.logs.max_files = isolation::number(
                        "--log-max-files",
                        &value("--log-max-files")?,
                        1,
                        1000,
                        "expected 1 to 1000",
                    )?
                }
                "--quiet" | "-q" => out.quiet = true,
                _ => return Err(SpecError::UnknownFlag(flag)),
            }
        }
        Ok(out)
    }
}

/// The words of `rukt app add`: one image with its app flags, plus the
/// fetching flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppWords {
    /// The app.
    pub app: AppSpec,
    /// `--pull-policy`.
    pub pull_policy: PullPolicy,
    /// `--stall-timeout` and `--timeout`.
    pub limits: FetchLimits,
    /// `--quiet`.
    pub quiet: bool,
}

impl AppWords {
    /// Parses the words after `rukt app add UUID`.
    pub fn parse(words: &[String]) -> Result<AppWords, SpecError> {
        let mut w = RunWords::parse(words)?;
        let app = w.spec.apps.pop().ok_or(SpecError::NoImage)?;
        let rest = RunWords {
            pull_policy: PullPolicy::default(),
            limits: FetchLimits::default(),
            quiet: false,
            ..w.clone()
        };
        if rest != RunWords::default() {
            return Err(SpecError::NotOneApp);
        }
        Ok(AppWords {
            app,
            pull_policy: w.pull_policy,
            limits: w.limits,
            quiet: w.quiet,
        })
    }
}

type ResourceParser = fn(&mut Resources, &str) -> Result<(), SpecError>;

/// The resource flags: before the first image they limit the pod, after an
/// image that app.
/// The words of `rukt app update`: limit flags (`--memory=SIZE`,
/// `--cpu=CORES`, `--cpu-shares=N`, `--pids-limit=N`) laid over `current`.
pub fn update_limits(
    current: rukt_contract::Resources,
    words: &[String],
) -> Result<rukt_contract::Resources, SpecError> {
    let mut limits = current;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (w.clone(), None),
        };
        let parse = resource_flag(&flag).ok_or_else(|| SpecError::UnknownFlag(flag.clone()))?;
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                words
                    .get(i - 1)
                    .cloned()
                    .ok_or_else(|| SpecError::MissingValue(flag.clone()))?
            }
        };
        parse(&mut limits, &value)?;
    }
    Ok(limits)
}

fn resource_flag(flag: &str) -> Option<ResourceParser> {
    Some(match flag {
        "--memory" => |r, v| {
            r.memory = Some(isolation::memory("--memory", v)?);
            Ok(())
        },
        "--cpu" => |r, v| {
            r.cpu_millis = Some(isolation::cpu_millis(v)?);
            Ok(())
        },
        "--cpu-shares" => |r, v| {
            r.cpu_shares = Some(isolation::number(
                "--cpu-shares",
                v,
                2,
                262_144,
                "expected 2 to 262144",
            )?);
            Ok(())
        },
        "--pids-limit" => |r, v| {
            r.pids = Some(isolation::number(
                "--pids-limit",
                v,
                1,
                u32::MAX as u64,
                "expected a positive number",
            )?);
            Ok(())
        },
        _ => return None,
    })
}

fn boolean(flag: &'static str, v: &str) -> Result<bool, SpecError> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(SpecError::Invalid {
            flag,
            value: v.to_string(),
            reason: "expected true or false",
        }),
    }
}

/// podman's `--security-opt`: `seccomp=unconfined|PROFILE.json`,
/// `no-new-privileges[=true|false]`, `mask=PATH:PATH`, `unmask=ALL|PATH:PATH`.
fn security_opt(sec: &mut rukt_contract::AppSecurity, v: &str) -> Result<(), SpecError> {
    let bad = |reason| SpecError::Invalid {
        flag: "--security-opt",
        value: v.to_string(),
        reason,
    };
    let (key, val) = v.split_once('=').unwrap_or((v, ""));
    let paths = |val: &str| -> Vec<String> {
        val.split(':')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    match key {
        "seccomp" if val == "unconfined" => {
            sec.seccomp_profile = Some(rukt_contract::SeccompProfile::Unconfined)
        }
        "seccomp" if !val.is_empty() => {
            let text =
                std::fs::read_to_string(val).map_err(|_| bad("cannot read the seccomp profile"))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|_| bad("the seccomp profile is not JSON"))?;
            sec.seccomp_profile = Some(rukt_contract::SeccompProfile::Oci(text));
        }
        "no-new-privileges" => {
            sec.allow_new_privileges = !(val.is_empty() || boolean("--security-opt", val)?)
        }
        "mask" => {
            let default = rukt_contract::isolation::MASKED_PATHS
                .iter()
                .map(|p| p.to_string());
            let list = sec.masked_paths.get_or_insert_with(|| default.collect());
            list.extend(paths(val));
        }
        "unmask" if val == "ALL" => sec.masked_paths = Some(Vec::new()),
        "unmask" => {
            let default = rukt_contract::isolation::MASKED_PATHS
                .iter()
                .map(|p| p.to_string());
            let gone = paths(val);
            let list = sec.masked_paths.get_or_insert_with(|| default.collect());
            list.retain(|p| !gone.contains(p));
        }
        _ => {
            return Err(bad(
                "expected seccomp=unconfined|FILE, no-new-privileges[=BOOL], mask=PATHS or unmask=ALL|PATHS",
            ));
        }
    }
    Ok(())
}

fn key_value(flag: &'static str, v: &str) -> Result<(String, String), SpecError> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        _ => Err(SpecError::Invalid {
            flag,
            value: v.to_string(),
            reason: "expected NAME=VALUE",
        }),
    }
}

/// What an app's `--mount` binds: a pod volume, or a host path of its own.
enum Mounted {
    Volume(String, String),
    Host(rukt_pods::HostMount),
}

/// `--mount volume=NAME,target=PATH` (rkt's), or
/// `--mount source=HOSTPATH,target=PATH[,readOnly=BOOL][,propagation=P]`
/// (a host path for this app only, as a CRI container mount).
fn mount(v: &str) -> Result<Mounted, SpecError> {
    let bad = |reason| SpecError::Invalid {
        flag: "--mount",
        value: v.to_string(),
        reason,
    };
    let (mut volume, mut source, mut target) = (None, None, None);
    let (mut read_only, mut propagation) = (false, None);
    for part in v.split(',') {
        match part.split_once('=') {
            Some(("volume", n)) => volume = Some(n.to_string()),
            Some(("source", s)) => source = Some(PathBuf::from(s)),
            Some(("target", t)) => target = Some(t.to_string()),
            Some(("readOnly", b)) => read_only = boolean("--mount", b)?,
            Some(("propagation", p)) => {
                propagation = Some(
                    rukt_contract::Propagation::from_name(p)
                        .ok_or_else(|| bad("propagation is private, slave or shared"))?,
                )
            }
            _ => {
                return Err(bad(
                    "expected volume=NAME,target=PATH or source=PATH,target=PATH[,readOnly=BOOL][,propagation=P]",
                ));
            }
        }
    }
    let target = target.ok_or_else(|| bad("missing target="))?;
    if !target.starts_with('/') {
        return Err(bad("target must be an absolute path"));
    }
    match (volume, source) {
        (Some(v), None) if !read_only && propagation.is_none() => Ok(Mounted::Volume(v, target)),
        (Some(_), None) => Err(bad("readOnly= and propagation= belong to the --volume")),
        (None, Some(source)) if source.is_absolute() => Ok(Mounted::Host(rukt_pods::HostMount {
            source,
            target,
            read_only,
            recursive: None,
            propagation,
        })),
        (None, Some(_)) => Err(bad("source must be an absolute path")),
        _ => Err(bad("give volume= or source=")),
    }
}

fn volume(v: &str) -> Result<VolumeSpec, SpecError> {
    let bad = |reason| SpecError::Invalid {
        flag: "--volume",
        value: v.to_string(),
        reason,
    };
    let mut parts = v.split(',');
    let name = parts
        .next()
        .filter(|n| !n.is_empty() && !n.contains('='))
        .ok_or_else(|| bad("expected NAME,kind=host|empty,..."))?;
    let (mut kind, mut source, mut read_only) = (None, None, false);
    let (mut recursive, mut propagation) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("kind", k)) => kind = Some(k.to_string()),
            Some(("source", s)) => source = Some(PathBuf::from(s)),
            Some(("readOnly", b)) => read_only = boolean("--volume", b)?,
            Some(("recursive", b)) => recursive = Some(boolean("--volume", b)?),
            Some(("propagation", p)) => {
                propagation = Some(rukt_contract::Propagation::from_name(p).ok_or_else(|| {
                    bad("propagation is shared, slave or private (or rshared, rslave, rprivate)")
                })?)
            }
            _ => return Err(bad("unknown volume option")),
        }
    }
    let source = match kind.as_deref() {
        Some("host") => {
            let s = source.ok_or_else(|| bad("kind=host needs source="))?;
            if !s.is_absolute() {
                return Err(bad("source must be an absolute path"));
            }
            Some(s)
        }
        Some("empty") if recursive.is_some() || propagation.is_some() => {
            return Err(bad("recursive= and propagation= are for kind=host volumes"));
        }
        Some("empty") => None,
        _ => return Err(bad("kind must be host or empty")),
    };
    Ok(VolumeSpec {
        name: name.to_string(),
        source,
        read_only,
        recursive,
        propagation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PodSpec, SpecError> {
        words(s).map(|w| w.spec)
    }

    fn words(s: &str) -> Result<RunWords, SpecError> {
        RunWords::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn apps_flags_and_args_bind_to_their_image() {
        let s = parse(
            "--stage1=fly img1 --name a --exec /bin/sh -- -c x --- img2 --user=1000 --hostname h",
        )
        .unwrap();
        assert_eq!(s.stage1.as_deref(), Some("fly"));
        assert_eq!(s.apps.len(), 2);
        assert_eq!(s.apps[0].name.as_deref(), Some("a"));
        assert_eq!(s.apps[0].exec.as_deref(), Some("/bin/sh"));
        assert_eq!(
            s.apps[0].args,
            Some(vec!["-c".to_string(), "x".to_string()])
        );
        assert_eq!(s.apps[1].user.as_deref(), Some("1000"));
        assert_eq!(s.hostname.as_deref(), Some("h"));
    }

    #[test]
    fn app_add_takes_one_app_and_fetch_flags() {
        let app =
            |s: &str| AppWords::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>());
        let w = app("--pull-policy=never img --name web --caps-remove=chown -- -x").unwrap();
        assert_eq!(w.app.name.as_deref(), Some("web"));
        assert_eq!(w.app.args, Some(vec!["-x".to_string()]));
        assert_eq!(w.pull_policy, PullPolicy::Never);
        assert_eq!(app("img --- img2"), Err(SpecError::NotOneApp));
        assert_eq!(app("--hostname=h img"), Err(SpecError::NotOneApp));
        assert_eq!(app("--stage1=fly img"), Err(SpecError::NotOneApp));
        assert_eq!(app("--pull-policy=never"), Err(SpecError::NoImage));
        // podman's -t/--tty.
        assert!(app("img -t --stdin").unwrap().app.tty);
        assert!(app("img --tty").unwrap().app.tty);
        assert!(!app("img --tty=false").unwrap().app.tty);
        assert!(!app("img").unwrap().app.tty);
    }

    #[test]
    fn command_line_only_flags_stay_out_of_the_spec() {
        let w =
            words("--quiet --pull-policy never --uuid-file-save /tmp/u --set-env A=1 img").unwrap();
        assert!(w.quiet);
        assert_eq!(w.pull_policy, PullPolicy::Never);
        assert_eq!(
            w.uuid_file_save.as_deref(),
            Some(std::path::Path::new("/tmp/u"))
        );
        assert_eq!(w.spec.environment, [("A".to_string(), "1".to_string())]);
        assert_eq!(w.spec.apps[0].image_input, "img");
    }

    #[test]
    fn volumes_and_mounts() {
        let s = parse("--volume data,kind=host,source=/srv,readOnly=true img --mount volume=data,target=/data").unwrap();
        assert_eq!(
            s.volumes[0],
            VolumeSpec {
                name: "data".into(),
                source: Some("/srv".into()),
                read_only: true,
                recursive: None,
                propagation: None
            }
        );
        assert_eq!(
            s.apps[0].mounts,
            vec![("data".to_string(), "/data".to_string())]
        );
        assert!(parse("--volume v,kind=host img").is_err());
        let k = parse(
            "--volume k,kind=host,source=/var/lib/kubelet,recursive=true,propagation=rshared img",
        )
        .unwrap();
        assert_eq!(k.volumes[0].recursive, Some(true));
        assert_eq!(
            k.volumes[0].propagation,
            Some(rukt_contract::Propagation::Shared)
        );
        assert!(parse("--volume k,kind=host,source=/x,propagation=both img").is_err());
        assert!(parse("--volume e,kind=empty,recursive=true img").is_err());
        assert!(parse("img --mount volume=v,target=rel").is_err());
    }

    #[test]
    fn limits_bind_to_pod_or_app() {
        let s = parse("--memory=1Gi --net=host --pid pod img --memory 64Mi --cpu=500m --caps-remove=chown --oom-score-adj=-5 --- img2").unwrap();
        assert_eq!(s.resources.memory, Some(1 << 30));
        assert_eq!(s.apps[0].resources.memory, Some(64 << 20));
        assert_eq!(s.apps[0].resources.cpu_millis, Some(500));
        assert_eq!(s.apps[0].caps_remove, ["CAP_CHOWN"]);
        assert_eq!(s.apps[0].oom_score_adj, Some(-5));
        assert!(s.apps[1].resources.is_empty());
        assert_eq!(s.net, Some(rukt_contract::NetMode::Host));
        assert_eq!(s.pid, Some(Sharing::Pod));
        assert!(parse("--net=host,bridge img").is_err());
        let n = parse(
            "--net=default -p 8080:80 --dns=10.0.0.2 --hosts-entry=10.0.0.3=db img -p=9090:90/udp",
        )
        .unwrap();
        assert_eq!(n.networks[0].name, "default");
        assert_eq!(n.ports.len(), 2);
        assert_eq!(n.dns.nameservers.len(), 1);
        assert_eq!(n.dns.hosts_entries.len(), 1);
        assert!(parse("img --oom-score-adj=2000").is_err());
        assert_eq!(
            parse("--caps-retain=kill img"),
            Err(SpecError::AppFlagWithoutImage("--caps-retain".into()))
        );
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            parse("--exec /bin/true img"),
            Err(SpecError::AppFlagWithoutImage("--exec".into()))
        );
        assert_eq!(
            parse("--bogus img"),
            Err(SpecError::UnknownFlag("--bogus".into()))
        );
        assert_eq!(parse("--stage1=fly"), Err(SpecError::NoImage));
        assert!(matches!(
            parse("img --pull-policy=sometimes"),
            Err(SpecError::Invalid {
                flag: "--pull-policy",
                ..
            })
        ));
        assert!(matches!(parse("docker://"), Err(SpecError::Image { .. })));
        assert_eq!(
            parse("img --name"),
            Err(SpecError::MissingValue("--name".into()))
        );
    }

    #[test]
    fn fetch_limits() {
        let w = words("--stall-timeout=2s --timeout 1m img").unwrap();
        assert_eq!(
            w.limits.stall_timeout,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(w.limits.timeout, Some(std::time::Duration::from_secs(60)));
        assert!(matches!(
            words("--timeout=0s img"),
            Err(SpecError::Invalid {
                flag: "--timeout",
                ..
            })
        ));
    }
}
