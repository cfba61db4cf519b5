//! `rukt login` and `rukt logout`: the arguments.

use std::path::PathBuf;

use clap::Args;

// `rukt login [--username U] [--password-stdin] REGISTRY` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT] (docker.io for Docker Hub).
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// The user name (asked for on the terminal if not given).
    #[arg(long, short)]
    pub username: Option<String>,
    /// Read the password from stdin (one line) instead of asking on the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// The auth file to write, instead of $REGISTRY_AUTH_FILE or CONFIG-DIR/auth.json.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
}

// `rukt logout REGISTRY` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// The auth file to edit, instead of $REGISTRY_AUTH_FILE or CONFIG-DIR/auth.json.
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
}
