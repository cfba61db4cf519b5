//! The guest side of rukt's kvm stage1: the protocol the host's supervisor
//! and the guest init speak ([`proto`]), shared by both. The init itself is
//! this crate's binary (`src/main.rs`), built statically by `build.rs` and
//! packed into the initramfs by the stage1.

#![forbid(unsafe_code)]

pub mod proto;
pub mod relay;

/// The file name of the init binary, next to `rukt-stage1-kvm`.
pub const INIT_BINARY: &str = "rukt-kvm-init";
/// Kernel command-line parameter that makes the init power off at once
/// (the acceleration probe). The kernel hands `name=value` words without a
/// dot to init as environment variables.
pub const PROBE_ARG: &str = "rukt_probe=1";
/// Where the guest init finds the kernel modules it loads, in order.
pub const MODULES_DIR: &str = "/lib/modules";
/// The modules the init loads, in dependency order, as file stems.
pub const MODULES: [&str; 6] = [
    "virtio_ring",
    "virtio",
    "virtio_mmio",
    "virtio_console",
    "fuse",
    "virtiofs",
];
/// The modules a pod with networks needs too (`virtio_net` and what it
/// depends on), loaded only then.
pub const NET_MODULES: [&str; 3] = ["failover", "net_failover", "virtio_net"];
