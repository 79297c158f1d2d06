//! Support for the image store tests: a real registry, an image builder, store set-up.
#![allow(dead_code)]

pub mod builder;
pub mod fake;
pub mod http;
pub mod registry;

use crius::backend::image::{RegistryImageStore, RegistryOptions};
use std::path::Path;
use std::time::Duration;

/// A store under `root` with `conf` as its registries.conf text.
pub fn store_with(root: &Path, conf: &str) -> RegistryImageStore {
    let conf_path = root.with_extension("registries.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut options = RegistryOptions::new(root);
    options.registries_conf = conf_path;
    options.auth_file = None;
    options.stall_timeout = Duration::from_secs(20);
    options.progress_interval = Duration::from_millis(200);
    RegistryImageStore::open(options).expect("opening the store")
}

/// registries.conf marking `hosts` insecure (plain HTTP).
pub fn insecure(hosts: &[&str]) -> String {
    hosts
        .iter()
        .map(|h| format!("[[registry]]\nlocation = \"{h}\"\ninsecure = true\n"))
        .collect()
}

/// Fails naming the install step when a prerequisite is missing.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the image store tests need root (device nodes, chown, trusted xattrs)"
    );
}
