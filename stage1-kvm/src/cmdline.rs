//! The guest kernel's command line. Boot-time savers for every guest (no
//! PCI scan, no KASLR, no mitigations, no crypto self-tests, no i8042
//! probing, quiet console), and under TCG the TSC hints that keep a
//! `microvm` guest from hanging after "Marking TSC unstable": the TSC is
//! declared reliable and its frequency (`tsc_early_khz`) and the delay-loop
//! calibration (`lpj`) are computed from the host's, whose TSC the TCG
//! guest reads.

/// The guest kernel's timer frequency (`CONFIG_HZ` of Debian's kernels).
const GUEST_HZ: u64 = 250;

/// What the command line depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Software emulation: add the TSC hints.
    pub tcg: bool,
    /// The host's TSC frequency in kHz, when known.
    pub tsc_khz: Option<u64>,
    /// Print the kernel's messages (`--debug`).
    pub verbose: bool,
    /// Power off at once (the acceleration probe).
    pub probe: bool,
}

/// The kernel command line.
pub fn build(o: &Options) -> String {
    let mut words = vec![
        "console=ttyS0",
        "reboot=t",
        "panic=-1",
        "pci=off",
        "nokaslr",
        "mitigations=off",
        "cryptomgr.notests",
        "random.trust_cpu=on",
        "i8042.noaux",
        "i8042.nokbd",
        "i8042.nopnp",
        "i8042.dumbkbd",
        "8250.nr_uarts=1",
        "no_timer_check",
        "noreplace-smp",
        "rdinit=/init",
    ];
    words.push(if o.verbose { "loglevel=7" } else { "quiet" });
    let mut line = words.join(" ");
    if o.tcg {
        line.push_str(" tsc=reliable");
        if let Some(khz) = o.tsc_khz {
            line.push_str(&format!(
                " tsc_early_khz={khz} lpj={}",
                khz * 1000 / GUEST_HZ
            ));
        }
    }
    if o.probe {
        line.push(' ');
        line.push_str(rukt_kvm_init::PROBE_ARG);
    }
    line
}

/// The host's TSC frequency in kHz, from `/proc/cpuinfo`'s `cpu MHz` (the
/// TSC frequency on hosts with a constant TSC, as x86 hosts have had for
/// fifteen years).
pub fn host_tsc_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    tsc_khz_from_cpuinfo(&info)
}

fn tsc_khz_from_cpuinfo(info: &str) -> Option<u64> {
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    (mhz > 0.0).then(|| (mhz * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_gets_tsc_hints_from_the_host() {
        let info = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2445.406\n";
        let khz = tsc_khz_from_cpuinfo(info);
        assert_eq!(khz, Some(2_445_406));
        let line = build(&Options {
            tcg: true,
            tsc_khz: khz,
            verbose: false,
            probe: false,
        });
        assert!(
            line.contains(" tsc=reliable tsc_early_khz=2445406 lpj=9781624"),
            "{line}"
        );
        assert!(
            line.contains("pci=off") && line.contains(" quiet"),
            "{line}"
        );
        assert!(!line.contains("rukt_probe"));
    }

    #[test]
    fn kvm_and_probe_lines() {
        let line = build(&Options {
            tcg: false,
            tsc_khz: Some(1000),
            verbose: true,
            probe: true,
        });
        assert!(!line.contains("tsc="), "{line}");
        assert!(
            line.contains("loglevel=7") && line.ends_with(" rukt_probe=1"),
            "{line}"
        );
        assert_eq!(tsc_khz_from_cpuinfo("flags: fpu\n"), None);
    }
}
