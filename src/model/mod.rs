//! Domain types shared by the core and the backends.
//!
//! These mirror the parts of the CRI messages that crius acts on, in plain Rust: no prost, no
//! tonic. `server/` converts to and from the wire types; everything below it speaks these.

mod container;
mod image;
mod sandbox;

pub use container::*;
pub use image::*;
pub use sandbox::*;

use std::collections::BTreeMap;

/// Nanoseconds since the Unix epoch, as CRI timestamps are.
pub type Timestamp = i64;

/// Labels or annotations: ordered so that listings and snapshots are deterministic.
pub type StringMap = BTreeMap<String, String>;
