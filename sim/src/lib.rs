//! crius-sim: the simulated node.
//!
//! Every crius backend trait has a fake here that keeps honest state in memory: images must
//! be pulled before use, names are unique, processes run their commands in virtual time and
//! write real CRI log files, addresses come from a subnet, usage moves with the clock. A
//! seeded fault plan makes calls fail or slow down and kills containers at planned times.
//! [`node::SimNode`] wires them together; the `crius-sim` binary serves them over the same
//! CRI socket as the production daemon.
#![warn(missing_docs)]

pub mod catalogue;
pub mod cgroups;
pub mod clock;
pub mod fault_point;
pub mod faults;
pub mod ids;
pub mod images;
pub mod namespaces;
pub mod network;
pub mod node;
pub mod rootfs;
pub mod runtime;
pub mod shell;
pub mod signal;
pub mod streams;
