//! `rukt-proto`: the generated code of rukt's gRPC API (`rukt.api.v1`, from
//! `proto/rukt/api/v1/api.proto`), behind this one module so the rest of
//! rukt never names a code generator. Built with protox: no `protoc`.

/// `rukt.api.v1`: messages, the `PublicApi` server trait and a client.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("rukt.api.v1");

    /// The encoded file descriptor set, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rukt_api_v1");
}
