//! Shared checks of the `image` backend trait (to be written).
