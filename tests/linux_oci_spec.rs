//! Snapshots of the OCI spec crius generates for representative containers. Needs no root:
//! the machine-dependent inputs (the daemon's capabilities, its oom_score_adj, the host's
//! devices) are injected, temporary paths are shown as `<tmp>` and capability sets are sorted.

use crius::backend::oci::spec::{self, Extras, SpecEnv};
use crius::backend::oci::{CreateContainer, PodHandle};
use crius::model::{
    Capabilities, ContainerConfig, Device, ImageConfig, LinuxResources, Mount, MountPropagation,
    NamespaceMode,
};
use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType};
use std::sync::Arc;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A rootfs with users, and pod files, in a temporary directory.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("rootfs/etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nuser:x:1000:\nextra:x:2000:user\n",
        )
        .unwrap();
        let pod = dir.path().join("pod");
        std::fs::create_dir_all(pod.join("shm")).unwrap();
        for (name, content) in [
            ("hostname", "web-0\n"),
            ("hosts", "127.0.0.1 localhost\n"),
            ("resolv.conf", "nameserver 10.0.0.10\n"),
        ] {
            std::fs::write(pod.join(name), content).unwrap();
        }
        World { dir }
    }

    fn pod(&self, shared: bool) -> PodHandle {
        let pod = self.dir.path().join("pod");
        let ns = |kind: &str| shared.then(|| pod.join("ns").join(kind));
        PodHandle {
            cgroup: "/kubepods/crius-pod1".to_string(),
            netns: ns("net"),
            ipcns: ns("ipc"),
            utsns: ns("uts"),
            pidns: None,
            files: vec![
                ("/etc/hostname".to_string(), pod.join("hostname")),
                ("/etc/hosts".to_string(), pod.join("hosts")),
                ("/etc/resolv.conf".to_string(), pod.join("resolv.conf")),
                (
                    "/dev/shm".to_string(),
                    if shared {
                        pod.join("shm")
                    } else {
                        "/dev/shm".into()
                    },
                ),
            ],
        }
    }

    fn request(
        &self,
        config: ContainerConfig,
        image: ImageConfig,
        shared: bool,
    ) -> CreateContainer {
        CreateContainer {
            id: "ctr1".to_string(),
            sandbox_id: "pod1".to_string(),
            config: Arc::new(config),
            image_id: "sha256:feed".to_string(),
            image: Arc::new(image),
            rootfs: self.dir.path().join("rootfs"),
            log_path: None,
            pod: self.pod(shared),
        }
    }

    /// The spec as JSON with temporary paths replaced and capability sets sorted.
    fn spec(&self, request: &CreateContainer, env: &SpecEnv) -> serde_json::Value {
        let spec = spec::build(request, env, &Extras::default()).expect("a spec");
        let text = serde_json::to_string(&spec).unwrap();
        let text = text.replace(&self.dir.path().display().to_string(), "<tmp>");
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(caps) = value
            .pointer_mut("/process/capabilities")
            .and_then(|c| c.as_object_mut())
        {
            for set in caps.values_mut() {
                if let Some(list) = set.as_array_mut() {
                    list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
        }
        value
    }
}

fn env() -> SpecEnv {
    let device = |path: &str, major: i64, minor: i64| {
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .file_mode(0o666u32)
            .uid(0u32)
            .gid(0u32)
            .build()
            .unwrap()
    };
    SpecEnv {
        oom_score_adj_floor: -500,
        // Every capability but CAP_SYS_RESOURCE, as on a node whose root lacks it.
        capabilities: spec::from_mask(0x1ff_feff_ffff),
        host_devices: Some(vec![device("/dev/null", 1, 3), device("/dev/kmsg", 1, 11)]),
        pids_limit: None,
    }
}

fn image() -> ImageConfig {
    ImageConfig {
        entrypoint: strings(&["/bin/app"]),
        cmd: strings(&["--serve"]),
        env: strings(&["PATH=/usr/bin:/bin", "MODE=image", "ONLY_IMAGE=1"]),
        working_dir: "/srv".to_string(),
        ..Default::default()
    }
}

fn config() -> ContainerConfig {
    let mut config = ContainerConfig {
        args: strings(&["--port", "8080"]),
        envs: vec![
            ("MODE".to_string(), "cri".to_string()),
            ("EXTRA".to_string(), "x".to_string()),
        ],
        ..Default::default()
    };
    config.metadata.name = "app".to_string();
    config
}

#[test]
fn default_container() {
    let world = World::new();
    let spec = world.spec(&world.request(config(), image(), true), &env());
    insta::assert_json_snapshot!("default", spec);
}

#[test]
fn container_with_resources() {
    let world = World::new();
    let mut config = config();
    config.linux.resources = Some(LinuxResources {
        cpu_period: 100_000,
        cpu_quota: 50_000,
        cpu_shares: 512,
        memory_limit_in_bytes: 128 << 20,
        oom_score_adj: -999,
        cpuset_cpus: "0-1".to_string(),
        cpuset_mems: "0".to_string(),
        hugepage_limits: vec![("2MB".to_string(), 1 << 30)],
        ..Default::default()
    });
    let env = SpecEnv {
        pids_limit: Some(1024),
        ..env()
    };
    let spec = world.spec(&world.request(config, image(), true), &env);
    assert_eq!(
        spec["process"]["oomScoreAdj"], -500,
        "raised to the daemon's own"
    );
    insta::assert_json_snapshot!("resources", spec);
}

#[test]
fn privileged_container() {
    let world = World::new();
    let mut config = config();
    config.linux.security.privileged = true;
    let spec = world.spec(&world.request(config, image(), true), &env());
    assert_eq!(
        spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        40
    );
    insta::assert_json_snapshot!("privileged", spec);
}

#[test]
fn mounts_propagation_and_devices() {
    let world = World::new();
    let mut config = config();
    let mount = |inside: &str, host: &str, readonly: bool, propagation| Mount {
        container_path: inside.to_string(),
        host_path: host.to_string(),
        readonly,
        selinux_relabel: false,
        propagation,
    };
    config.mounts = vec![
        mount(
            "/data/cache",
            "/var/lib/cache",
            false,
            MountPropagation::HostToContainer,
        ),
        mount("/data", "/var/lib/data", true, MountPropagation::Private),
        mount(
            "/shared",
            "/mnt/shared",
            false,
            MountPropagation::Bidirectional,
        ),
        mount(
            "/etc/hosts",
            "/var/lib/kubelet/pods/x/etc-hosts",
            false,
            MountPropagation::Private,
        ),
    ];
    config.devices = vec![Device {
        container_path: "/dev/mynull".to_string(),
        host_path: "/dev/null".to_string(),
        permissions: "rw".to_string(),
    }];
    let spec = world.spec(&world.request(config, image(), true), &env());
    insta::assert_json_snapshot!("mounts", spec);
}

#[test]
fn users_groups_and_capabilities() {
    let world = World::new();
    let mut config = config();
    let security = &mut config.linux.security;
    security.run_as_user = Some(1000);
    security.run_as_group = Some(3000);
    security.supplemental_groups = vec![4000, 2000];
    security.capabilities = Capabilities {
        add: strings(&["NET_ADMIN", "CAP_SYS_TIME", "SYS_RESOURCE"]),
        drop: strings(&["KILL"]),
    };
    security.readonly_rootfs = true;
    security.no_new_privs = true;
    security.masked_paths = strings(&["/proc/secret"]);
    security.readonly_paths = strings(&["/proc/sys"]);
    let spec = world.spec(&world.request(config, image(), true), &env());
    assert_eq!(
        spec["process"]["user"]["additionalGids"],
        serde_json::json!([3000, 2000, 4000])
    );
    insta::assert_json_snapshot!("users", spec);
}

#[test]
fn host_network_and_pid() {
    let world = World::new();
    let mut config = config();
    config.linux.security.namespace_options.network = NamespaceMode::Node;
    config.linux.security.namespace_options.ipc = NamespaceMode::Node;
    config.linux.security.namespace_options.pid = NamespaceMode::Node;
    config.tty = true;
    config.working_dir = "/tmp".to_string();
    let image = ImageConfig {
        user: "user:extra".to_string(),
        env: Vec::new(),
        ..image()
    };
    let spec = world.spec(&world.request(config, image, false), &env());
    insta::assert_json_snapshot!("host_namespaces", spec);
}

#[test]
fn missing_users_and_commands_are_invalid_arguments() {
    let world = World::new();
    let image = ImageConfig {
        user: "nobody".to_string(),
        ..image()
    };
    let error = spec::build(
        &world.request(config(), image, true),
        &env(),
        &Extras::default(),
    )
    .unwrap_err();
    assert_eq!(error.kind, crius::error::ErrorKind::InvalidArgument);
    assert!(error.message.contains("nobody"), "{}", error.message);
    let empty = World::new();
    let error = spec::build(
        &empty.request(ContainerConfig::default(), ImageConfig::default(), true),
        &env(),
        &Extras::default(),
    )
    .unwrap_err();
    assert_eq!(error.kind, crius::error::ErrorKind::InvalidArgument);
}
