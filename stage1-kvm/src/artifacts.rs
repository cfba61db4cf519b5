//! The two boot artifacts, built once per kernel and init and cached
//! ([`crate::cache`]): the kernel qemu loads (the PVH vmlinux extracted
//! from the bzImage, or the bzImage itself when that is not possible) and
//! the initramfs (the guest init as `/init`, plus the modules it loads, those of
//! networking included).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rukt_kvm_init::{MODULES, MODULES_DIR, NET_MODULES};
use tracing::{debug, warn};

use crate::cache;
use crate::cpio::Cpio;
use crate::host::Host;
use crate::kernel;

/// Bumped when what is built changes.
const FORMAT: &str = "rukt-kvm-artifacts-1";

/// What qemu boots.
#[derive(Debug, Clone)]
pub struct Boot {
    /// `-kernel`.
    pub kernel: PathBuf,
    /// `-initrd`.
    pub initrd: PathBuf,
}

/// The cached artifacts, built first if needed.
pub fn prepare(host: &Host) -> anyhow::Result<Boot> {
    Ok(Boot {
        kernel: kernel_image(host)?,
        initrd: initramfs(host)?,
    })
}

/// The PVH vmlinux, or the bzImage when none can be extracted.
fn kernel_image(host: &Host) -> anyhow::Result<PathBuf> {
    let key = cache::key(FORMAT, &[&host.kernel])?;
    let marker = host.cache.join(format!("vmlinux-{key}.none"));
    if marker.exists() {
        return Ok(host.kernel.clone());
    }
    let built = cache::get_or_build(&host.cache, &format!("vmlinux-{key}"), || {
        let bz = std::fs::read(&host.kernel)
            .with_context(|| format!("cannot read {}", host.kernel.display()))?;
        Ok(kernel::extract_pvh(&bz)?)
    });
    match built {
        Ok(path) => Ok(path),
        Err(e) => {
            warn!(
                "booting the compressed kernel {}: {e:#}",
                host.kernel.display()
            );
            let _ = rukt_sys::atomic::write_atomic(&marker, b"");
            Ok(host.kernel.clone())
        }
    }
}

/// The initramfs for this init and these modules.
fn initramfs(host: &Host) -> anyhow::Result<PathBuf> {
    check_static(&host.init)?;
    let mut inputs: Vec<PathBuf> = vec![host.init.clone()];
    let modules = module_paths(&host.modules)?;
    inputs.extend(modules.iter().map(|(_, p)| p.clone()));
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let key = cache::key(FORMAT, &refs)?;
    cache::get_or_build(&host.cache, &format!("initramfs-{key}.cpio"), || {
        debug!("building the initramfs");
        let mut c = Cpio::new(Vec::new());
        for dir in [
            "dev",
            "proc",
            "sys",
            "tmp",
            "lib",
            MODULES_DIR.trim_start_matches('/'),
        ] {
            c.dir(dir)?;
        }
        let init = std::fs::read(&host.init)
            .with_context(|| format!("cannot read {}", host.init.display()))?;
        c.file("init", 0o755, &init)?;
        for (name, path) in &modules {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            c.file(
                &format!("{}/{name}.ko", MODULES_DIR.trim_start_matches('/')),
                0o644,
                &data,
            )?;
        }
        Ok(c.finish()?)
    })
}

/// Each module of [`MODULES`] and [`NET_MODULES`] found under `dir` (`kernel/**/<name>.ko`);
/// one that is missing is built into the kernel, or the guest will say so.
fn module_paths(dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("kernel")];
    let mut all = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .with_context(|| format!("cannot list the kernel modules in {}", d.display()))?;
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.push(path);
            }
        }
    }
    for name in MODULES.iter().chain(&NET_MODULES) {
        let file = format!("{name}.ko");
        if let Some(p) = all
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == file))
        {
            found.push((*name, p.clone()));
        }
    }
    Ok(found)
}

/// Refuses an init that needs a dynamic loader: the initramfs has none.
fn check_static(init: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(init).with_context(|| format!("cannot read {}", init.display()))?;
    if has_interpreter(&data) {
        bail!(
            "{} is dynamically linked; the guest init must be static (see stage1-kvm/init/build.rs)",
            init.display()
        );
    }
    Ok(())
}

/// Whether an ELF64 has a `PT_INTERP` program header.
fn has_interpreter(elf: &[u8]) -> bool {
    let field = |off: usize, len: usize| -> Option<u64> {
        let b = elf.get(off..off + len)?;
        let mut v = [0u8; 8];
        v[..len].copy_from_slice(b);
        Some(u64::from_le_bytes(v))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (field(0x20, 8), field(0x36, 2), field(0x38, 2))
    else {
        return false;
    };
    (0..phnum).any(|i| field((phoff + i * phentsize) as usize, 4) == Some(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(has_interpreter(&me));
        assert!(!has_interpreter(b"\x7fELF"));
    }
}
