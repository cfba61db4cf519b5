//! qemu's `microvm` machine: no PCI, no firmware beyond qboot, virtio-mmio
//! devices (modern ones: `virtio-mmio.force-legacy=false`, which
//! vhost-user-fs needs), guest memory in a shared memfd (virtiofsd maps it),
//! the kernel loaded directly, the serial console to a file, a
//! `virtio-net-device` per tap it inherits, and no reboot: a guest reboot
//! or panic ends qemu.

use std::path::PathBuf;

use super::{Accel, VmSpec, Vmm};

/// qemu-system-x86_64 with its firmware directory.
#[derive(Debug, Clone)]
pub struct Qemu {
    /// The executable.
    pub binary: PathBuf,
    /// `-L`: where `qboot.rom` is.
    pub data_dir: PathBuf,
}

/// qemu's option values are comma-separated: a comma in a path is doubled.
fn escape(p: &std::path::Path) -> String {
    p.display().to_string().replace(',', ",,")
}

impl Vmm for Qemu {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn program(&self) -> PathBuf {
        self.binary.clone()
    }

    fn args(&self, spec: &VmSpec<'_>) -> Vec<String> {
        let mem = spec.size.memory_mib;
        let mut a: Vec<String> = vec![
            "-L".into(),
            self.data_dir.display().to_string(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-machine".into(),
            "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=on,acpi=on,memory-backend=mem"
                .into(),
            "-accel".into(),
            spec.accel.name().into(),
            "-cpu".into(),
            match spec.accel {
                // qemu 7.2 aborts on MSR_IA32_ARCH_CAPABILITIES (0x10a) under
                // some KVMs unless the feature is masked.
                Accel::Kvm => "host,-arch-capabilities".into(),
                Accel::Tcg => "max".into(),
            },
            "-smp".into(),
            spec.size.cpus.to_string(),
            "-m".into(),
            format!("{mem}M"),
            "-object".into(),
            format!("memory-backend-memfd,id=mem,size={mem}M,share=on"),
            "-global".into(),
            "virtio-mmio.force-legacy=false".into(),
            "-kernel".into(),
            escape(&spec.boot.kernel),
            "-initrd".into(),
            escape(&spec.boot.initrd),
            "-append".into(),
            spec.cmdline.clone(),
            "-serial".into(),
            format!("file:{}", spec.console.display()),
        ];
        if let Some(fs) = spec.fs_socket {
            a.extend([
                "-chardev".into(),
                format!("socket,id=fs,path={}", escape(fs)),
                "-device".into(),
                format!(
                    "vhost-user-fs-device,chardev=fs,tag={}",
                    rukt_kvm_init::proto::FS_TAG
                ),
            ]);
        }
        if let Some(ctl) = spec.ctl_socket {
            a.extend([
                "-device".into(),
                "virtio-serial-device,max_ports=2".into(),
                "-chardev".into(),
                format!("socket,id=ctl,path={}", escape(ctl)),
                "-device".into(),
                format!(
                    "virtserialport,chardev=ctl,name={}",
                    rukt_kvm_init::proto::PORT_NAME
                ),
            ]);
        }
        // vhost stays off: these hosts have no /dev/vhost-net.
        for (i, nic) in spec.nics.iter().enumerate() {
            a.extend([
                "-netdev".into(),
                format!("tap,id=n{i},fd={},vhost=off", nic.fd),
                "-device".into(),
                format!("virtio-net-device,netdev=n{i},mac={}", nic.mac),
            ]);
        }
        if let Some(pidfile) = spec.pidfile {
            a.extend(["-pidfile".into(), escape(pidfile)]);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::Boot;
    use crate::sizing::Size;
    use crate::vmm::NicSpec;
    use std::path::Path;

    fn args(accel: Accel, fs: Option<&Path>) -> Vec<String> {
        let nics: Vec<NicSpec> = fs
            .map(|_| NicSpec {
                fd: 7,
                mac: "0a:58:ac:10:1c:05".into(),
            })
            .into_iter()
            .collect();
        let boot = Boot {
            kernel: "/c/vmlinux".into(),
            initrd: "/c/init,rd.cpio".into(),
        };
        let q = Qemu {
            binary: "/q/qemu-system-x86_64".into(),
            data_dir: "/q/share".into(),
        };
        q.args(&VmSpec {
            boot: &boot,
            cmdline: "console=ttyS0 quiet".into(),
            size: Size {
                memory_mib: 320,
                cpus: 2,
            },
            accel,
            fs_socket: fs,
            ctl_socket: fs.map(|_| Path::new("/pod/stage1/ctl.sock")),
            console: Path::new("/pod/stage1/console.log"),
            pidfile: Some(Path::new("/pod/stage1/qemu.pid")),
            nics: &nics,
        })
    }

    fn after<'a>(a: &'a [String], flag: &str) -> Vec<&'a str> {
        a.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn a_pod_vm() {
        let a = args(Accel::Tcg, Some(Path::new("/pod/stage1/fs.sock")));
        assert!(after(&a, "-machine")[0].starts_with("microvm,"));
        assert!(after(&a, "-machine")[0].ends_with("memory-backend=mem"));
        assert_eq!(after(&a, "-accel"), ["tcg"]);
        assert_eq!(after(&a, "-m"), ["320M"]);
        assert_eq!(after(&a, "-smp"), ["2"]);
        assert_eq!(
            after(&a, "-object"),
            ["memory-backend-memfd,id=mem,size=320M,share=on"]
        );
        assert_eq!(after(&a, "-global"), ["virtio-mmio.force-legacy=false"]);
        assert_eq!(after(&a, "-initrd"), ["/c/init,,rd.cpio"]);
        assert_eq!(after(&a, "-append"), ["console=ttyS0 quiet"]);
        assert_eq!(
            after(&a, "-device"),
            [
                "vhost-user-fs-device,chardev=fs,tag=rukt",
                "virtio-serial-device,max_ports=2",
                "virtserialport,chardev=ctl,name=rukt.ctl",
                "virtio-net-device,netdev=n0,mac=0a:58:ac:10:1c:05"
            ]
        );
        assert_eq!(after(&a, "-netdev"), ["tap,id=n0,fd=7,vhost=off"]);
        assert_eq!(after(&a, "-pidfile"), ["/pod/stage1/qemu.pid"]);
        assert_eq!(after(&a, "-serial"), ["file:/pod/stage1/console.log"]);
    }

    #[test]
    fn kvm_masks_arch_capabilities_and_the_probe_has_no_devices() {
        let a = args(Accel::Kvm, None);
        assert_eq!(after(&a, "-accel"), ["kvm"]);
        assert_eq!(after(&a, "-cpu"), ["host,-arch-capabilities"]);
        assert!(after(&a, "-device").is_empty());
        assert!(after(&a, "-chardev").is_empty());
    }
}
