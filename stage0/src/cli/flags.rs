//! Parsing of the isolation and limit flags of `rukt run`/`prepare`:
//! quantities (`--memory=256Mi`, `--cpu=500m`), capability lists
//! (`--caps-retain`, `--caps-remove`) and `--seccomp mode=...`.

use rukt_contract::{Seccomp, SeccompMode, isolation::known_capability};

use super::words::SpecError;

pub fn invalid(flag: &'static str, value: &str, reason: &'static str) -> SpecError {
    SpecError::Invalid {
        flag,
        value: value.to_string(),
        reason,
    }
}

/// A memory size: bytes, or with a suffix `K`/`M`/`G`/`T` (powers of 1000,
/// as Kubernetes) or `Ki`/`Mi`/`Gi`/`Ti` (powers of 1024). A lowercase
/// `k`/`m`/`g` (`podman --memory=256m`) means powers of 1024, as docker.
pub fn memory(flag: &'static str, v: &str) -> Result<u64, SpecError> {
    let bytes = size(flag, v)?;
    // Below this, the kernel cannot even start the app.
    if bytes < 4 << 20 {
        return Err(invalid(flag, v, "must be at least 4Mi"));
    }
    Ok(bytes)
}

/// A size in bytes, with [`memory`]'s units.
pub fn size(flag: &'static str, v: &str) -> Result<u64, SpecError> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| invalid(flag, v, "expected a size such as 256Mi or 1G"))?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "K" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "Ki" | "k" | "KiB" => 1 << 10,
        "Mi" | "m" | "MiB" => 1 << 20,
        "Gi" | "g" | "GiB" => 1 << 30,
        "Ti" | "t" | "TiB" => 1 << 40,
        _ => return Err(invalid(flag, v, "unknown unit (use K, M, G, Ki, Mi, Gi)")),
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| invalid(flag, v, "too large"))?;
    Ok(bytes)
}

/// A CPU quota: millicores (`500m`) or cores (`2`, `1.5`).
pub fn cpu_millis(v: &str) -> Result<u64, SpecError> {
    let bad = || invalid("--cpu", v, "expected millicores (500m) or cores (1.5)");
    let millis = if let Some(m) = v.strip_suffix('m') {
        m.parse::<u64>().map_err(|_| bad())?
    } else {
        let cores: f64 = v.parse().map_err(|_| bad())?;
        if !cores.is_finite() || cores < 0.0 {
            return Err(bad());
        }
        (cores * 1000.0).round() as u64
    };
    if millis < 10 {
        return Err(invalid("--cpu", v, "must be at least 10m"));
    }
    Ok(millis)
}

/// A number in a range.
pub fn number<T: std::str::FromStr + PartialOrd + Copy>(
    flag: &'static str,
    v: &str,
    min: T,
    max: T,
    reason: &'static str,
) -> Result<T, SpecError> {
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(invalid(flag, v, reason)),
    }
}

/// A comma-separated capability list; names are accepted with or without
/// `CAP_` and in any case.
pub fn capabilities(flag: &'static str, v: &str) -> Result<Vec<String>, SpecError> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let up = s.to_ascii_uppercase();
            let name = if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            };
            if known_capability(&name) {
                Ok(name)
            } else {
                Err(invalid(flag, v, "unknown capability"))
            }
        })
        .collect()
}

/// `--seccomp mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,...`.
pub fn seccomp(v: &str) -> Result<Seccomp, SpecError> {
    let bad = |reason| invalid("--seccomp", v, reason);
    let mut mode = None;
    let mut errno = None;
    let mut syscalls = Vec::new();
    for part in v.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("mode", "retain")) => mode = Some(SeccompMode::Retain),
            Some(("mode", "remove")) => mode = Some(SeccompMode::Remove),
            Some(("mode", _)) => return Err(bad("mode must be retain or remove")),
            Some(("errno", e)) => {
                if !e.starts_with('E') || !e[1..].bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(bad("errno must be a name such as EPERM"));
                }
                errno = Some(e.to_string());
            }
            Some(_) => return Err(bad("unknown option (mode=, errno=)")),
            None => {
                let ok = part
                    .trim_start_matches('@')
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/' || b == b'-');
                if !ok {
                    return Err(bad("not a syscall name or @group"));
                }
                syscalls.push(part.to_string());
            }
        }
    }
    let mode = mode.ok_or_else(|| bad("missing mode=retain or mode=remove"))?;
    if syscalls.is_empty() {
        return Err(bad("no syscalls listed"));
    }
    Ok(Seccomp {
        mode,
        errno,
        syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(memory("--memory", "256Mi").unwrap(), 256 << 20);
        assert_eq!(memory("--memory", "1G").unwrap(), 1_000_000_000);
        assert_eq!(memory("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(memory("--memory", "8388608").unwrap(), 8 << 20);
        assert!(memory("--memory", "1Zi").is_err());
        assert!(memory("--memory", "1k").is_err());
        assert!(memory("--memory", "").is_err());
    }

    #[test]
    fn cpu_quotas() {
        assert_eq!(cpu_millis("500m").unwrap(), 500);
        assert_eq!(cpu_millis("1.5").unwrap(), 1500);
        assert_eq!(cpu_millis("2").unwrap(), 2000);
        assert!(cpu_millis("5m").is_err());
        assert!(cpu_millis("-1").is_err());
        assert!(cpu_millis("lots").is_err());
    }

    #[test]
    fn capability_sets() {
        let retain = capabilities("--caps-retain", "net_admin,CAP_KILL").unwrap();
        assert_eq!(retain, ["CAP_NET_ADMIN", "CAP_KILL"]);
        assert!(capabilities("--caps-retain", "CAP_FLY").is_err());
        assert_eq!(
            capabilities("--caps-remove", "chown").unwrap(),
            ["CAP_CHOWN"]
        );
    }

    #[test]
    fn seccomp_flags() {
        let s = seccomp("mode=remove,errno=ENOTSUP,chmod,@rukt/default-denylist").unwrap();
        assert_eq!(s.mode, SeccompMode::Remove);
        assert_eq!(s.errno.as_deref(), Some("ENOTSUP"));
        assert_eq!(s.syscalls, ["chmod", "@rukt/default-denylist"]);
        assert!(seccomp("chmod").is_err());
        assert!(seccomp("mode=retain").is_err());
        assert!(seccomp("mode=keep,chmod").is_err());
        assert!(seccomp("mode=retain,errno=eperm,read").is_err());
        assert!(seccomp("mode=retain,rea;d").is_err());
    }
}
