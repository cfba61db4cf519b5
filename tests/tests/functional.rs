//! rukt's functional tests: the `rukt` binary driven against a local registry and hand-built
//! OCI images. One test binary with a module per area; every test owns its registry and store,
//! so they run in parallel.
//!
//! Run with `cargo build --workspace && cargo test -p rukt-tests` (or point `RUKT_BIN` at a
//! binary; the pod tests also need `rukt-stage1-fly` next to it).

mod about;
// The read-only API service (issue 12).
mod api;
mod auth;
mod cli;
mod concurrency;
// The CRI server through crictl (issue 15).
mod cri;
// critest's CI subset against containerd and rukt's CRI server (issue 15).
mod critest;
// The event journal and `rukt events` (issue 12).
mod events;
mod faults;
mod fetch;
mod harness;
mod hostile;
mod interop;
mod malformed;
mod net;
mod package;
mod pods;
mod registries;
mod sources;
mod store;
mod systemd;
mod tpm;
mod trust;
