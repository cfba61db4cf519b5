//! The command line: clap definitions (here), the rkt-style words of `run`
//! and `prepare` (`words`) and the value parsers they share (`flags`). No
//! behaviour: each value is parsed once, into the libraries' types.
//!
//! Every subcommand enum is `#[command(defer = true)]`: clap builds only the
//! verbs a command line names, not the whole tree of some 50 verbs and their
//! flags (about 0.5 ms and 500 KB of heap on every `rukt` invocation). Two
//! rules follow. A verb's about comes from its enum variant's doc comment,
//! so the `Args` structs that verbs take (or flatten) carry plain `//`
//! comments: a doc comment there would be applied when the verb is built
//! and replace the variant's. And a verb's own argument must not take the
//! id of a global one (`--dir`): deferred arguments are added after the
//! globals are propagated. The tests check both.

pub mod about;
pub mod events;
pub mod flags;
pub mod login;
pub mod logs;
pub mod netflags;
pub mod tpm;
pub mod words;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default store (`--dir`).
pub const DEFAULT_DIR: &str = "/var/lib/rukt";

/// rukt: pods without a daemon, on OCI images.
#[derive(Debug, Parser)]
#[command(name = "rukt", version, about, propagate_version = true)]
pub struct Cli {
    /// Store and pod state directory.
    #[arg(long, global = true, default_value = DEFAULT_DIR, env = "RUKT_DIR")]
    pub dir: PathBuf,
    /// Configuration directory (registries.conf, auth.json, net.d/).
    #[arg(
        long,
        global = true,
        default_value = "/etc/rukt",
        env = "RUKT_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,
    /// Where CNI plugins are looked up, in order (default /usr/lib/cni:/opt/cni/bin).
    #[arg(
        long,
        global = true,
        value_delimiter = ':',
        env = "RUKT_CNI_PATH",
        value_name = "DIR:..."
    )]
    pub cni_plugin_path: Vec<PathBuf>,
    /// Relax security checks: `http` allows plain-HTTP registries,
    /// `image` skips the signature policy (said on stderr).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "none|http|image"
    )]
    pub insecure_options: Vec<InsecureOption>,
    /// Image trust: the signature policy file (containers-policy.json).
    #[command(flatten)]
    pub trust: TrustFlags,
    /// Log debug output to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// TPM event logging.
    #[command(flatten)]
    pub tpm: tpm::TpmFlags,
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
    /// No signature check of images.
    Image,
}

/// Where the signature policy and signature locations are read from.
#[derive(Debug, Args)]
pub struct TrustFlags {
    /// The signature policy, instead of CONFIG-DIR/policy.json (e.g.
    /// podman's /etc/containers/policy.json).
    #[arg(long, global = true, value_name = "PATH")]
    pub signature_policy: Option<PathBuf>,
    /// Where signatures are found, instead of CONFIG-DIR/registries.d
    /// (e.g. /etc/containers/registries.d).
    #[arg(long = "registries-d", global = true, value_name = "DIR")]
    pub registries_d: Option<PathBuf>,
}

// `rukt trust`: rkt-style trusted keys per image prefix (not a doc comment:
// see the module doc).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TrustArgs {
    /// Trust the key for images under this prefix (host, namespace or
    /// repository; matched by path component).
    #[arg(long, conflicts_with = "root", required_unless_present_any = ["root"])]
    pub prefix: Option<String>,
    /// Trust the key for every docker image not under a prefix.
    #[arg(long)]
    pub root: bool,
    /// The public key: OpenPGP (binary or armored) or a PEM P-256 key.
    #[arg(value_name = "KEYFILE", required = true)]
    pub key: Option<PathBuf>,
    /// `list` or `rm`.
    #[command(subcommand)]
    pub command: Option<TrustCommand>,
}

