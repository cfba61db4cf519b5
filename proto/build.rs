//! Compiles `rukt/api/v1/api.proto` with protox (pure Rust, no `protoc`)
//! into prost messages and tonic server/client code, and writes the file
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
}
