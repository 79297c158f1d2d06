//! Shared checks of the `image` backend trait: what the fake and the Linux image store both
//! promise the core.

use crate::backend::image::ImageStore;
use crate::error::{Classify, ErrorKind};

fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Runs the checks against `store`. `existing_ref` must pull (fully qualified, and not
/// pulled into `store` before); `missing_ref` must be unknown to the registry.
pub async fn image_store_suite(store: &dyn ImageStore, existing_ref: &str, missing_ref: &str) {
    let before = store.fs_usage().await.expect("fs_usage on a fresh store");
    assert!(
        !before.mountpoint.is_empty(),
        "fs_usage must name a mountpoint"
    );

    let first = store
        .pull(existing_ref, None)
        .await
        .unwrap_or_else(|e| panic!("pulling {existing_ref}: {e}"));
    assert!(
        is_digest(&first.id),
        "image id {:?} is not sha256:<64 hex>",
        first.id
    );
    assert!(
        is_digest(&first.manifest_digest),
        "manifest digest {:?} is not sha256:<64 hex>",
        first.manifest_digest
    );
    assert!(first.size > 0, "pulled size must never be 0");

    let again = store
        .pull(existing_ref, None)
        .await
        .unwrap_or_else(|e| panic!("pulling {existing_ref} again: {e}"));
    assert_eq!(
        again.id, first.id,
        "pulling the same reference twice must give the same image id"
    );
    assert_eq!(
        again.manifest_digest, first.manifest_digest,
        "same reference, same manifest digest"
    );

    let pulled = store.fs_usage().await.expect("fs_usage after a pull");
    assert!(
        pulled.used_bytes > before.used_bytes,
        "fs_usage must grow with a pull ({} then {})",
        before.used_bytes,
        pulled.used_bytes
    );
    assert!(pulled.inodes_used > 0, "fs_usage must count inodes");

    let missing = store
        .pull(missing_ref, None)
        .await
        .expect_err("pulling a missing reference must fail");
    assert_eq!(
        missing.kind(),
        ErrorKind::NotFound,
        "a missing reference is NotFound, got {missing}"
    );
    assert!(
        missing.to_string().contains(missing_ref),
        "the error must name the reference: {missing}"
    );

    store
        .remove(&first.id)
        .await
        .unwrap_or_else(|e| panic!("removing {}: {e}", first.id));
    let removed = store.fs_usage().await.expect("fs_usage after a remove");
    assert!(
        removed.used_bytes < pulled.used_bytes,
        "fs_usage must shrink when an image is removed ({} then {})",
        pulled.used_bytes,
        removed.used_bytes
    );
    store
        .remove(&first.id)
        .await
        .expect("removing an image twice is Ok");
    let unknown = format!("sha256:{}", "0".repeat(64));
    store
        .remove(&unknown)
        .await
        .expect("removing an unknown image is Ok");

    let back = store
        .pull(existing_ref, None)
        .await
        .unwrap_or_else(|e| panic!("pulling {existing_ref} after removal: {e}"));
    assert_eq!(
        back.id, first.id,
        "a pull after removal gives the same image id"
    );
    store.remove(&back.id).await.expect("removing again");
}