// `rukt trust list|rm` (not a doc comment: see the module doc).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum TrustCommand {
    /// List trusted keys (or, with --policy, print the merged policy).
    List {
        /// Print the policy rukt evaluates: policy.json with the keys merged in.
        #[arg(long)]
        policy: bool,
        /// Leave out the header line.
        #[arg(long)]
        no_legend: bool,
    },
    /// Stop trusting a key.
    Rm {
        /// Its fingerprint, as `rukt trust list` shows it.
        fingerprint: String,
        /// Only for this prefix.
        #[arg(long, conflicts_with = "root")]
        prefix: Option<String>,
        /// Only the root key.
        #[arg(long)]
        root: bool,
    },
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Fetch images into the store.
    Fetch(FetchArgs),
    /// Run a pod: fetch its images, prepare it and become its stage1.
    ///
    /// rukt run [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS] [--- IMAGE [APP FLAGS] [-- ARGS]]...
    ///
    /// Pod flags (anywhere outside an app's -- ARGS):
    ///   --stage1=nspawn|kvm|fly|PATH       the engine (default nspawn)
    ///   --hostname=NAME                     the pod's hostname
    ///   --net=default|default-restricted|none|host|NAME[:K=V;K=V][,NAME...]   the pod's networks
    ///   -p, --publish [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp], --port NAME:[HOSTIP:]HOSTPORT   publish a port
    ///   --dns=IP,...|host|none, --dns-search=D,..., --dns-opt=O,..., --dns-domain=D
    ///   --hosts-entry=IP=NAME|host          extra /etc/hosts lines, or the host's file
    ///   --ipc=pod|private|host, --pid=pod|private|host   namespace sharing
    ///   --kvm-accel=auto|kvm|tcg            the kvm engine's accelerator
    ///   --volume NAME,kind=host|empty[,source=PATH][,readOnly=BOOL]
    ///   --set-env NAME=VALUE, --set-env-file FILE, --inherit-env   every app's environment
    ///   --interactive                       give the app the terminal
    ///   --uuid-file-save FILE               write the pod's UUID to FILE
    ///   --pull-policy never|new|update      when to fetch images
    ///   --quiet                             no progress bars
    ///   --sd-notify=pod|app[:NAME]|ignore   who says READY=1 under systemd (NOTIFY_SOCKET)
    ///   --log-max-size=SIZE, --log-max-files=N   logs/<app>.log rotation (10Mi, 5)
    ///   --sysctl NAME=VALUE                 a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)
    ///   --cgroup-parent=PATH                make the pod's cgroup in PATH (/kubepods/pod1): PATH/rukt/UUID
    /// Limits: before the first image they limit the whole pod, after an image that app:
    ///   --memory=SIZE (256Mi, 1G), --cpu=CORES (500m, 1.5), --cpu-shares=N, --pids-limit=N
    /// App flags (after the image they apply to):
    ///   --name, --exec, --working-dir, --user, --group, --environment NAME=VALUE,
    ///   --readonly-rootfs, --mount volume=NAME,target=PATH or source=HOSTPATH,target=PATH[,readOnly=BOOL][,propagation=P],
    ///   --caps-retain=CAP,..., --caps-remove=CAP,...,
    ///   --seccomp=mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,..., --oom-score-adj=N,
    ///   --privileged (every capability and device, no seccomp, nothing masked),
    ///   --stdin, --stdin-once (a stdin of its own for `rukt app attach`, mutable pods),
    ///   --stop-signal=SIGNAL (what `rukt stop` sends it first; default the image's StopSignal, else SIGTERM),
    ///   --tty/-t (a terminal of its own: its output logged as stdout, attach talks to it; nspawn),
    ///   --security-opt seccomp=unconfined|PROFILE.json|no-new-privileges=false|mask=P:P|unmask=ALL|P:P
    #[command(verbatim_doc_comment)]
    Run(PodWords),
    /// Prepare a pod without running it; prints its UUID.
    ///
    /// Takes the same words as `rukt run` (see `rukt run --help`).
    #[command(verbatim_doc_comment)]
    Prepare(PodWords),
    /// Run a prepared pod.
    RunPrepared {
        /// The pod's UUID or a unique prefix.
        #[arg(required_unless_present = "uuid_file")]
        uuid: Option<String>,
        /// Read the UUID from this file.
        #[arg(long)]
        uuid_file: Option<PathBuf>,
        /// Give the app the terminal.
        #[arg(long)]
        interactive: bool,
    },
    /// List pods.
    List(ListFlags),
    /// Show a pod's state, times, PID and its apps' exit codes.
    Status {
        /// The pod's UUID or a unique prefix.
        #[arg(required_unless_present = "uuid_file")]
        uuid: Option<String>,
        /// Read the UUID from this file.
        #[arg(long)]
        uuid_file: Option<PathBuf>,
        /// Wait for the pod to exit, at most DURATION (no value: forever).
        #[arg(long, num_args = 0..=1, default_missing_value = "0s", value_parser = humantime_duration, value_name = "DURATION")]
        wait: Option<std::time::Duration>,
        /// Ask the pod's CNI plugins to check its networks (CNI CHECK); fails if one does not pass.
        #[arg(long)]
        check_network: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Stop running pods.
    Stop {
        /// UUIDs or unique prefixes.
        #[arg(required_unless_present = "uuid_file")]
        uuids: Vec<String>,
        /// Read a UUID from this file.
        #[arg(long)]
        uuid_file: Option<PathBuf>,
        /// Kill at once instead of asking to terminate.
        #[arg(long)]
        force: bool,
        /// Seconds to wait after asking before killing.
        #[arg(long, default_value_t = rukt_contract::args::DEFAULT_STOP_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// Remove exited or prepared pods now.
    Rm {
        /// UUIDs or unique prefixes.
        #[arg(required_unless_present = "uuid_file")]
        uuids: Vec<String>,
        /// Read a UUID from this file.
        #[arg(long)]
        uuid_file: Option<PathBuf>,
    },
    /// Garbage-collect pods: mark exited ones, remove those marked long enough ago.
    Gc {
        /// How long exited pods stay after being marked.
        #[arg(long, default_value = "30m", value_parser = humantime_duration)]
        grace_period: std::time::Duration,
        /// Mark prepared pods older than this.
        #[arg(long, default_value = "24h", value_parser = humantime_duration)]
        expire_prepared: std::time::Duration,
        /// Only mark.
        #[arg(long)]
        mark_only: bool,
    },
    /// Print a pod's manifest.
    CatManifest {
        /// The pod's UUID or a unique prefix.
        #[arg(required_unless_present = "uuid_file")]
        uuid: Option<String>,
        /// Read the UUID from this file.
        #[arg(long)]
        uuid_file: Option<PathBuf>,
    },
    /// Run a command inside a running app (default /bin/sh).
    Enter {
        /// The app; may be left out when the pod has one.
        #[arg(long)]
        app: Option<String>,
        /// Read the UUID from this file (then every argument is the command).
        #[arg(long)]
        uuid_file: Option<PathBuf>,
        /// UUID (unless --uuid-file), then the command and its arguments.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "UUID [CMD ARGS]"
        )]
        words: Vec<String>,
    },
    /// Print configuration for other tools: `rukt generate systemd [POD FLAGS] IMAGE ...`.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Print the apps' output of a pod (running or exited, until gc removes it).
    Logs(logs::LogsArgs),
    /// Print the store's events (pods prepared, started, exited, removed;
    /// images imported, removed): replayed, then followed.
    Events(events::EventsArgs),
    /// Operate on stored images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Trust a key for signed images (rkt's trust; see docs/trust.md).
    ///
    /// rukt trust --prefix REPO KEYFILE | --root KEYFILE | list | rm FINGERPRINT
    #[command(verbatim_doc_comment)]
    Trust(TrustArgs),
    /// Change the apps of a running pod (mutable pods, on engines that support them).
    #[command(subcommand)]
    App(AppCommand),
    /// The TPM event log: show, verify, quote, check.
    #[command(subcommand)]
    Tpm(tpm::TpmCommand),
    /// Print rukt's version, each engine's interface versions and features, and
    /// what this host offers (KVM, a TPM, the cgroup version).
    Version(about::VersionArgs),
    /// Print the configuration as rukt sees it: directories, registries and
    /// mirrors, credentials and policy files, networks, TPM, engines.
    Config(about::ConfigArgs),
    /// Print a completion script for a shell (`source <(rukt completion bash)`).
    Completion(about::CompletionArgs),
    /// Serve the read-only gRPC API (execs rukt-api-service with these
    /// arguments; `rukt api-service --help` shows its own).
    #[command(disable_help_flag = true)]
    ApiService {
        /// The service's arguments (`--listen unix:PATH`, `--listen tcp:IP:PORT`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Serve the Kubernetes CRI (runtime.v1) on a unix socket (execs
    /// rukt-cri with these arguments; `rukt cri --help` shows its own).
    #[command(disable_help_flag = true)]
    Cri {
        /// The server's arguments (`--listen unix:///run/rukt/cri.sock`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Log in to a registry: check the credentials, then save them in auth.json.
    Login(login::LoginArgs),
    /// Log out of a registry: remove its credentials from auth.json.
    Logout(login::LogoutArgs),
}

/// `rukt generate ...`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum GenerateCommand {
    /// Print a systemd unit running the pod `rukt run WORDS` would (Type=notify,
    /// KillMode=mixed, Delegate=yes, ExecStopPost=-rukt gc --mark-only).
    Systemd {
        /// The words of `rukt run`: [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS] ...
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "WORDS"
        )]
        words: Vec<String>,
    },
    /// Write a man page for rukt and each of its verbs into DIR (rukt.1,
    /// rukt-run.1, rukt-image-list.1, ...), for packagers.
    Man {
        /// Where the pages go (created if missing).
        #[arg(value_name = "DIR")]
        out: PathBuf,
    },
}

