//! Where networks are defined and their plugins found: the user's
//! configuration lists in `<config-dir>/net.d/*.conflist` (read in lexical
//! order; the first whose `name` matches wins, so a file naming itself
//! `default` replaces the built-in one), then the built-in networks, and
//! the plugin directories (`/usr/lib/cni` from Debian, then `/opt/cni/bin`,
//! upstream's place) in order.

use std::path::{Path, PathBuf};

use crate::builtin;
use crate::conf::{ConfError, NetConf};

/// Where plugins are looked for unless configured otherwise.
pub const DEFAULT_PLUGIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];

/// Why a network cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No configuration list names it.
    #[error("no network named {name:?} (built-in: default, default-restricted; {dir}: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The directory searched.
        dir: String,
        /// The names found there.
        known: String,
    },
    /// A list that names it, or could, does not parse.
    #[error(transparent)]
    Broken(#[from] ConfError),
    /// The directory cannot be read.
    #[error("cannot read {dir}")]
    Read {
        /// The directory.
        dir: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A plugin executable is in no plugin directory.
    #[error("network {network}: CNI plugin {plugin:?} not found in {dirs}")]
    MissingPlugin {
        /// The network.
        network: String,
        /// The plugin's type.
        plugin: String,
        /// The directories searched.
        dirs: String,
    },
}

/// The networks a host defines and where their plugins are.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The `net.d` directory.
    pub net_d: PathBuf,
    /// Plugin directories, in search order.
    pub plugin_dirs: Vec<PathBuf>,
}

impl Catalog {
    /// The catalog of `<config_dir>/net.d` with the default plugin path.
    pub fn new(config_dir: &Path) -> Catalog {
        Catalog {
            net_d: config_dir.join("net.d"),
            plugin_dirs: DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    /// The network `name`: the first list in `net.d` that names it, else a
    /// built-in one whose leases live under `store_net_dir`. A list that
    /// does not parse is an error when its file is named for `name` or when
    /// nothing else matches (it might have); otherwise it is skipped with a
    /// warning.
    pub fn resolve(&self, name: &str, store_net_dir: &Path) -> Result<NetConf, CatalogError> {
        let mut broken: Option<ConfError> = None;
        let mut known = Vec::new();
        for path in self.lists()? {
            let data = std::fs::read(&path).map_err(|source| CatalogError::Read {
                dir: path.display().to_string(),
                source,
            })?;
            match NetConf::parse(&data, &path) {
                Ok(conf) if conf.name() == name => return Ok(conf),
                Ok(conf) => known.push(conf.name().to_string()),
                Err(e) if path.file_stem().is_some_and(|s| s == name) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!("skipping a broken network configuration: {e}");
                    broken.get_or_insert(e);
                }
            }
        }
        if let Some(conf) = builtin::builtin(name, store_net_dir) {
            return Ok(conf);
        }
        if let Some(e) = broken {
            return Err(e.into());
        }
        Err(CatalogError::Unknown {
            name: name.to_string(),
            dir: self.net_d.display().to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        })
    }

    /// The `*.conflist` files of `net.d`, sorted; none if it does not exist.
    fn lists(&self) -> Result<Vec<PathBuf>, CatalogError> {
        let entries = match std::fs::read_dir(&self.net_d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CatalogError::Read {
                    dir: self.net_d.display().to_string(),
                    source,
                });
            }
        };
        let mut out: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conflist"))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Checks that every plugin `conf` runs is installed.
    pub fn check_plugins(&self, conf: &NetConf) -> Result<(), CatalogError> {
        for plugin in conf.executables() {
            if find_plugin(&self.plugin_dirs, plugin).is_none() {
                return Err(CatalogError::MissingPlugin {
                    network: conf.name().to_string(),
                    plugin: plugin.to_string(),
                    dirs: join_dirs(&self.plugin_dirs),
                });
            }
        }
        Ok(())
    }
}

/// The executable of plugin `kind` in the first directory of `dirs` that
/// has it.
pub fn find_plugin(dirs: &[PathBuf], kind: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(kind)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `dirs` as `CNI_PATH` spells them.
pub fn join_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(files: &[(&str, &str)]) -> (tempfile::TempDir, Catalog) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("net.d")).unwrap();
        for (name, text) in files {
            std::fs::write(tmp.path().join("net.d").join(name), text).unwrap();
        }
        let c = Catalog::new(tmp.path());
        (tmp, c)
    }

    const MYNET: &str = r#"{"cniVersion":"1.0.0","name":"mynet","plugins":[{"type":"ptp"}]}"#;

    #[test]
    fn named_lists_then_built_ins() {
        let (_t, c) = catalog(&[("10-my.conflist", MYNET), ("notes.txt", "x")]);
        let store = Path::new("/s/net");
        assert_eq!(c.resolve("mynet", store).unwrap().name(), "mynet");
        assert_eq!(
            c.resolve("default", store).unwrap().executables(),
            ["bridge", "host-local"]
        );
        let e = c.resolve("other", store).unwrap_err().to_string();
        assert!(
            e.contains("no network named \"other\"") && e.contains("mynet"),
            "{e}"
        );
    }

    #[test]
    fn a_user_default_replaces_the_built_in() {
        let mine = MYNET.replace("mynet", "default");
        let (_t, c) = catalog(&[("99-default.conflist", &mine)]);
        let d = c.resolve("default", Path::new("/s")).unwrap();
        assert_eq!(d.executables(), ["ptp"]);
    }

    #[test]
    fn broken_lists() {
        let (_t, c) = catalog(&[("mynet.conflist", "{"), ("zz-ok.conflist", MYNET)]);
        // Named for the network and read first: its error, though a later file matches.
        let e = c.resolve("mynet", Path::new("/s")).unwrap_err().to_string();
        assert!(e.contains("mynet.conflist: not a JSON object"), "{e}");
        let (_t, c) = catalog(&[("10-x.conflist", "{")]);
        let e = c.resolve("other", Path::new("/s")).unwrap_err().to_string();
        assert!(e.contains("10-x.conflist"), "{e}");
        // A broken unrelated file does not hide the built-in networks.
        assert!(c.resolve("default", Path::new("/s")).is_ok());
    }

    #[test]
    fn plugins_must_be_installed() {
        let (tmp, mut c) = catalog(&[]);
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        c.plugin_dirs = vec![bin.clone()];
        let conf = NetConf::parse(MYNET.as_bytes(), Path::new("m")).unwrap();
        let e = c.check_plugins(&conf).unwrap_err().to_string();
        assert!(e.contains("CNI plugin \"ptp\" not found in"), "{e}");
        std::fs::write(bin.join("ptp"), "#!/bin/sh\n").unwrap();
        assert!(c.check_plugins(&conf).is_err(), "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("ptp"), std::fs::Permissions::from_mode(0o755)).unwrap();
        c.check_plugins(&conf).unwrap();
    }
}
