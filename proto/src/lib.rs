#![doc = r#"
Kubernetes Container Runtime Interface (CRI) v1 for crius.

This crate owns crius's own text of the CRI v1 protocol
(`proto/runtime/v1/api.proto`, package `runtime.v1`) and the Rust generated
from it at build time, with no system `protoc` needed:

* message and enum types ([`prost`]) — e.g. [`cri::RunPodSandboxRequest`];
* gRPC servers and clients ([`tonic`]) —
  [`cri::runtime_service_server::RuntimeServiceServer`],
  [`cri::image_service_server::ImageServiceServer`],
  [`cri::runtime_service_client::RuntimeServiceClient`],
  [`cri::image_service_client::ImageServiceClient`];
* canonical proto3-JSON `serde` impls ([`pbjson`]) for every message and
  enum: lowerCamelCase field names, enums as their names, 64-bit integers
  as strings, default values omitted.

The wire format is kept identical to upstream `k8s.io/cri-api`; the tests in
`proto/tests/` check it against an independently generated encoding.
"#]

/// The `runtime` protobuf package.
pub mod runtime {
    /// The `runtime.v1` protobuf package: all CRI v1 messages, enums and
    /// services (generated code).
    #[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all, deprecated)]
    pub mod v1 {
        tonic::include_proto!("runtime.v1");
        include!(concat!(env!("OUT_DIR"), "/runtime.v1.serde.rs"));
    }
}

/// Short alias for [`runtime::v1`], the module other crius crates use.
pub use runtime::v1 as cri;

/// Hides the registry secrets (the fields marked `debug_redact` in the
/// proto) so that logging a `PullImageRequest` cannot leak them.
impl core::fmt::Debug for runtime::v1::AuthConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        fn redact(secret: &str) -> &'static str {
            if secret.is_empty() { "" } else { "<redacted>" }
        }
        // Destructure so that a new field cannot be forgotten here.
        let Self {
            username,
            password,
            auth,
            server_address,
            identity_token,
            registry_token,
        } = self;
        f.debug_struct("AuthConfig")
            .field("username", username)
            .field("password", &redact(password))
            .field("auth", &redact(auth))
            .field("server_address", server_address)
            .field("identity_token", &redact(identity_token))
            .field("registry_token", &redact(registry_token))
            .finish()
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of `runtime/v1/api.proto`
/// (with source info), e.g. for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/runtime.v1.fds.bin"));
