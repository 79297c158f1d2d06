//! Shared checks of the `network` backend trait (to be written).
