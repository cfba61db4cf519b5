//! `rukt-proto`: the generated code of rukt's gRPC APIs, behind this one
//! crate so the rest of rukt never names a code generator. Built with
//! protox: no `protoc`.
//!
//! - [`v1`]: rukt's own read-only API (`rukt.api.v1`, from
//!   `proto/rukt/api/v1/api.proto`);
//! - [`cri::v1`]: the Kubernetes CRI (`runtime.v1`, vendored from
//!   k8s.io/cri-api v0.36.3 in `proto/k8s/cri-api/`).

/// `rukt.api.v1`: messages, the `PublicApi` server trait and a client.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("rukt.api.v1");

    /// The encoded file descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rukt_api_v1");
}

/// The Kubernetes Container Runtime Interface.
pub mod cri {
    /// `runtime.v1`: messages and the `RuntimeService` and `ImageService`
    /// server traits.
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("runtime.v1");
    }
}
