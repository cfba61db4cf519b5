//! The command line: clap definitions only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rukt: pods without a daemon, on OCI images.
#[derive(Debug, Parser)]
#[command(name = "rukt", version, about, propagate_version = true)]
pub struct Cli {
    /// Store and pod state directory.
    #[arg(long, global = true, default_value = "/var/lib/rukt", env = "RUKT_DIR")]
    pub dir: PathBuf,
    /// Configuration directory (registries.conf, auth.json).
    #[arg(
        long,
        global = true,
        default_value = "/etc/rukt",
        env = "RUKT_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,
    /// Relax security checks: `http` allows plain-HTTP registries.
    #[arg(long, global = true, value_delimiter = ',', value_name = "none|http")]
    pub insecure_options: Vec<InsecureOption>,
    /// Log debug output to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--insecure-options` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InsecureOption {
    /// Nothing relaxed.
    None,
    /// Plain HTTP to registries.
    Http,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch images into the store.
    Fetch(FetchArgs),
    /// Operate on stored images.
    #[command(subcommand)]
    Image(ImageCommand),
}

/// `--pull-policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullPolicyArg {
    /// Only use the store.
    Never,
    /// Fetch if the store lacks the name.
    New,
    /// Always check for a newer manifest.
    Update,
}

/// Flags shared by everything that fetches.
#[derive(Debug, Args)]
pub struct FetchFlags {
    /// When to contact the source.
    #[arg(long, value_enum, default_value = "new")]
    pub pull_policy: PullPolicyArg,
    /// Pick this OS from a multi-platform image.
    #[arg(long)]
    pub os: Option<String>,
    /// Pick this architecture (e.g. arm64, arm/v7) from a multi-platform image.
    #[arg(long)]
    pub arch: Option<String>,
    /// Refuse layers that uncompress to more than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = rukt_images::fetch::DEFAULT_MAX_LAYER_SIZE)]
    pub max_layer_size: u64,
    /// Layers transferred at once.
    #[arg(long, default_value = "3", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_concurrent_downloads: u16,
}

/// `rukt fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Images: docker://HOST/NAME[:TAG|@DIGEST], NAME[:TAG], oci:DIR[:TAG],
    /// oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG].
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// How to fetch.
    #[command(flatten)]
    pub flags: FetchFlags,
    /// Print nothing but the image IDs.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Output formats for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// A table for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// `rukt image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List stored images.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Leave out the header line.
        #[arg(long)]
        no_legend: bool,
        /// Show full IDs.
        #[arg(long)]
        full: bool,
    },
    /// Show an image's record and config as JSON.
    Inspect {
        /// Name or ID prefix.
        image: String,
    },
    /// Print an image's manifest exactly as fetched.
    CatManifest {
        /// Name or ID prefix.
        image: String,
    },
    /// Remove image names (content goes with `image gc`).
    Rm {
        /// Names or ID prefixes.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove content no image needs, and leftovers of interrupted fetches.
    Gc {
        /// Also remove images not used for this long (e.g. 24h, 30m).
        #[arg(long, value_parser = humantime_duration)]
        grace_period: Option<std::time::Duration>,
    },
    /// Re-check stored images against their digests.
    Verify {
        /// Names or ID prefixes; all images when none.
        images: Vec<String>,
    },
    /// Write an image as an OCI layout (oci:DIR[:TAG]) or archive (oci-archive:FILE[:TAG]).
    Export {
        /// Name or ID prefix.
        image: String,
        /// Destination.
        destination: String,
    },
    /// Write an image's flattened root filesystem into DIR.
    Extract {
        /// Name or ID prefix.
        image: String,
        /// Destination directory (must not exist or be empty).
        #[arg(value_name = "DIR")]
        target: PathBuf,
    },
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<humantime::Duration>()
        .map(Into::into)
        .map_err(|e| e.to_string())
}
