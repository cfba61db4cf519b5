//! Platforms (`linux/amd64`, `linux/arm64/v8`): the host's, and picking a
//! manifest for one out of an image index.

use std::fmt;

/// An OS/architecture pair with an optional variant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    /// `linux`, in practice.
    pub os: String,
    /// GOARCH spelling: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`.
    pub architecture: String,
    /// `v8` for arm64, `v7` for arm, when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on.
    pub fn host() -> Platform {
        let architecture = goarch(std::env::consts::ARCH);
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture,
            variant: None,
        }
    }

    /// The host platform with user overrides applied.
    pub fn with_overrides(os: Option<&str>, arch: Option<&str>) -> Platform {
        let mut p = Platform::host();
        if let Some(os) = os {
            p.os = os.to_string();
        }
        if let Some(arch) = arch {
            let (a, v) = match arch.split_once('/') {
                Some((a, v)) => (a, Some(v.to_string())),
                None => (arch, None),
            };
            p.architecture = goarch(a);
            p.variant = v;
        }
        p
    }

    /// Whether an index entry for `os`/`arch`/`variant` serves this platform.
    /// A wanted variant must match; an unspecified one accepts any (arm64's
    /// `v8` is the default and is treated as unspecified).
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let norm = |v: Option<&str>| {
            v.filter(|v| !(arch == "arm64" && *v == "v8"))
                .map(str::to_string)
        };
        self.os == os
            && self.architecture == goarch(arch)
            && (self.variant.is_none() || norm(self.variant.as_deref()) == norm(variant))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Maps Rust's and uname's architecture names to Go's, which images use.
fn goarch(arch: &str) -> String {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" | "ppc64le" => "ppc64le",
        "riscv64gc" => "riscv64",
        other => other,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_overrides() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        let p = Platform::with_overrides(None, Some("arm64"));
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(p.matches("linux", "arm64", None));
        assert!(!p.matches("linux", "amd64", None));
        let p = Platform::with_overrides(None, Some("arm/v7"));
        assert!(p.matches("linux", "arm", Some("v7")));
        assert!(!p.matches("linux", "arm", Some("v6")));
        assert_eq!(
            Platform::with_overrides(None, Some("x86_64")).architecture,
            "amd64"
        );
    }
}
