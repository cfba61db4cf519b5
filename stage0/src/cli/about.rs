//! The verbs that describe rukt itself: `version`, `config`, `completion`
//! (rkt had all three).

use clap::Args;

use super::Format;

// `rukt version` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// `table` (text) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

// `rukt config` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// `table` (text) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

// `rukt completion SHELL` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh or fish (elvish and powershell work too).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
