//! Creating one app's container in a running pod: its OCI configuration
//! ([`crate::spec`]) with the pod's shared namespaces, `/etc` files and
//! descriptors, its seccomp filter compiled (or cached), its output pipes,
//! mount propagation settled and `oom_score_adj` set. The supervisor does
//! this for every app when the pod starts and, in a mutable pod, for each
//! app added later ([`crate::supervise::mutable`]); the container's init then waits
//! for its start.

use std::path::PathBuf;

use anyhow::Context;
use libcontainer::container::Container;
use rukt_contract::{App, PodManifest};

use crate::apps::{self, AppIo};
use crate::cgroups::Layout;
use crate::console::ConsoleSocket;
use crate::etc::EtcFile;
use crate::listen::Activation;
use crate::logs::Output;
use crate::notify::AppNotify;
use crate::podns::PodNamespaces;
use crate::spec::{self, AppContext};
use crate::{bpf, cgview, phase};

/// What every app of the pod is created with, set up once by the
/// supervisor.
pub struct PodEnv {
    /// The pod directory, absolute.
    pub pod_dir: PathBuf,
    /// The supervisor's PID (the pod's shared namespaces are its).
    pub supervisor: u32,
    /// What the supervisor unshared.
    pub namespaces: PodNamespaces,
    /// The `/etc` files bound into every app.
    pub etc_files: Vec<EtcFile>,
    /// With `--pid=pod`, the pause process.
    pub pause: Option<i32>,
    /// The host's cgroup layout.
    pub layout: Layout,
    /// The console socket of an interactive pod.
    pub console: Option<PathBuf>,
    /// Where compiled seccomp filters are cached.
    pub seccomp_cache: Option<PathBuf>,
}

/// What one app gets beyond the pod's environment.
#[derive(Default)]
pub struct Extras<'a> {
    /// Socket activation's descriptors.
    pub listen: Option<&'a Activation>,
    /// The relay of the app's notifications.
    pub notify: Option<&'a AppNotify>,
    /// Give it an attach point (an app of a mutable pod).
    pub attach: bool,
}

impl PodEnv {
    /// Creates `app` of `pod` (its init waits for the start); with
    /// `output`, its stdout and stderr are logged through it.
    pub fn create(
        &self,
        pod: &PodManifest,
        app: &App,
        output: Option<&mut Output>,
        extras: Extras<'_>,
    ) -> anyhow::Result<Container> {
        // An app's own tty (not the interactive pod's terminal).
        let tty = app.tty && self.console.is_none() && output.is_some();
        // Down again once the container has its copy (below).
        let cgroup_tree = (self.layout == Layout::V1)
            .then(|| cgview::make(&self.pod_dir, &pod.uuid, &app.name))
            .flatten();
        let ctx = AppContext {
            pod,
            app,
            pod_dir: &self.pod_dir,
            supervisor: self.supervisor,
            namespaces: self.namespaces,
            etc_files: &self.etc_files,
            pause: self.pause,
            terminal: self.console.is_some() || tty,
            layout: self.layout,
            cgroup_tree: cgroup_tree.as_ref().map(cgview::Tree::path),
        };
        let mut config = spec::config(&ctx)?;
        let mut output = output;
        let mut io = AppIo {
            preserve: extras.listen.map_or(Ok(0), |l| l.give(app, &mut config))?,
            ..AppIo::default()
        };
        if let Some(o) = output.as_deref_mut() {
            if extras.attach {
                io.stdin = o.attach_point(&self.pod_dir, app)?;
            }
            if !tty {
                io.output = Some(o.add(&self.pod_dir, app, pod.logs)?);
            }
        }
        let own_console = tty
            .then(|| ConsoleSocket::listen(&self.pod_dir, &format!("tty-{}.sock", app.name)))
            .transpose()?;
        let console = own_console.as_ref().map(|c| c.path.as_path());
        if let Some(n) = extras.notify {
            n.give(app, &mut config);
        }
        crate::propagation::prepare(pod, app, &mut config)?;
        let filter = spec::seccomp_filter(app)?;
        let seccomp = filter
            .as_ref()
            .map(|f| bpf::compiled(f, self.seccomp_cache.as_deref()))
            .transpose()
            .with_context(|| format!("app {}: cannot compile its seccomp filter", app.name))?;
        let filter = filter.as_ref().zip(seccomp);
        if app.security.allow_new_privileges
            && let Some((f, _)) = &filter
        {
            // Without no_new_privs an unprivileged app cannot install a
            // filter once its capabilities are gone: libcontainer installs
            // it before it drops them.
            config["linux"]["seccomp"] = (*f).clone();
        }
        phase::mark("spec");
        let container = apps::create(
            &self.pod_dir,
            app,
            &config,
            filter,
            console.or(self.console.as_deref()),
            io,
        )?;
        drop(cgroup_tree);
        let pid = container.pid().map(|p| p.as_raw());
        let settled =
            crate::propagation::settle(pod, app, pid.unwrap_or(-1)).and_then(|()| {
                match (app.oom_score_adj, pid) {
                    (Some(adj), Some(pid)) => {
                        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
                            .with_context(|| {
                                format!("app {}: cannot set oom_score_adj to {adj}", app.name)
                            })
                    }
                    _ => Ok(()),
                }
            });
        let settled = settled.and_then(|()| match (own_console, output) {
            (Some(socket), Some(o)) => socket
                .receive()
                .and_then(|master| o.add_terminal(&self.pod_dir, app, pod.logs, master)),
            _ => Ok(()),
        });
        match settled {
            Ok(()) => Ok(container),
            Err(e) => {
                apps::delete(container);
                Err(e)
            }
        }
    }
}
