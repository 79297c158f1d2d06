//! Domain types shared by the core and the backends.
//!
//! These mirror the parts of the CRI messages that crius acts on, in plain Rust: no prost, no
//! tonic. `server/` converts to and from the wire types; everything below it speaks these.

mod container;
mod image;
mod sandbox;
mod string_map;

pub use container::*;
pub use image::*;
pub use sandbox::*;
pub use string_map::StringMap;

/// Nanoseconds since the Unix epoch, as CRI timestamps are.
pub type Timestamp = i64;
