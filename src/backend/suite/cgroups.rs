//! Shared checks of the `cgroups` backend trait ([`crate::backend::Cgroups`]).

use crate::backend::Cgroups;
use crate::error::{Classify, ErrorKind};

/// The checks every [`Cgroups`] passes. Pod cgroups go under `parent`; `prefix` makes the
/// sandbox ids unique to the caller. Everything created is removed again.
pub async fn cgroups_suite(cgroups: &dyn Cgroups, parent: &str, prefix: &str) {
    let id = format!("{prefix}-pod");
    let path = cgroups
        .create_pod(&id, parent)
        .await
        .expect("create a pod cgroup");
    assert!(
        path.starts_with(parent.trim_end_matches('/')),
        "pod cgroup {path} is under its parent {parent}"
    );
    assert!(
        path.contains(&id),
        "pod cgroup {path} is named for the sandbox {id}"
    );
    let again = cgroups
        .create_pod(&id, parent)
        .await
        .expect("create the same pod cgroup again");
    assert_eq!(
        again, path,
        "creating a pod cgroup again gives the same path"
    );

    let usage = cgroups.pod_usage(&id).await.expect("usage of a pod cgroup");
    assert!(usage.timestamp > 0, "usage is timestamped");

    let second = format!("{prefix}-second");
    let second_path = cgroups
        .create_pod(&second, parent)
        .await
        .expect("create a second pod cgroup");
    assert_ne!(second_path, path, "two pods get different cgroups");

    let unknown = format!("{prefix}-unknown");
    let error = cgroups
        .pod_usage(&unknown)
        .await
        .expect_err("usage of an unknown pod");
    assert_eq!(
        error.kind(),
        ErrorKind::NotFound,
        "usage of an unknown pod is NotFound: {error}"
    );
    let error = cgroups
        .container_usage(&unknown)
        .await
        .expect_err("usage of an unknown container");
    assert_eq!(
        error.kind(),
        ErrorKind::NotFound,
        "usage of an unknown container is NotFound: {error}"
    );

    for id in [&id, &second] {
        cgroups.remove_pod(id).await.expect("remove a pod cgroup");
        cgroups
            .remove_pod(id)
            .await
            .expect("remove a pod cgroup again is a no-op");
        let error = cgroups
            .pod_usage(id)
            .await
            .expect_err("usage of a removed pod");
        assert_eq!(
            error.kind(),
            ErrorKind::NotFound,
            "usage of a removed pod is NotFound: {error}"
        );
    }
    cgroups
        .remove_pod(&unknown)
        .await
        .expect("removing a pod cgroup never created succeeds");
}
