//! Links the supervisor's log loop together (`hot.ld`; `src/memory.rs`
//! says why).

// A build script talks to cargo on stdout.
#[allow(clippy::disallowed_macros)]
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bin=rukt-stage1-nspawn=-Wl,-T,{dir}/hot.ld");
    println!("cargo:rerun-if-changed=hot.ld");
}
