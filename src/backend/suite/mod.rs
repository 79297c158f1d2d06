//! Shared backend test suites: one set of checks per backend trait, run against the fake in
//! plain `cargo test` (crius-sim's tests) and against the Linux implementation as root.
//! That is how we know the fakes are honest.
//!
//! Compiled only with the `suite` feature. Each suite is an async function taking the backend
//! under test (and whatever it needs to set up cases) and panicking with a clear message on
//! the first divergence.
#![allow(missing_docs)]

pub mod cgroups;
pub mod image;
pub mod namespaces;
pub mod network;
