//! Compiles `runtime/v1/api.proto` without a system `protoc`.
//!
//! `protox` (a pure-Rust protobuf compiler) parses the proto into a
//! `FileDescriptorSet`; that one descriptor set then feeds both
//! `tonic-prost-build` (message types, client and server) and `pbjson-build`
//! (canonical proto3-JSON serde impls). The encoded set is also written to
//! `$OUT_DIR/runtime.v1.fds.bin` for `crius_proto::FILE_DESCRIPTOR_SET`.

use std::{env, fs, path::PathBuf};

const PROTO: &str = "runtime/v1/api.proto";
const INCLUDE: &str = ".";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new([INCLUDE])?;
    compiler.include_source_info(true).include_imports(false);
    compiler.open_file(PROTO)?;
    let fds = compiler.file_descriptor_set();
    let fds_bytes = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("runtime.v1.fds.bin"), &fds_bytes)?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The secret fields carry `debug_redact`; src/lib.rs supplies a
        // Debug impl that hides them.
        .skip_debug([".runtime.v1.AuthConfig"])
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        .build(&[".runtime.v1"])?;

    Ok(())
}
