//! rukt's functional tests: the `rukt` binary driven against a local registry and hand-built
//! OCI images. One test binary with a module per area; every test owns its registry and store,
//! so they run in parallel.
//!
//! Run with `cargo build -p rukt && cargo test -p rukt-tests` (or point `RUKT_BIN` at a binary).

mod cli;
mod concurrency;
mod fetch;
mod harness;
mod hostile;
mod interop;
mod sources;
mod store;
