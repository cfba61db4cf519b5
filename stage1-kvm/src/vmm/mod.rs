//! The VMM behind a small interface: what a pod's VM needs (kernel,
//! initramfs, command line, size, acceleration, the pod's virtiofs socket,
//! the control port's socket, a console log, the taps of its NICs) and how a VMM turns that into
//! a command line. qemu's `microvm` ([`qemu::Qemu`]) is the one there is;
//! cloud-hypervisor or firecracker would be another implementation (both
//! take a PVH vmlinux, a vhost-user-fs socket and a virtio console).

pub mod qemu;

use std::path::{Path, PathBuf};

use crate::artifacts::Boot;
use crate::sizing::Size;

/// How the guest's CPUs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization through `/dev/kvm`.
    Kvm,
    /// qemu's software emulation.
    Tcg,
}

impl Accel {
    /// The name used in logs, the cache and qemu's `-accel`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// One VM to start.
#[derive(Debug, Clone)]
pub struct VmSpec<'a> {
    /// Kernel and initramfs.
    pub boot: &'a Boot,
    /// The kernel command line.
    pub cmdline: String,
    /// Memory and vCPUs.
    pub size: Size,
    /// Acceleration.
    pub accel: Accel,
    /// The vhost-user-fs socket of the pod's share (none for the probe).
    pub fs_socket: Option<&'a Path>,
    /// The control port's unix socket, a listener the VMM connects to.
    pub ctl_socket: Option<&'a Path>,
    /// Where the serial console goes.
    pub console: &'a Path,
    /// Where the VMM writes its PID.
    pub pidfile: Option<&'a Path>,
    /// The network interfaces.
    pub nics: &'a [NicSpec],
}

/// One network interface of the VM: a tap the VMM inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// The tap's descriptor number in the VMM (inherited).
    pub fd: std::os::fd::RawFd,
    /// The NIC's MAC.
    pub mac: String,
}

/// A virtual machine monitor.
pub trait Vmm {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// The executable.
    fn program(&self) -> PathBuf;
    /// The arguments that start `spec`'s VM in the foreground and exit when
    /// the guest powers off.
    fn args(&self, spec: &VmSpec<'_>) -> Vec<String>;
}
