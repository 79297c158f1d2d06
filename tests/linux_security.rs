//! A container's Linux security settings, proved by the kernel: real runc containers with
//! crius-monitor and a busybox rootfs, as root. Seccomp (RuntimeDefault, Unconfined, Localhost,
//! privileged), capabilities, users and groups, a read-only rootfs, masked paths and
//! no_new_privs. Each test has its own fixture (state directory, pod cgroup, rootfs); drop
//! guards remove containers, processes, cgroups and pinned namespaces even when a test fails.
//! Prerequisites: `apt-get install runc busybox util-linux`.

mod oci_support;

use crius::backend::oci::spec::{self, DEFAULT_CAPABILITIES, Extras, SpecEnv};
use crius::backend::oci::{CreateContainer, OciError, OciRuntime, Runc};
use crius::cri_log::parse_line;
use crius::error::ErrorKind;
use crius::model::{ContainerConfig, SecurityProfile};
use oci_support::{Fixture, wait_exited};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

/// Runs container `id` of `request` to its end: its exit code and its output, one line each.
async fn run(fixture: &Fixture, runtime: &Runc, request: CreateContainer) -> (i32, String) {
    let id = request.id.clone();
    runtime.create(request).await.expect("create");
    runtime.start(&id).await.expect("start");
    let status = wait_exited(runtime, &id, LONG).await;
    runtime.delete(&id).await.expect("delete");
    let output = fixture
        .log(&id)
        .lines()
        .map(|line| parse_line(line).expect("a CRI log line").content)
        .collect::<Vec<_>>()
        .join("\n");
    (status.exit_code, output)
}

/// A request for `args` whose config `change` adjusts.
fn request(
    fixture: &Fixture,
    id: &str,
    args: &[&str],
    change: impl FnOnce(&mut ContainerConfig),
) -> CreateContainer {
    let mut request = fixture.request(id, args);
    change(Arc::make_mut(&mut request.config));
    request
}

fn seccomp(profile: SecurityProfile) -> impl FnOnce(&mut ContainerConfig) {
    move |config| config.linux.security.seccomp = profile
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn runtime_default_seccomp_blocks_unshare_and_unconfined_does_not() {
    let fixture = Fixture::new("sec-default").await;
    let runtime = fixture.runtime();
    let script = "grep Seccomp: /proc/self/status; unshare -U true";
    let confined = request(
        &fixture,
        "rd",
        &["sh", "-c", script],
        seccomp(SecurityProfile::RuntimeDefault),
    );
    let (code, output) = run(&fixture, &runtime, confined).await;
    assert_ne!(code, 0, "unshare succeeded under RuntimeDefault: {output}");
    assert!(output.contains("Seccomp:\t2"), "{output}");
    assert!(output.contains("Operation not permitted"), "{output}");
    let free = request(
        &fixture,
        "uc",
        &["sh", "-c", script],
        seccomp(SecurityProfile::Unconfined),
    );
    let (code, output) = run(&fixture, &runtime, free).await;
    assert_eq!(code, 0, "unshare failed unconfined: {output}");
    assert!(output.contains("Seccomp:\t0"), "{output}");
}

#[tokio::test]
async fn cap_sys_admin_lifts_the_namespace_rules_of_runtime_default() {
    let fixture = Fixture::new("sec-admin").await;
    let runtime = fixture.runtime();
    let admin = request(
        &fixture,
        "rda",
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; unshare -n true",
        ],
        |config| {
            config.linux.security.capabilities.add = strings(&["CAP_SYS_ADMIN"]);
            config.linux.security.seccomp = SecurityProfile::RuntimeDefault;
        },
    );
    let (code, output) = run(&fixture, &runtime, admin).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("Seccomp:\t2"), "{output}");
}

/// A UTS namespace pinned by a bind mount in a fixture's directory, unmounted on drop.
struct PinnedUts(PathBuf);