/// `rukt app ...`, as rkt's.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AppCommand {
    /// Start a mutable pod with no apps (its network, namespaces and
    /// supervisor); add apps to it with `rukt app add`. In the foreground,
    /// as `rukt run` (for a systemd unit), unless --detach.
    ///
    /// rukt app sandbox [--detach] [POD FLAGS]   (pod flags as for rukt run, no image)
    #[command(verbatim_doc_comment)]
    Sandbox {
        /// Return once the pod is ready (its UUID on stdout), leaving its
        /// supervisor running in a session of its own.
        #[arg(long)]
        detach: bool,
        /// POD FLAGS
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "POD FLAGS"
        )]
        words: Vec<String>,
    },
    /// Add an app to a running pod; it starts with `rukt app start`.
    ///
    /// rukt app add UUID IMAGE [APP FLAGS] [-- ARGS]   (app flags as for rukt run)
    #[command(verbatim_doc_comment)]
    Add {
        /// The pod's UUID or a unique prefix.
        uuid: String,
        /// IMAGE [APP FLAGS] [-- ARGS]
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "IMAGE"
        )]
        words: Vec<String>,
    },
    /// Start an added app.
    Start {
        #[command(flatten)]
        target: AppTarget,
    },
    /// Stop an app, leaving the pod running.
    Stop {
        #[command(flatten)]
        target: AppTarget,
        /// Kill at once instead of asking to terminate.
        #[arg(long)]
        force: bool,
        /// Seconds to wait after asking before killing.
        #[arg(long, default_value_t = rukt_contract::args::DEFAULT_STOP_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// List the apps of a pod with their states.
    List {
        /// The pod's UUID or a unique prefix.
        uuid: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::cli::Format::Table)]
        format: crate::cli::Format,
    },
    /// One app's state: created, running or exited (with its exit code and times).
    Status {
        #[command(flatten)]
        target: AppTarget,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::cli::Format::Table)]
        format: crate::cli::Format,
    },
    /// Attach to a running app: its output from now on, and your stdin to
    /// its own (an app added with --stdin). Ends when the app does.
    /// An app added with --tty gets your terminal, raw (^C goes to the
    /// app), and its size.
    Attach {
        #[command(flatten)]
        target: AppTarget,
        /// Do not send stdin.
        #[arg(long)]
        no_stdin: bool,
    },
    /// Change a running app's limits (--memory=SIZE, --cpu=CORES,
    /// --cpu-shares=N, --pids-limit=N); the others stay as they are.
    Update {
        #[command(flatten)]
        target: AppTarget,
        /// LIMIT FLAGS
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "LIMITS"
        )]
        limits: Vec<String>,
    },
    /// Run a command in an app, confined like it (as `rukt enter`).
    Exec {
        #[command(flatten)]
        target: AppTarget,
        /// The command and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        cmd: Vec<String>,
    },
    /// Remove a stopped app from a running pod.
    Rm {
        #[command(flatten)]
        target: AppTarget,
    },
}

