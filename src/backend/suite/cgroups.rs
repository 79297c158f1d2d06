//! Shared checks of the `cgroups` backend trait (to be written).
