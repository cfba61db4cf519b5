//! Harness for rukt's functional tests (`tests/functional.rs`): a throw-away local registry,
//! an in-Rust OCI image builder (including hostile layers), skopeo and umoci wrappers, a
//! driver for the rukt binary, pods under test and filesystem tree snapshots.

pub mod digest;
pub mod faults;
pub mod fixtures;
pub mod hostile;
pub mod image;
pub mod inspector;
pub mod model;
pub mod nethost;
pub mod pods;
pub mod pty;
pub mod push;
pub mod registry;
pub mod rukt;
pub mod secure;
pub mod signing;
pub mod swtpm;
pub mod tools;
pub mod tree;
pub mod umoci;

/// Writes a note to the test's stderr (shown for failing tests, or with `--nocapture`).
#[allow(
    clippy::disallowed_macros,
    reason = "a test harness talks to the test runner"
)]
pub fn note(message: &str) {
    eprintln!("{message}");
}
