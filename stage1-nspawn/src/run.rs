//! `run`: the pod's supervisor. stage0 exec'd this process with the pod lock
//! on `RUKT_LOCK_FD`; it becomes the pod: it unshares the pod's shared
//! namespaces, makes the pod cgroup, creates every app's container, starts
//! them all, then supervises them ([`crate::supervise`]) and exits with the
//! pod's exit code. It holds the lock until every app is gone.

use std::path::Path;

use anyhow::{Context, bail};
use libcontainer::container::Container;
use rukt_contract::runtime::events::PodEvents;
use rukt_contract::runtime::{PodLock, load_manifest, write_atomic};
use rukt_contract::{NetMode, PID_FILE, PodManifest, READY_FILE, RELEASED_FILE, RunArgs, Sharing};

use crate::cgroups::{self, Layout};
use crate::console::{ConsoleSocket, Relay};
use crate::control::Control;
use crate::create::{Extras, PodEnv};
use crate::logs::Output;
use crate::network::{self, PodNetwork};
use crate::notify::AppNotify;
use crate::podns::{self, PodNamespaces};
use crate::signals::Signals;
use crate::supervise::mutable::Mutable;
use crate::supervise::{Running, Supervisor};
use crate::{apps, bpf, etc, listen, pause, phase, rundir, unit, warm};
use rukt_contract::sdnotify::SdNotify;

/// Runs the pod; returns its exit code once every app has exited, or an
/// error if it failed before any app ran.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    phase::mark("begin");
    // Before anything can reap a child, and ended on any early return.
    let handed = warm::handed();
    let pod = load_manifest(&args.uuid)?;
    let lock = PodLock::inherited()?;
    // No app inherits the lock: libcontainer marks every descriptor above
    // stdio close-on-exec in the app, and this keeps it out of anything else.
    rustix::io::fcntl_setfd(&lock, rustix::io::FdFlags::CLOEXEC)
        .context("cannot set close-on-exec on the pod lock")?;
    if pod.apps.is_empty() && !pod.mutable {
        bail!("the pod has no app");
    }
    if args.interactive && pod.apps.len() > 1 {
        bail!("--interactive needs a pod with exactly one app");
    }
    let pod_dir = std::env::current_dir().context("cannot get the pod directory's path")?;
    let pod_dir_fd = std::fs::File::open(&pod_dir).context("cannot open the pod directory")?;
    let signals = Signals::block().context("cannot block signals")?;
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };

    std::fs::create_dir_all(pod_dir.join(rukt_contract::STATUS_DIR))
        .context("cannot create the status directory")?;
    rundir::create(&pod_dir)?;

    let layout = Layout::detect();
    unit::adopt(layout, &pod_dir, pod.cgroup_parent.as_deref())?;
    // Before the pod's network namespace: an abstract NOTIFY_SOCKET is the host's.
    rukt_contract::sdnotify::engine_notifier();
    let app_notify = AppNotify::open(&pod, &pod_dir)?;
    // Before `ready`: the app-* entrypoints may come as soon as it is there.
    let control = pod.mutable.then(|| Control::bind(&pod_dir)).transpose()?;
    phase::mark("loaded");
    let (warm, net) = match host_side(layout, &pod_dir, &pod, handed) {
        Ok(made) => made,
        Err(e) => {
            cgroups::destroy_pod(layout, &pod.uuid);
            return Err(e);
        }
    };
    let setup = Setup {
        app_notify: app_notify.as_ref(),
        pod: &pod,
        pod_dir: &pod_dir,
        pod_dir_fd: &pod_dir_fd,
        layout,
        interactive: args.interactive,
    };
    let Started {
        running,
        relay,
        output,
        env,
    } = match setup.start_apps(net.as_ref(), warm) {
        Ok(started) => started,
        Err(e) => {
            cgroups::destroy_pod(layout, &pod.uuid);
            if let Some(n) = net {
                n.detach(&pod_dir, &pod);
            }
            return Err(e);
        }
    };
    write_atomic(&pod_dir_fd, READY_FILE, b"").context("cannot write the ready file")?;
    let events = PodEvents::new(&pod, "nspawn");
    running.iter().for_each(|app| events.app_started(&app.name));
    events.pod_started();
    if pod.sd_notify == SdNotify::Pod {
        rukt_contract::sdnotify::pod_ready(running.len());
    }
    phase::mark("ready");
    let code = Supervisor::new(&pod, &pod_dir, layout, running, signals, relay)
        .with_output(output)
        .with_control(control.map(|c| Mutable::new(c, env)))
        .with_notify(app_notify)
        .with_events(events.clone())
        .supervise();
    phase::mark("exited");
    let mut released = cgroups::destroy_pod(layout, &pod.uuid);
    phase::mark("cgroups-removed");
    if let Some(n) = net {
        released &= n.detach(&pod_dir, &pod);
    }
    events.pod_exited(code, None);
    // gc need not look again (stage1 gc is a process of its own).
    if released && let Err(e) = write_atomic(&pod_dir_fd, RELEASED_FILE, b"") {
        tracing::debug!("cannot write the released file: {e}");
    }
    phase::mark("done");
    drop(lock);
    Ok(code)
}

