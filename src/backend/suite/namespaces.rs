//! Shared checks of the `namespaces` backend trait ([`crate::backend::PodNamespaces`]).

use crate::backend::PodNamespaces;
use crate::model::{NamespaceMode, SandboxConfig};

fn pod(name: &str) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.metadata.name = name.to_string();
    config.metadata.namespace = "suite".to_string();
    config.metadata.uid = format!("uid-{name}");
    config.hostname = name.to_string();
    config
}

/// The checks every [`PodNamespaces`] passes. `prefix` makes the sandbox ids unique to the
/// caller (tests running in parallel on one node); the backend is left with nothing pinned.
pub async fn namespaces_suite(namespaces: &dyn PodNamespaces, prefix: &str) {
    let own = format!("{prefix}-own");
    let mut config = pod("own");
    config.linux.namespace_options.pid = NamespaceMode::Pod;
    let handle = namespaces
        .create(&own, &config, "/suite/own")
        .await
        .expect("create a pod with its own namespaces");
    assert_eq!(
        handle.cgroup, "/suite/own",
        "the handle carries the pod's cgroup"
    );
    assert!(
        handle.netns.is_some(),
        "a pod network gets its own network namespace"
    );
    assert!(
        handle.ipcns.is_some(),
        "a pod IPC mode gets its own IPC namespace"
    );
    assert!(
        handle.utsns.is_some(),
        "a pod with its own network gets its own UTS namespace"
    );
    assert!(
        handle.pidns.is_some(),
        "a pod-wide PID mode gets a PID namespace"
    );

    let other = format!("{prefix}-other");
    let mut config = pod("other");
    config.linux.namespace_options.pid = NamespaceMode::Container;
    let other_handle = namespaces
        .create(&other, &config, "/suite/other")
        .await
        .expect("create a second pod");
    assert!(
        other_handle.pidns.is_none(),
        "a per-container PID mode pins no PID namespace"
    );
    assert_ne!(
        other_handle.netns, handle.netns,
        "two pods have different network namespaces"
    );

    let host = format!("{prefix}-host");
    let mut config = pod("host");
    config.linux.namespace_options.network = NamespaceMode::Node;
    config.linux.namespace_options.ipc = NamespaceMode::Node;
    config.linux.namespace_options.pid = NamespaceMode::Node;
    let host_handle = namespaces
        .create(&host, &config, "/suite/host")
        .await
        .expect("create a host-namespace pod");
    assert_eq!(
        host_handle.netns, None,
        "a host-network pod has no network namespace"
    );
    assert_eq!(
        host_handle.ipcns, None,
        "a host-IPC pod has no IPC namespace"
    );
    assert_eq!(
        host_handle.pidns, None,
        "a host-PID pod has no PID namespace"
    );
    assert_eq!(
        host_handle.utsns, None,
        "a host-network pod keeps the node's hostname"
    );

    for id in [&own, &other, &host] {
        namespaces.release(id).await.expect("release");
        namespaces
            .release(id)
            .await
            .expect("release again is a no-op");
    }
    namespaces
        .release(&format!("{prefix}-never"))
        .await
        .expect("releasing a pod never created succeeds");
}
