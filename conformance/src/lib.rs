//! CRI traces: the format, the recorder and the replayer of crius's conformance suite.
//!
//! A trace (JSON Lines, see `conformance/README.md`) is what a kubelet said to a CRI runtime
//! and what the runtime answered. [`parse`] reads and checks one; [`replay::Replayer`] sends
//! its calls to any CRI endpoint and compares the answers, with [`matchers`] and
//! [`symbols`], reporting each divergence ([`diff`]); [`record`] is a transparent CRI proxy
//! that writes the traffic it forwards as a trace.
#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod diff;
pub mod format;
pub mod matchers;
pub mod methods;
pub mod normalise;
pub mod parse;
pub mod record;
pub mod replay;
pub mod symbols;

pub use format::Trace;
pub use parse::{load, parse};
pub use replay::{Replayer, Report, World, WorldError};
