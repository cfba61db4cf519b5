//! Compiles `rukt/api/v1/api.proto` and the vendored CRI
//! `k8s/cri-api/runtime/v1/api.proto` with protox (pure Rust, no `protoc`)
//! into prost messages and tonic server code, and writes rukt's file
//! descriptor set to `OUT_DIR` for the reflection service.

use prost::Message;

// A build script talks to cargo on stdout.
#[allow(clippy::disallowed_macros)]
fn main() {
    let proto = "rukt/api/v1/api.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["."]).expect("api.proto compiles");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("rukt_api_v1.bin"), fds.encode_to_vec()).expect("write descriptor set");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_fds(fds)
        .expect("generate rukt.api.v1");

    // The CRI (k8s.io/cri-api v0.36.3, see k8s/cri-api/README.md): the
    // server for `rukt-cri` (its tests use the real crictl as the client).
    let cri = "k8s/cri-api/runtime/v1/api.proto";
    println!("cargo:rerun-if-changed={cri}");
    let fds = protox::compile([cri], ["k8s/cri-api"]).expect("the CRI api.proto compiles");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // RPCs rukt-cri does not serve answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        .compile_fds(fds)
        .expect("generate runtime.v1");
}
