//! What every RPC needs: the store, the configuration `rukt` itself would
//! use (registries, credentials, networks, engines) and `--debug`. Built
//! once from the command line; shared read-only.

use std::path::PathBuf;

use anyhow::{Context, Result};
use rukt_images::fetch::{FetchOptions, TrustOptions};
use rukt_images::store::Store;

/// The server's configuration.
#[derive(Debug)]
pub struct Ctx {
    /// The store root (`--dir`).
    pub dir: PathBuf,
    /// `--config-dir`.
    pub config_dir: PathBuf,
    /// `--cni-plugin-path`; empty for the default.
    pub cni_plugin_path: Vec<PathBuf>,
    /// `--insecure-options=http`.
    pub insecure_http: bool,
    /// `--insecure-options=image`.
    pub insecure_image: bool,
    /// `--stage1-dir`: where engines are looked up first.
    pub stage1_dir: Option<PathBuf>,
    /// `--debug`, passed on to the engines.
    pub debug: bool,
}

impl Ctx {
    /// Opens (creating) the store and the pods directory.
    pub fn new(mut ctx: Ctx) -> Result<Ctx> {
        ctx.dir = std::path::absolute(&ctx.dir)
            .with_context(|| format!("invalid --dir {}", ctx.dir.display()))?;
        Store::open(&ctx.dir)
            .with_context(|| format!("cannot open the store at {}", ctx.dir.display()))?;
        rukt_pods::Pods::open(&ctx.dir)
            .with_context(|| format!("cannot open the pods of {}", ctx.dir.display()))?;
        Ok(ctx)
    }

    /// The image store.
    pub fn store(&self) -> Store {
        Store::at(&self.dir)
    }

    /// The pods of the store.
    pub fn pods(&self) -> rukt_pods::Pods {
        rukt_pods::Pods::at(&self.dir)
    }

    /// Fetch options as `rukt fetch` has them (registries.conf mirrors,
    /// auth files, the signature policy).
    pub fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            insecure_http: self.insecure_http,
            config_dir: self.config_dir.clone(),
            trust: TrustOptions {
                insecure: self.insecure_image,
                ..TrustOptions::default()
            },
            ..FetchOptions::default()
        }
    }

    /// The networks of `<config-dir>/net.d` and where their plugins are.
    pub fn net_catalog(&self) -> rukt_net::Catalog {
        let mut c = rukt_net::Catalog::new(&self.config_dir);
        if !self.cni_plugin_path.is_empty() {
            c.plugin_dirs = self.cni_plugin_path.clone();
        }
        c
    }

    /// The `--stage1` a runtime handler names: the engine's flavor, or its
    /// path under `--stage1-dir` when it is there (as `rukt run
    /// --stage1=FLAVOR` looks in `RUKT_STAGE1_DIR` first).
    pub fn stage1_for(&self, handler: &str) -> String {
        if let Some(d) = &self.stage1_dir {
            let p = d.join(format!("rukt-stage1-{handler}"));
            if p.is_file() {
                return p.display().to_string();
            }
        }
        handler.to_string()
    }
}

#[cfg(test)]
impl Ctx {
    /// A server over a fresh store in `dir`, for tests.
    pub fn for_tests(dir: &std::path::Path) -> Ctx {
        Ctx::new(Ctx {
            dir: dir.to_path_buf(),
            config_dir: dir.join("config"),
            cni_plugin_path: Vec::new(),
            insecure_http: false,
            insecure_image: false,
            stage1_dir: None,
            debug: false,
        })
        .unwrap()
    }
}