impl PinnedUts {
    fn new(dir: &Path) -> PinnedUts {
        let path = dir.join("uts");
        std::fs::write(&path, "").unwrap();
        let pinned = PinnedUts(path);
        let status = std::process::Command::new("/usr/bin/unshare")
            .arg(format!("--uts={}", pinned.0.display()))
            .arg("true")
            .status()
            .expect("util-linux unshare");
        assert!(status.success(), "pinning a UTS namespace");
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        // Never let a test with CAP_SYS_ADMIN run in the host's UTS namespace.
        assert_ne!(inode(&pinned.0), inode(Path::new("/proc/self/ns/uts")));
        pinned
    }
}

impl Drop for PinnedUts {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[tokio::test]
async fn localhost_profile_blocks_sethostname() {
    let mut fixture = Fixture::new("sec-local").await;
    let uts = PinnedUts::new(fixture.dir.path());
    fixture.pod.utsns = Some(uts.0.clone());
    let profile = fixture.dir.path().join("no-hostname.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let runtime = fixture.runtime();
    let with = |profile: SecurityProfile| {
        move |config: &mut ContainerConfig| {
            config.linux.security.capabilities.add = strings(&["CAP_SYS_ADMIN"]);
            config.linux.security.seccomp = profile;
        }
    };
    let script = "hostname x && hostname";
    let local = SecurityProfile::Localhost(profile.display().to_string());
    let blocked = request(&fixture, "lh", &["sh", "-c", script], with(local));
    let (code, output) = run(&fixture, &runtime, blocked).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("Operation not permitted"), "{output}");
    let free = request(
        &fixture,
        "lhc",
        &["sh", "-c", script],
        with(SecurityProfile::Unconfined),
    );
    let (code, output) = run(&fixture, &runtime, free).await;
    assert_eq!((code, output.as_str()), (0, "x"));
}

#[tokio::test]
async fn missing_or_malformed_localhost_profiles_are_invalid_arguments() {
    let fixture = Fixture::new("sec-bad").await;
    let runtime = fixture.runtime();
    let malformed = fixture.dir.path().join("malformed.json");
    std::fs::write(&malformed, "{\"defaultAction\": ").unwrap();
    let missing = fixture.dir.path().join("missing.json");
    for (id, path) in [("bad1", &malformed), ("bad2", &missing)] {
        let path = path.display().to_string();
        let local = SecurityProfile::Localhost(path.clone());
        let error = runtime
            .create(request(&fixture, id, &["true"], seccomp(local)))
            .await
            .expect_err("a bad profile");
        match error {
            OciError::Failed { kind, message, .. } => {
                assert_eq!(kind, ErrorKind::InvalidArgument, "{message}");
                assert!(message.contains(&path), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn privileged_containers_ignore_the_seccomp_profile() {
    let fixture = Fixture::new("sec-priv").await;
    let runtime = fixture.runtime();
    let missing = fixture.dir.path().join("missing.json");
    let privileged = request(
        &fixture,
        "priv",
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; unshare -U true",
        ],
        |config| {
            config.linux.security.privileged = true;
            config.linux.security.seccomp =
                SecurityProfile::Localhost(missing.display().to_string());
        },
    );
    let (code, output) = run(&fixture, &runtime, privileged).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("Seccomp:\t0"), "{output}");
}

#[tokio::test]
async fn dropping_cap_chown_stops_chown() {
    let fixture = Fixture::new("sec-caps").await;
    let runtime = fixture.runtime();
    let script = "touch /tmp/f && chown 1:1 /tmp/f";
    let (code, output) = run(
        &fixture,
        &runtime,
        request(&fixture, "dflt", &["sh", "-c", script], |_| {}),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let dropped = request(&fixture, "nochown", &["sh", "-c", script], |config| {
        config.linux.security.capabilities.drop = strings(&["CAP_CHOWN"]);
    });
    let (code, output) = run(&fixture, &runtime, dropped).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("Operation not permitted"), "{output}");
}

#[tokio::test]
async fn drop_all_then_add_net_bind_service() {
    let fixture = Fixture::new("sec-capall").await;
    let runtime = fixture.runtime();
    let only = request(
        &fixture,
        "nbs",
        &["sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status"],
        |config| {
            config.linux.security.capabilities.drop = strings(&["ALL"]);
            config.linux.security.capabilities.add = strings(&["NET_BIND_SERVICE"]);
        },
    );
    let (code, output) = run(&fixture, &runtime, only).await;
    assert_eq!(code, 0, "{output}");
    // CAP_NET_BIND_SERVICE is bit 10.
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert!(
            output.contains(&format!("{set}:\t0000000000000400")),
            "{set}: {output}"
        );
    }
}

#[tokio::test]
async fn run_as_user_and_groups() {
    let fixture = Fixture::new("sec-users").await;
    let owned = fixture.rootfs.join("etc/owned");
    std::fs::write(&owned, "root's\n").unwrap();
    std::fs::set_permissions(&owned, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let runtime = fixture.runtime();
    let user = request(
        &fixture,
        "u1002",
        &["sh", "-c", "id; echo x > /etc/owned"],
        |config| {
            let security = &mut config.linux.security;
            security.run_as_user = Some(1002);
            security.run_as_group = Some(3000);
            security.supplemental_groups = vec![4000, 4001];
        },
    );
    let (code, output) = run(&fixture, &runtime, user).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("Permission denied"), "{output}");
    // stdout and stderr are separate pipes: their lines may reach the log in either order.
    let id = output
        .lines()
        .find(|l| l.starts_with("uid="))
        .unwrap_or_default();
    assert!(id.starts_with("uid=1002 gid=3000"), "{id}");
    let groups = id.split("groups=").nth(1).unwrap_or_default();
    for gid in ["3000", "4000", "4001"] {
        assert!(groups.split(',').any(|g| g == gid), "{gid} missing: {id}");
    }
    assert_eq!(std::fs::read_to_string(&owned).unwrap(), "root's\n");
}

#[tokio::test]
async fn readonly_rootfs_masked_paths_and_no_new_privs() {
    let fixture = Fixture::new("sec-ro").await;
    let runtime = fixture.runtime();
    let script = "grep NoNewPrivs: /proc/self/status; echo timers=$(wc -c < /proc/timer_list); \
                  touch /written";
    let locked = request(&fixture, "ro", &["sh", "-c", script], |config| {
        config.linux.security.readonly_rootfs = true;
        config.linux.security.no_new_privs = true;
    });
    let (code, output) = run(&fixture, &runtime, locked).await;
    assert_ne!(code, 0, "{output}");
    assert!(output.contains("NoNewPrivs:\t1"), "{output}");
    assert!(output.contains("timers=0"), "{output}");
    assert!(output.contains("Read-only file system"), "{output}");
    assert!(!fixture.rootfs.join("written").exists());
    // kubelet's own list replaces the default one, which masks /proc/timer_list.
    let open = request(&fixture, "rw", &["sh", "-c", script], |config| {
        config.linux.security.masked_paths = strings(&["/proc/keys"]);
    });
    let (code, output) = run(&fixture, &runtime, open).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("NoNewPrivs:\t0"), "{output}");
    assert!(!output.contains("timers=0"), "{output}");
    assert!(fixture.rootfs.join("written").exists());
}

/// The seccomp part of a RuntimeDefault spec, with the default capabilities (no root needed).
#[test]
fn runtime_default_seccomp_spec() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    let mut config = ContainerConfig {
        command: strings(&["/bin/app"]),
        ..Default::default()
    };
    config.linux.security.seccomp = SecurityProfile::RuntimeDefault;
    let request = CreateContainer {
        id: "ctr1".to_string(),
        sandbox_id: "pod1".to_string(),
        config: Arc::new(config),
        image_id: "sha256:feed".to_string(),
        image: Arc::default(),
        rootfs,
        log_path: None,
        pod: Default::default(),
    };
    let env = SpecEnv {
        oom_score_adj_floor: 0,
        capabilities: DEFAULT_CAPABILITIES.to_vec(),
        host_devices: Some(Vec::new()),
        pids_limit: None,
    };
    let spec = spec::build(&request, &env, &Extras::default()).expect("a spec");
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    insta::assert_json_snapshot!("seccomp_runtime_default", seccomp);
}
