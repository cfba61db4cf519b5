//! Where a pod's start goes, for `--debug`: the supervisor logs each phase
//! of its life (`phase=<name> elapsed_us=<since the supervisor began>`)
//! next to libcontainer's own timestamped lines; `bench/nspawn.sh` reads
//! them into its breakdown. Without `--debug` an event is one disabled
//! callsite check.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Starts the clock (the first call) and logs phase `name` as reached.
pub fn mark(name: &'static str) {
    let elapsed = START.get_or_init(Instant::now).elapsed().as_micros() as u64;
    tracing::debug!(phase = name, elapsed_us = elapsed, "phase");
}