/// The pod's cgroup with its limits and the warm-up writer ([`warm`]: the
/// one stage0 `handed` on, or one of its own; it runs until every app has
/// joined its cgroup), then its networks. The cgroup comes first, as early
/// as it can be (once `adopt` has named its parent): the writer's first
/// write waits for a grace period, and all that comes before libcontainer's
/// first write (the networks' plugins, namespaces, `/etc`, the bundle)
/// overlaps that wait. On error the caller removes the cgroup (the writer
/// ends with its handle).
fn host_side(
    layout: Layout,
    pod_dir: &Path,
    pod: &PodManifest,
    handed: Option<warm::Warm>,
) -> anyhow::Result<(Option<warm::Warm>, Option<PodNetwork>)> {
    cgroups::create_pod(layout, &pod.uuid, &pod.resources)
        .context("cannot create the pod's cgroup")?;
    let warm = warm::prepare(layout, pod, &pod.apps, handed)?;
    phase::mark("pod-cgroup");
    // Before any namespace of the pod's: the plugins run from the host's.
    let net = network::attach(pod_dir, pod)?;
    phase::mark("networks");
    Ok((warm, net))
}

/// What the supervisor needs to set the pod up.
struct Setup<'a> {
    pod: &'a PodManifest,
    pod_dir: &'a Path,
    pod_dir_fd: &'a std::fs::File,
    layout: Layout,
    interactive: bool,
    app_notify: Option<&'a AppNotify>,
}

impl Setup<'_> {
    /// Namespaces, `/etc` files, then every app created and started (`warm`
    /// ended once they all joined their cgroups); for an interactive pod,
    /// also the relay to its app's terminal.
    fn start_apps(
        &self,
        net: Option<&PodNetwork>,
        warm: Option<warm::Warm>,
    ) -> anyhow::Result<Started> {
        let pod = self.pod;
        let ns = PodNamespaces::of(pod);
        let hostname = match (&pod.hostname, pod.net) {
            (None, NetMode::Host) => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            _ => podns::hostname(pod),
        };
        podns::enter_new(ns, &hostname, net.map(|n| &n.attached.netns))?;
        phase::mark("namespaces");
        crate::sysctl::apply(&pod.sysctls)?;
        let results = net.map_or(&[][..], |n| &n.attached.results[..]);
        let (etc_files, warning) = etc::write(
            &rundir::of(self.pod_dir).join("etc"),
            pod,
            &hostname,
            results,
        )
        .context("cannot write the pod's /etc files")?;
        if let Some(w) = warning {
            tracing::warn!("{w}");
        }
        let supervisor = std::process::id();
        write_atomic(self.pod_dir_fd, PID_FILE, supervisor.to_string().as_bytes())
            .context("cannot write the pid file")?;

        let console = if self.interactive {
            Some(ConsoleSocket::listen(self.pod_dir, "console.sock")?)
        } else {
            None
        };
        let pause = if pod.namespaces.pid == Sharing::Pod {
            let pid = pause::start(&rundir::of(self.pod_dir).join("pause"))
                .context("cannot start the pod's PID namespace")?;
            Some(pid)
        } else {
            None
        };
        phase::mark("etc");
        let env = PodEnv {
            pod_dir: self.pod_dir.to_path_buf(),
            supervisor,
            namespaces: ns,
            etc_files,
            pause,
            layout: self.layout,
            console: console.as_ref().map(|c| c.path.clone()),
            seccomp_cache: bpf::cache_dir(self.pod_dir),
        };
        let mut created: Vec<(String, Container)> = Vec::new();
        let mut output = Output::new(pod.mutable);
        let listen = listen::Activation::from_env(pod);
        for app in &pod.apps {
            let extras = Extras {
                listen: listen.as_ref(),
                notify: self.app_notify,
                attach: pod.mutable,
            };
            let out = (!self.interactive).then_some(&mut output);
            match env.create(pod, app, out, extras) {
                Ok(c) => created.push((app.name.clone(), c)),
                Err(e) => {
                    abandon(created);
                    return Err(e);
                }
            }
            phase::mark("created");
        }
        drop(warm);
        let relay = match console.map(ConsoleSocket::receive).transpose() {
            Ok(master) => master.map(Relay::new),
            Err(e) => {
                abandon(created);
                return Err(e);
            }
        };
        let mut running = Vec::new();
        for (i, (name, mut container)) in created.into_iter().enumerate() {
            if let Err(e) = container.start() {
                let rest: Vec<_> = running
                    .into_iter()
                    .map(|r: Running| (r.name, r.container))
                    .collect();
                abandon(rest);
                apps::delete(container);
                return Err(e).with_context(|| format!("cannot start app {name}"));
            }
            let pid = container.pid().map(|p| p.as_raw()).unwrap_or(-1);
            tracing::debug!(app = %name, pid, index = i, "started");
            phase::mark("started");
            let app = pod.app(&name).expect("created from the manifest's apps");
            running.push(Running::new(app, container));
        }
        Ok(Started {
            running,
            relay,
            output,
            env,
        })
    }
}

/// The pod once its apps run.
struct Started {
    running: Vec<Running>,
    relay: Option<Relay>,
    output: Output,
    env: PodEnv,
}

/// Kills and deletes containers created before a failure.
fn abandon(created: Vec<(String, Container)>) {
    for (_, c) in created {
        apps::delete(c);
    }
}