// The app an `app` verb acts on (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct AppTarget {
    /// The pod's UUID or a unique prefix.
    pub uuid: String,
    /// The app.
    #[arg(long)]
    pub app: String,
}

// The free-form words of `run` and `prepare`, parsed rkt-style (not a doc
// comment: see the module doc).
#[derive(Debug, Args)]
pub struct PodWords {
    /// [POD FLAGS] IMAGE [APP FLAGS] [-- ARGS] [--- IMAGE ...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    pub words: Vec<String>,
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

impl From<PullPolicyArg> for rukt_images::fetch::PullPolicy {
    fn from(p: PullPolicyArg) -> Self {
        match p {
            PullPolicyArg::Never => Self::Never,
            PullPolicyArg::New => Self::New,
            PullPolicyArg::Update => Self::Update,
        }
    }
}

// Flags shared by everything that fetches (not a doc comment: see the module doc).
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
    /// Retry (resuming where possible) a transfer that receives nothing
    /// for this long, e.g. 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = positive_duration, value_name = "DURATION")]
    pub stall_timeout: std::time::Duration,
    /// Give up the whole fetch after this long (store unchanged).
    #[arg(long, value_parser = positive_duration, value_name = "DURATION")]
    pub timeout: Option<std::time::Duration>,
}

// `rukt fetch` (not a doc comment: see the module doc).
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

