//! `run [--debug] [--interactive] UUID`: boots the pod's VM and supervises
//! it until it powers off; exits with the pod's exit code.
//!
//! In order: check the pod, take over the lock, write `pid`; find qemu,
//! the kernel and the init ([`crate::host`]), get the cached boot artifacts
//! and the acceleration; listen on the virtiofs, guest and control sockets
//! in `stage1/`; take socket activation's listeners ([`crate::activation`]);
//! attach the pod's networks ([`crate::network`]); start
//! virtiofsd and qemu, both tied to this process
//! ([`crate::procs`]); hand the guest the pod and supervise
//! ([`crate::supervisor`]). Whatever way the VM ends, virtiofsd and qemu are
//! killed, the sockets removed and the networks detached before this
//! returns.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::runtime::events::PodEvents;
use rukt_contract::sdnotify::SdNotify;
use rukt_contract::{NetMode, NetworkResult, PID_FILE, PodManifest, RunArgs, STATUS_DIR};
use rukt_kvm_init::proto::{Frame, GuestPod, Kind};
use rukt_net::dns::Source;
use rukt_net::podfiles;
use tracing::{debug, warn};

use crate::host::Host;
use crate::network::{self, PodNetwork};
use crate::supervisor::{self, Mutable, Outcome, Supervisor};
use crate::vmm::qemu::Qemu;
use crate::vmm::{Accel, NicSpec, VmSpec, Vmm};
use crate::{accel, activation, artifacts, cmdline, pod, procs, share, sizing};

/// How long qemu may take to connect to the control socket.
const VMM_CONNECT: Duration = Duration::from_secs(30);
/// Exit code recorded for an app whose VM ended before it did.
const KILLED: u8 = 128 + 9;

/// Runs the pod; its exit code.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    // In the host's network namespace, where an abstract NOTIFY_SOCKET is.
    rukt_contract::sdnotify::engine_notifier();
    let manifest = pod::load(&args.uuid)?;
    if manifest.net == NetMode::Host {
        bail!(
            "--net=host is not possible with the kvm stage1: the pod has its own kernel and network stack (use --net=none)"
        );
    }
    let _lock = pod::inherited_lock()?;
    if args.interactive {
        warn!("--interactive: kvm pods have no terminal; stdin is forwarded to the first app");
    }
    pod::write_file(".", PID_FILE, std::process::id().to_string().as_bytes())?;
    // Before any process of the VM: they are all in it.
    crate::cgroup::join(&manifest)?;
    let pod_dir = pod::dir()?;
    let stage1 = pod::stage1_dir(&pod_dir)?;
    let signals = supervisor::signal_fd()?;

    let host = Host::locate(&pod_dir, &manifest.stage1.path)?;
    let qemu = Qemu {
        binary: host.qemu.clone(),
        data_dir: host.qemu_data.clone(),
    };
    let boot = artifacts::prepare(&host)?;
    let accel = accel::choose(manifest.kvm.accel, &host, &boot, &qemu)?;
    debug!("accel {}", accel.name());

    let activation = activation::take(&manifest)?;
    let net = network::attach(&pod_dir, &manifest)?;
    let mut vm = Vm::default();
    let result = start_and_supervise(
        &manifest,
        args,
        &host,
        &qemu,
        &boot,
        accel,
        &stage1,
        &pod_dir,
        signals,
        net.as_ref(),
        activation,
        &mut vm,
    );
    vm.end(&stage1);
    if let Some(net) = net {
        net.detach(&pod_dir, &manifest);
    }
    let outcome = result?;
    finish(&manifest, outcome, &stage1)
}

/// The processes of the VM, ended by [`Vm::end`].
#[derive(Default)]
struct Vm {
    virtiofsd: Option<Child>,
    vmm: Option<Child>,
}

