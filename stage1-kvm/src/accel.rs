//! KVM or TCG. `--kvm-accel=kvm|tcg` decides; `auto` (the default) asks a
//! probe whether KVM can actually run the guest: `/dev/kvm` must open, and
//! qemu with `-accel kvm` must boot the guest kernel to the init's probe
//! mode and power off within [`PROBE_LIMIT`]. A real VT-x/AMD-V host does
//! that in a fraction of a second; a nested software KVM (PVM, on the
//! machines rukt is developed on) emulates the guest kernel ~1000x slower
//! and never makes it, and a qemu that aborts on the host CPU's MSRs fails
//! at once. The answer is cached per host kernel, `/dev/kvm`, qemu and
//! guest kernel; the run that probes and falls back to TCG says so once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use rukt_contract::KvmAccel;
use rustix::event::{PollFd, PollFlags, Timespec};
use tracing::{debug, warn};

use crate::artifacts::Boot;
use crate::cache;
use crate::cmdline;
use crate::host::Host;
use crate::sizing::Size;
use crate::vmm::{Accel, VmSpec, Vmm};

/// Longest a KVM guest may take to boot and power off in the probe.
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// The acceleration for a pod.
pub fn choose(wanted: KvmAccel, host: &Host, boot: &Boot, vmm: &dyn Vmm) -> anyhow::Result<Accel> {
    match wanted {
        KvmAccel::Kvm => Ok(Accel::Kvm),
        KvmAccel::Tcg => Ok(Accel::Tcg),
        KvmAccel::Auto => cached_probe(host, boot, vmm),
    }
}

fn cached_probe(host: &Host, boot: &Boot, vmm: &dyn Vmm) -> anyhow::Result<Accel> {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut inputs = vec![host.qemu.as_path(), host.kernel.as_path()];
    let kvm = Path::new("/dev/kvm");
    if kvm.exists() {
        inputs.push(kvm);
    }
    let key = cache::key(&format!("accel-1 {release}"), &inputs)?;
    let file = host.cache.join(format!("accel-{key}"));
    match std::fs::read_to_string(&file).as_deref().map(str::trim) {
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok("tcg") => return Ok(Accel::Tcg),
        _ => {}
    }
    let (accel, why) = probe(host, boot, vmm)?;
    if accel == Accel::Tcg {
        warn!(
            "KVM cannot run the guest here ({why}): using TCG software emulation, which is much slower; \
             --kvm-accel=tcg skips this check, --kvm-accel=kvm forces KVM (answer cached in {})",
            file.display()
        );
    } else {
        debug!("KVM probe: {why}");
    }
    rukt_sys::atomic::write_atomic(&file, accel.name().as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(accel)
}

/// Boots the guest under KVM in probe mode; the verdict and why.
fn probe(host: &Host, boot: &Boot, vmm: &dyn Vmm) -> anyhow::Result<(Accel, String)> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Ok((Accel::Tcg, format!("cannot open /dev/kvm: {e}")));
    }
    std::fs::create_dir_all(&host.cache).ok();
    let console = host
        .cache
        .join(format!("probe-console.{}.log", std::process::id()));
    let spec = VmSpec {
        boot,
        cmdline: cmdline::build(&cmdline::Options {
            tcg: false,
            tsc_khz: None,
            verbose: false,
            probe: true,
        }),
        size: Size {
            memory_mib: 256,
            cpus: 1,
        },
        accel: Accel::Kvm,
        fs_socket: None,
        ctl_socket: None,
        console: &console,
        pidfile: None,
        nics: &[],
    };
    let mut cmd = Command::new(vmm.program());
    cmd.args(vmm.args(&spec))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::procs::tie_to_us(&mut cmd);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", vmm.name()))?;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )?;
    let limit = Timespec {
        tv_sec: PROBE_LIMIT.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let exited = matches!(rustix::event::poll(&mut fds, Some(&limit)), Ok(n) if n > 0);
    let _ = std::fs::remove_file(&console);
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return Ok((
            Accel::Tcg,
            format!("a KVM guest did not boot within {PROBE_LIMIT:?}"),
        ));
    }
    let status = child.wait()?;
    let took = start.elapsed();
    if status.success() {
        Ok((
            Accel::Kvm,
            format!("a KVM guest booted and powered off in {took:?}"),
        ))
    } else {
        Ok((Accel::Tcg, format!("qemu -accel kvm failed ({status})")))
    }
}
