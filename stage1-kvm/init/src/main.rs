//! rukt's guest init: PID 1 of a kvm pod's VM.
//!
//! Mounts the kernel filesystems, loads the virtio, console and virtiofs
//! modules from the initramfs, opens the control port, receives the pod from
//! the host, mounts the pod's share, configures the network ([`net`]), the
//! pod's `/etc` files ([`etc`]) and sysctls ([`limits::sysctls`]), runs the apps ([`supervise`]) and
//! powers the VM off when the pod is over, or at once in probe mode
//! (`rukt_probe=1` on the kernel command line). Anything that goes wrong is
//! written to the console (the host keeps it in `stage1/console.log`) and
//! ends the VM: the host then reports the pod as failed.
//!
//! A static binary of its own inside the guest; of rukt it uses only
//! `rukt-contract`, `rukt-sys` and its framing protocol with the host
//! (`rukt_kvm_init::proto`).

mod activation;
mod approot;
mod boot;
mod etc;
mod limits;
mod net;
mod notify;
mod port;
mod spawn;
mod supervise;

use std::io::{self, Read, Write};

use rukt_kvm_init::proto::{Decoder, GuestPod, Kind};

fn main() {
    if std::env::var_os("rukt_probe").is_none()
        && let Err(e) = run()
    {
        log(&format!("error: {e}"));
    }
    rustix::fs::sync();
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    // Not PID 1, or not allowed to power off: nothing else to do.
}

fn run() -> io::Result<()> {
    boot::kernel_filesystems()?;
    boot::load_modules(&rukt_kvm_init::MODULES)?;
    let mut port = port::open()?;
    let (pod, decoder) = receive_pod(&mut port)?;
    boot::mount_share()?;
    boot::hostname(&pod.hostname)?;
    let net_started = std::time::Instant::now();
    net::configure(&pod.nics)?;
    if pod.debug {
        let ms = net_started.elapsed().as_secs_f64() * 1000.0;
        log(&format!(
            "{} NIC(s) configured in {ms:.1} ms",
            pod.nics.len()
        ));
    }
    etc::write(&pod.etc)?;
    limits::sysctls(&pod.sysctls)?;
    limits::setup(&pod.apps)?;
    if pod.debug {
        log(&format!("pod {}: {} app(s)", pod.uuid, pod.apps.len()));
    }
    supervise::Guest::new(port, decoder, pod).run()
}

/// Reads the first frame, which must be the pod.
fn receive_pod(port: &mut std::fs::File) -> io::Result<(GuestPod, Decoder)> {
    let mut decoder = Decoder::default();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(frame) = decoder.next_frame().map_err(io::Error::other)? {
            if frame.kind != Kind::Pod {
                return Err(io::Error::other("the host's first frame is not the pod"));
            }
            return Ok((serde_json::from_slice(&frame.payload)?, decoder));
        }
        match port.read(&mut buf)? {
            0 => return Err(io::Error::other("the host closed the control port")),
            n => decoder.push(&buf[..n]),
        }
    }
}

/// A line on the console.
pub fn log(msg: &str) {
    let _ = writeln!(io::stderr(), "rukt-kvm-init: {msg}");
}