// Flags of the `list` commands (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct ListFlags {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Leave out the header line.
    #[arg(long)]
    pub no_legend: bool,
    /// Show full UUIDs and IDs.
    #[arg(long)]
    pub full: bool,
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
#[command(defer = true)]
pub enum ImageCommand {
    /// List stored images.
    List(ListFlags),
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

/// A non-zero duration (zero would disable the timeout or fail at once).
pub(crate) fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime_duration(s)? {
        d if d.is_zero() => Err("must be more than zero".to_string()),
        d => Ok(d),
    }
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<humantime::Duration>()
        .map(Into::into)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::words::RunWords;

    /// Every flag `rukt run` accepts, with a value that parses.
    const RUN_FLAGS: &[&str] = &[
        "--stage1=fly",
        "--hostname=h",
        "--net=host",
        "--publish=8080:80",
        "--port=80-tcp:8080",
        "--dns=10.0.0.2",
        "--dns-search=a.test",
        "--dns-opt=ndots:2",
        "--dns-domain=a.test",
        "--hosts-entry=10.0.0.3=db",
        "--ipc=pod",
        "--pid=pod",
        "--kvm-accel=tcg",
        "--volume=v,kind=empty",
        "--set-env=A=1",
        "--set-env-file=/dev/null",
        "--inherit-env",
        "--interactive",
        "--uuid-file-save=/tmp/u",
        "--pull-policy=never",
        "--quiet",
        "--memory=64Mi",
        "--cpu=500m",
        "--cpu-shares=512",
        "--pids-limit=10",
        "--sd-notify=app:a",
        "--log-max-size=1Mi",
        "--log-max-files=2",
        "--sysctl=net.ipv4.ip_forward=1",
    ];
    const APP_FLAGS: &[&str] = &[
        "--name=a",
        "--exec=/bin/true",
        "--working-dir=/",
        "--user=0",
        "--group=0",
        "--environment=A=1",
        "--readonly-rootfs",
        "--mount=volume=v,target=/v",
        "--caps-retain=CAP_KILL",
        "--caps-remove=CAP_CHOWN",
        "--seccomp=mode=remove,chmod",
        "--oom-score-adj=5",
        "--privileged",
        "--security-opt=no-new-privileges=false",
        "--stdin",
        "--stdin-once",
        "--tty",
    ];

    #[test]
    fn run_help_names_every_flag_run_accepts() {
        let mut words: Vec<String> = RUN_FLAGS.iter().map(|s| s.to_string()).collect();
        words.push("img".into());
        words.extend(APP_FLAGS.iter().map(|s| s.to_string()));
        RunWords::parse(&words).expect("every listed flag parses");
        let help = super::Cli::command()
            .find_subcommand_mut("run")
            .expect("rukt run exists")
            .render_long_help()
            .to_string();
        for flag in RUN_FLAGS.iter().chain(APP_FLAGS) {
            let name = flag.split('=').next().unwrap();
            assert!(help.contains(name), "rukt run --help does not name {name}");
        }
    }

    /// The verbs are deferred (module doc): each verb's about, once built,
    /// is still the one its parent lists, at every level of the tree.
    #[test]
    fn a_built_verb_keeps_the_about_its_parent_lists() {
        fn check(cmd: &mut clap::Command, path: &str, seen: &mut usize) {
            // Rendering builds this command only, not its verbs.
            let _ = cmd.render_long_help();
            let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
            for mut sub in subs {
                let listed = sub.get_about().map(|a| a.to_string());
                let path = format!("{path} {}", sub.get_name());
                let _ = sub.render_long_help();
                assert_eq!(
                    sub.get_about().map(|a| a.to_string()),
                    listed,
                    "{path}: its about changed when it was built"
                );
                *seen += 1;
                check(&mut sub, &path, seen);
            }
        }
        let mut seen = 0;
        check(&mut super::Cli::command(), "rukt", &mut seen);
        assert!(seen > 40, "only {seen} verbs were checked");
    }

    /// Global flags and subcommand flags share one id space in clap: a clash
    /// (`--tpm`'s field once shared the id `policy` with `trust list --policy`)
    /// panics only when both are parsed, so parse each kind here.
    #[test]
    fn every_verb_parses_beside_every_global_flag() {
        use clap::Parser;
        super::Cli::command().debug_assert();
        for argv in [
            &["rukt", "trust", "list", "--policy"][..],
            &["rukt", "--tpm=off", "--insecure-options=http,image", "list"],
            &[
                "rukt",
                "--cni-plugin-path=/a:/b",
                "status",
                "--check-network",
                "u",
            ],
            &["rukt", "--signature-policy=/p.json", "tpm", "log"],
        ] {
            super::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
    }
}
