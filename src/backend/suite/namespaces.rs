//! Shared checks of the `namespaces` backend trait (to be written).
