//! Where the kvm stage1 finds its parts on the host, each overridable by an
//! environment variable (docs/stage1-kvm.md):
//!
//! | what | default | variable |
//! |---|---|---|
//! | prefix | `/opt/rukt/kvm` (`scripts/setup-kvm.sh`) if it exists, else the system's own packages (below) | `RUKT_KVM_PREFIX` |
//! | qemu | `PREFIX/qemu/usr/bin/qemu-system-x86_64` | `RUKT_KVM_QEMU` |
//! | qemu's data (`qboot.rom`) | `PREFIX/qemu/usr/share/qemu` | `RUKT_KVM_QEMU_DATA` |
//! | virtiofsd | `PREFIX/qemu/usr/lib/qemu/virtiofsd` | `RUKT_KVM_VIRTIOFSD` |
//! | kernel (bzImage) | the newest `PREFIX/kernel/boot/vmlinuz-*` | `RUKT_KVM_KERNEL` |
//! | its modules | `PREFIX/kernel/lib/modules/<version>` | `RUKT_KVM_MODULES` |
//! | guest init | `rukt-kvm-init` next to the stage1 executable named in the pod manifest | `RUKT_KVM_INIT` |
//! | cache | `<store>/cache/stage1-kvm` | `RUKT_KVM_CACHE` |
//!
//! Without a prefix (an installed rukt: the Debian package recommends
//! `qemu-system-x86` and `linux-image-cloud-amd64`), the parts are the
//! system's: `/usr/bin/qemu-system-x86_64`, `/usr/share/qemu`,
//! `/usr/lib/qemu/virtiofsd`, the newest `/boot/vmlinuz-*` and its
//! `/lib/modules/<version>`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The host's kvm parts.
#[derive(Debug, Clone)]
pub struct Host {
    /// qemu-system-x86_64.
    pub qemu: PathBuf,
    /// qemu's firmware directory (`-L`).
    pub qemu_data: PathBuf,
    /// virtiofsd.
    pub virtiofsd: PathBuf,
    /// The distribution kernel, a bzImage.
    pub kernel: PathBuf,
    /// Its modules directory (`lib/modules/<version>`).
    pub modules: PathBuf,
    /// The guest init binary.
    pub init: PathBuf,
    /// Where built artifacts and the accel probe's answer are cached.
    pub cache: PathBuf,
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Host {
    /// Resolves every part; `pod_dir` is `<store>/pods/<state>/<uuid>`,
    /// `stage1` the stage1 executable as the manifest names it (stage0 runs
    /// it from a detached read-only view, so `/proc/self/exe` says nothing
    /// useful about where it lives).
    pub fn locate(pod_dir: &Path, stage1: &Path) -> anyhow::Result<Host> {
        let (qemu_root, kernel_root) = roots();
        let kernel = match var("RUKT_KVM_KERNEL") {
            Some(k) => k,
            None => newest(&kernel_root.join("boot"), "vmlinuz-")?,
        };
        let modules = match var("RUKT_KVM_MODULES") {
            Some(m) => m,
            None => {
                let name = kernel.file_name().unwrap_or_default().to_string_lossy();
                let version = name.trim_start_matches("vmlinuz-");
                kernel_root.join("lib/modules").join(version)
            }
        };
        let init = match var("RUKT_KVM_INIT") {
            Some(i) => i,
            None => stage1.with_file_name(rukt_kvm_init::INIT_BINARY),
        };
        let cache = match var("RUKT_KVM_CACHE") {
            Some(c) => c,
            None => rukt_contract::stage1_cache_dir(pod_dir, "kvm")
                .context("the pod directory is not <store>/pods/<state>/<uuid>")?,
        };
        let host = Host {
            qemu: var("RUKT_KVM_QEMU")
                .unwrap_or_else(|| qemu_root.join("usr/bin/qemu-system-x86_64")),
            qemu_data: var("RUKT_KVM_QEMU_DATA")
                .unwrap_or_else(|| qemu_root.join("usr/share/qemu")),
            virtiofsd: var("RUKT_KVM_VIRTIOFSD")
                .unwrap_or_else(|| qemu_root.join("usr/lib/qemu/virtiofsd")),
            kernel,
            modules,
            init,
            cache,
        };
        for (what, path) in [
            ("qemu", &host.qemu),
            ("virtiofsd", &host.virtiofsd),
            ("the guest kernel", &host.kernel),
            ("the guest init", &host.init),
        ] {
            if !path.is_file() {
                bail!(
                    "{what} not found at {} (install the Debian packages qemu-system-x86 and \
                     linux-image-cloud-amd64, or run scripts/setup-kvm.sh in a checkout; \
                     see docs/stage1-kvm.md)",
                    path.display()
                );
            }
        }
        Ok(host)
    }
}

/// Where qemu's and the kernel's files are: under the setup prefix
/// (`RUKT_KVM_PREFIX`, or `/opt/rukt/kvm` when it exists), else the system's.
fn roots() -> (PathBuf, PathBuf) {
    const SETUP_PREFIX: &str = "/opt/rukt/kvm";
    match var("RUKT_KVM_PREFIX") {
        Some(p) => (p.join("qemu"), p.join("kernel")),
        None if Path::new(SETUP_PREFIX).is_dir() => {
            let p = Path::new(SETUP_PREFIX);
            (p.join("qemu"), p.join("kernel"))
        }
        None => (PathBuf::from("/"), PathBuf::from("/")),
    }
}

/// The lexically greatest `dir/<prefix>*`.
fn newest(dir: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no guest kernel in {} (install linux-image-cloud-amd64, run scripts/setup-kvm.sh, \
             or set RUKT_KVM_KERNEL)",
            dir.display()
        )
    })?;
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    names.sort();
    names
        .pop()
        .with_context(|| format!("no {prefix}* in {}", dir.display()))
}
