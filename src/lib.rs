//! crius: a Kubernetes CRI v1 container runtime.
//!
//! The crate is laid out as the request path runs (see ARCHITECTURE.md):
//!
//! - [`server`]: the gRPC services on a unix socket; the only module that knows tonic and the
//!   generated CRI types. It validates requests, converts them to domain types and maps errors
//!   to `tonic::Status` in one place.
//! - [`runtime`]: the core. Pod sandbox and container state machines, name reservation, id
//!   lookup, list filters, image index, and the ordered steps (with rollback) of every RPC.
//!   It does no I/O except through the backend traits.
//! - [`backend`]: one small trait per subsystem (OCI runtime, images, rootfs, network, cgroups,
//!   pod namespaces, clock, ids) and the bundle the core holds them in.
//! - [`store`]: persisted metadata in an embedded database, read back on restart.
//! - [`config`]: the daemon's TOML configuration.
//! - [`cri_log`]: the CRI container log line format, shared by every log writer.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod config;
pub mod cri_log;
pub mod daemon;
pub mod error;
pub mod model;
pub mod monitor;
pub mod runtime;
pub mod server;
pub mod store;
pub mod streaming;