impl Vm {
    fn end(&mut self, stage1: &Path) {
        for child in [self.vmm.take(), self.virtiofsd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        for sock in ["fs.sock", "guest.sock", "control.sock"] {
            let _ = std::fs::remove_file(stage1.join(sock));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start_and_supervise(
    manifest: &PodManifest,
    args: &RunArgs,
    host: &Host,
    vmm: &dyn Vmm,
    boot: &artifacts::Boot,
    accel: Accel,
    stage1: &Path,
    pod_dir: &Path,
    signals: nix::sys::signalfd::SignalFd,
    net: Option<&PodNetwork>,
    activation: Option<(activation::Proxy, activation::Plan)>,
    vm: &mut Vm,
) -> anyhow::Result<Outcome> {
    let nics: Vec<NicSpec> = net
        .iter()
        .flat_map(|n| &n.nics)
        .map(|n| NicSpec {
            fd: n.tap.as_raw_fd(),
            mac: n.guest.mac.clone(),
        })
        .collect();
    let fs_sock = stage1.join("fs.sock");
    let guest_sock = stage1.join("guest.sock");
    let fs_listener = listen(&fs_sock)?;
    let guest_listener = listen(&guest_sock)?;
    let control = listen(&pod::control_socket(stage1))?;

    let plan = share::plan(pod_dir, stage1, manifest)?;
    let fs_fd: OwnedFd = fs_listener.into();
    let virtiofsd = share::spawn(&host.virtiofsd, plan, &fs_fd, &stage1.join("virtiofsd.log"))?;
    procs::record(stage1, "virtiofsd", virtiofsd.id())?;
    let mutable = manifest.mutable.then(|| {
        Mutable::new(
            manifest,
            pod_dir.to_path_buf(),
            stage1.join("share"),
            virtiofsd.id(),
        )
    });
    vm.virtiofsd = Some(virtiofsd);
    drop(fs_fd);

    let console = stage1.join("console.log");
    let spec = VmSpec {
        boot,
        cmdline: cmdline::build(&cmdline::Options {
            tcg: accel == Accel::Tcg,
            tsc_khz: cmdline::host_tsc_khz(),
            verbose: args.debug,
            probe: false,
        }),
        size: sizing::size(manifest, host_cpus()),
        accel,
        fs_socket: Some(&fs_sock),
        ctl_socket: Some(&guest_sock),
        console: &console,
        pidfile: Some(&stage1.join("qemu.pid")),
        nics: &nics,
    };
    debug!("{} {:?}", vmm.name(), spec.size);
    let log_path = stage1.join("qemu.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut cmd = Command::new(vmm.program());
    cmd.args(vmm.args(&spec))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    procs::tie_to_us(&mut cmd);
    rukt_sys::fds::close_fds_on_exec(&mut cmd, nics.iter().map(|n| n.fd).collect());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", vmm.program().display()))?;
    procs::record(stage1, vmm.name(), child.id())?;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .context("cannot open a pidfd of the VMM")?;
    vm.vmm = Some(child);

    let Some(guest) = supervisor::accept_guest(&guest_listener, pidfd.as_fd(), VMM_CONNECT)? else {
        bail!("{} did not start: {}", vmm.name(), tail(&log_path));
    };
    let hostname = manifest
        .hostname
        .clone()
        .unwrap_or_else(|| format!("rukt-{}", manifest.uuid.split('-').next().unwrap_or("pod")));
    let results = net.map_or(&[][..], |n| &n.attached.results[..]);
    let guest_pod = GuestPod {
        uuid: manifest.uuid.clone(),
        etc: etc_files(manifest, &hostname, results),
        hostname,
        apps: manifest.apps.clone(),
        volumes: manifest.volumes.clone(),
        stdin: forward_stdin(args.interactive),
        debug: args.debug,
        nics: net
            .iter()
            .flat_map(|n| &n.nics)
            .map(|n| n.guest.clone())
            .collect(),
        listen: activation
            .as_ref()
            .map(|(_, plan)| plan.listen.clone())
            .unwrap_or_default(),
        listen_app: activation.as_ref().map_or(0, |(_, plan)| plan.app),
        notify_app: match &manifest.sd_notify {
            SdNotify::App(name) => Some(name.clone()),
            _ => None,
        },
        mutable: manifest.mutable,
        sysctls: manifest.sysctls.clone(),
    };
    let frame = Frame::new(Kind::Pod, 0, serde_json::to_vec(&guest_pod)?);
    let names: Vec<String> = manifest.apps.iter().map(|a| a.name.clone()).collect();
    let logs = crate::logs::Logs::open(Path::new("."), &names, manifest.logs);
    let events = PodEvents::new(manifest, "kvm");
    let outcome = Supervisor::new(
        guest,
        control,
        pidfd,
        signals,
        guest_pod.stdin,
        names,
        events,
    )
    .with_logs(logs)
    .with_activation(activation.map(|(proxy, _)| proxy))
    .with_app_notify(matches!(manifest.sd_notify, SdNotify::App(_)))
    .with_mutable(mutable)
    .run(frame)?;
    if !outcome.started && outcome.error.is_none() {
        bail!(
            "the VM ended before the pod's apps started; its console said: {}",
            tail(&console)
        );
    }
    Ok(outcome)
}

/// The pod's `/etc` files for the guest, as nspawn's (`rukt_net::podfiles`);
/// a host file named instead is sent as it is now.
fn etc_files(
    pod: &PodManifest,
    hostname: &str,
    results: &[NetworkResult],
) -> Vec<(String, String)> {
    let (files, warning) = podfiles::render(pod, hostname, results);
    if let Some(w) = warning {
        warn!("{w}");
    }
    files
        .into_iter()
        .filter_map(|(name, source)| match source {
            Source::Text(text) => Some((name.to_string(), text)),
            Source::Host(path) => std::fs::read_to_string(path)
                .ok()
                .map(|text| (name.to_string(), text)),
            Source::Image => None,
        })
        .collect()
}

/// Records the apps the VM took down with it; the pod's exit code.
fn finish(manifest: &PodManifest, outcome: Outcome, stage1: &Path) -> anyhow::Result<u8> {
    if let Some(e) = outcome.error {
        bail!("{e}");
    }
    let events = PodEvents::new(manifest, "kvm");
    let mut first = outcome.first_failure;
    for app in &outcome.unreported {
        let reason = format!("{app}.reason");
        pod::write_file(STATUS_DIR, &reason, b"vm-killed")?;
        pod::write_file(STATUS_DIR, app, KILLED.to_string().as_bytes())?;
        events.app_exited(app, KILLED, Some("vm-killed"));
        first.get_or_insert(KILLED);
    }
    debug!("pod over; logs in {}", stage1.display());
    let code = first.unwrap_or(0);
    events.pod_exited(code, None);
    Ok(code)
}

/// Stdin goes to the first app unless it is a terminal we would steal
/// input from (a pod started in the background of a shell).
fn forward_stdin(interactive: bool) -> bool {
    interactive || !rustix::termios::isatty(std::io::stdin())
}

fn listen(path: &PathBuf) -> anyhow::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))
}

fn host_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(8);
    if lines.is_empty() {
        format!("nothing (see {})", path.display())
    } else {
        format!("{} (in {})", lines[start..].join(" | "), path.display())
    }
}
