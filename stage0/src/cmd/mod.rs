//! One module per verb; each turns parsed arguments into library calls and
//! prints what they return.

mod about;
mod api_service;
mod app;
// The CRI server's front-end (issue 15).
mod cri;
mod enter;
mod events;
mod fetch;
mod gc;
mod generate;
mod image;
mod list;
mod login;
mod logs;
mod pods;
mod run;
mod service_bin;
mod status;
mod stop;
mod table;
mod tpm;
mod tpm_measure;
mod tpm_quote;
mod trust;

use std::process::ExitCode;

use anyhow::{Context, Result};
use rukt_images::fetch::FetchOptions;
use rukt_images::store::Store;

use crate::cli::{Cli, Command, InsecureOption};

/// Global settings every verb may need.
pub struct Globals {
    pub debug: bool,
    pub dir: std::path::PathBuf,
    pub config_dir: std::path::PathBuf,
    pub insecure_http: bool,
    /// `--cni-plugin-path`; empty for the default.
    pub cni_plugin_path: Vec<std::path::PathBuf>,
    /// Where the signature policy comes from (`--signature-policy`,
    /// `--registries-d`, `--insecure-options=image`).
    pub trust: rukt_images::fetch::TrustOptions,
    /// Socket activation's descriptors, checked before anything was opened.
    pub listen_fds: Option<rukt_contract::ListenFds>,
    /// The TPM event log's flags.
    pub tpm: crate::cli::tpm::TpmFlags,
}

impl Globals {
    /// Opens the store, creating it on first use.
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.dir)
            .with_context(|| format!("cannot open the store at {}", self.dir.display()))
    }

    /// The networks of `<config-dir>/net.d` and where their plugins are.
    pub fn net_catalog(&self) -> rukt_net::Catalog {
        let mut c = rukt_net::Catalog::new(&self.config_dir);
        if !self.cni_plugin_path.is_empty() {
            c.plugin_dirs = self.cni_plugin_path.clone();
        }
        c
    }

    /// The TPM measurer the global flags ask for (off: measures nothing).
    pub fn measurer(&self) -> Result<rukt_tpm::Measurer> {
        tpm_measure::measurer(self)
    }

    /// Fetch options from the global flags, with the library's defaults for
    /// the rest.
    pub fn fetch_options(&self) -> FetchOptions {
        FetchOptions {
            insecure_http: self.insecure_http,
            config_dir: self.config_dir.clone(),
            trust: self.trust.clone(),
            ..FetchOptions::default()
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli, listen_fds: Option<rukt_contract::ListenFds>) -> Result<ExitCode> {
    let g = Globals {
        debug: cli.debug,
        // Absolute: mount points are compared with /proc/self/mountinfo, and
        // stage1 runs with another working directory.
        dir: std::path::absolute(&cli.dir)
            .with_context(|| format!("invalid --dir {}", cli.dir.display()))?,
        config_dir: cli.config_dir,
        insecure_http: cli.insecure_options.contains(&InsecureOption::Http),
        cni_plugin_path: cli.cni_plugin_path,
        trust: rukt_images::fetch::TrustOptions {
            policy: cli.trust.signature_policy,
            registries_d: cli.trust.registries_d,
            insecure: cli.insecure_options.contains(&InsecureOption::Image),
        },
        listen_fds,
        tpm: cli.tpm,
    };
    match cli.command {
        Command::Fetch(args) => fetch::run(&g, args),
        Command::Image(cmd) => image::run(&g, cmd),
        Command::Trust(args) => trust::run(&g, args),
        Command::Logs(args) => logs::run(&g, &args),
        Command::Events(args) => events::run(&g, &args),
        Command::Generate(crate::cli::GenerateCommand::Systemd { words }) => {
            generate::systemd(&g, &words)
        }
        Command::Generate(crate::cli::GenerateCommand::Man { out }) => about::man(&out),
        Command::Version(args) => about::version(&g, args.format),
        Command::Config(args) => about::config(&g, args.format),
        Command::Completion(args) => about::completion(args.shell),
        Command::App(cmd) => app::run(&g, cmd),
        Command::Run(w) => run::run(&g, &w.words),
        Command::Prepare(w) => run::prepare(&g, &w.words),
        Command::RunPrepared {
            uuid,
            uuid_file,
            interactive,
        } => run::run_prepared(&g, uuid.as_deref(), uuid_file.as_deref(), interactive),
        Command::List(f) => list::run(&g, f.format, f.no_legend, f.full),
        Command::Status {
            uuid,
            uuid_file,
            wait,
            check_network,
            format,
        } => status::run(
            &g,
            uuid.as_deref(),
            uuid_file.as_deref(),
            wait,
            check_network,
            format,
        ),
        Command::Stop {
            uuids,
            uuid_file,
            force,
            timeout,
        } => stop::run(&g, &uuids, uuid_file.as_deref(), force, timeout),
        Command::Rm { uuids, uuid_file } => gc::rm(&g, &uuids, uuid_file.as_deref()),
        Command::Gc {
            grace_period,
            expire_prepared,
            mark_only,
        } => gc::gc(&g, grace_period, expire_prepared, mark_only),
        Command::CatManifest { uuid, uuid_file } => {
            status::cat_manifest(&g, uuid.as_deref(), uuid_file.as_deref())
        }
        Command::Enter {
            app,
            uuid_file,
            words,
        } => enter::run(&g, app, uuid_file.as_deref(), &words),
        Command::Tpm(cmd) => tpm::run(&g, cmd),
        Command::ApiService { args } => api_service::run(&g, &args),
        Command::Cri { args } => cri::run(&g, &args),
        Command::Login(args) => login::login(&g, args),
        Command::Logout(args) => login::logout(&g, args),
    }
}
