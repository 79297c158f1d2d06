//! `Cni` with Debian's `containernetworking-plugins` on this machine, as root, in namespaces
//! pinned by `PinnedNamespaces`. Each test has its own bridge, subnet, network name and
//! host-local store (derived from the test's name), so tests run in parallel; each one ends by
//! checking nothing leaked, and a drop guard cleans up after a failure.

use async_trait::async_trait;
use crius::backend::namespaces::PinnedNamespaces;
use crius::backend::network::{Cni, CniOptions, NetworkReadiness, PodNetworkRequest};
use crius::backend::suite::network::{NetworkPod, NetworkPods, network_suite};
use crius::backend::{PodNamespaces, PodNetwork};
use crius::error::{Classify, ErrorKind};
use crius::model::{PortMapping, Protocol, SandboxConfig};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const INSTALL: &str =
    "apt-get install containernetworking-plugins iproute2 iptables busybox-static util-linux";
const PLUGINS: &str = "/usr/lib/cni";

fn require_prerequisites() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create network namespaces and must run as root"
    );
    for plugin in ["bridge", "host-local", "portmap"] {
        assert!(
            Path::new(PLUGINS).join(plugin).is_file(),
            "CNI plugin {PLUGINS}/{plugin} is missing: {INSTALL}"
        );
    }
    for command in ["ip", "nsenter", "busybox", "iptables-save"] {
        let found = std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(command).is_file())
        });
        assert!(found, "{command} is missing: {INSTALL}");
    }
}

/// A small stable hash of the test name: bridge, subnet and ports derive from it.
fn tag_of(name: &str) -> u32 {
    name.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

fn run(command: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(command)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{command}: {e}: {INSTALL}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// One test's private network: config dir, plugin cache, run dir, bridge and subnet.
struct TestNet {
    dir: tempfile::TempDir,
    bridge: String,
    subnet: String,
    network_name: String,
    namespaces: Arc<PinnedNamespaces>,
    cni: Arc<Cni>,
    pods: Mutex<Vec<NetworkPod>>,
    finished: bool,
}

impl TestNet {
    /// A network for test `name`; `write_config` false leaves the config dir empty.
    fn new(name: &str, write_config: bool) -> TestNet {
        require_prerequisites();
        let tag = tag_of(name);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let subnet = format!("10.{}.{}.0/24", 200 + tag % 50, (tag >> 8) % 256);
        let mut options = CniOptions::new(
            dir.path().join("net.d"),
            vec![dir.path().join("plugins"), PathBuf::from(PLUGINS)],
            dir.path().join("cache"),
        );
        options.timeout = Duration::from_secs(20);
        std::fs::create_dir_all(&options.conf_dir).unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let net = TestNet {
            bridge: format!("crt{:04x}", tag & 0xffff),
            network_name: format!("crius-test-{:08x}", tag),
            subnet,
            namespaces: Arc::new(PinnedNamespaces::new(dir.path().join("run"))),
            cni: Arc::new(Cni::new(options)),
            dir,
            pods: Mutex::new(Vec::new()),
            finished: false,
        };
        if write_config {
            net.write_config(&[]);
        }
        net
    }

    /// The fixture conflist made private to this test, with `extra` plugins appended.
    fn conflist(&self, extra: &[serde_json::Value]) -> serde_json::Value {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cni/10-crius-bridge.conflist");
        let text = std::fs::read_to_string(&fixture)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
        let mut list: serde_json::Value = serde_json::from_str(&text).expect("the fixture is JSON");
        list["name"] = self.network_name.clone().into();
        list["plugins"][0]["bridge"] = self.bridge.clone().into();
        list["plugins"][0]["ipam"]["ranges"] = serde_json::json!([[{ "subnet": self.subnet }]]);
        list["plugins"][0]["ipam"]["dataDir"] =
            self.ipam_dir().to_string_lossy().into_owned().into();
        list["plugins"]
            .as_array_mut()
            .unwrap()
            .extend(extra.iter().cloned());
        list
    }

    fn write_config(&self, extra: &[serde_json::Value]) {
        let path = self.dir.path().join("net.d/10-test.conflist");
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&self.conflist(extra)).unwrap(),
        )
        .unwrap();
    }

    fn ipam_dir(&self) -> PathBuf {
        self.dir.path().join("ipam")
    }

    /// Installs a shell-script plugin in the test's first plugin directory.
    fn script_plugin(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("plugins").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A pod with a pinned network namespace.
    async fn pod(&self, name: &str, ports: Vec<PortMapping>) -> NetworkPod {
        let mut config = SandboxConfig::default();
        config.metadata.name = name.to_string();
        config.metadata.namespace = "test".to_string();
        config.metadata.uid = format!("uid-{name}");
        config.port_mappings = ports;
        let sandbox_id = format!("{}-{name}", self.bridge);
        let handle = self
            .namespaces
            .create(&sandbox_id, &config, "")
            .await
            .expect("pin the pod's namespaces");
        let pod = NetworkPod {
            sandbox_id,
            netns: handle.netns,
            config,
        };
        self.pods.lock().push(pod.clone());
        pod
    }

    /// IP reservations host-local still holds.
    fn reservations(&self) -> Vec<String> {
        let dir = self.ipam_dir().join(&self.network_name);
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Tears everything down and checks nothing is left: mounts, namespace files, records,
    /// addresses, iptables rules of the subnet, the bridge.
    async fn finish(mut self) {
        let pods = self.pods.lock().clone();
        for pod in &pods {
            self.cni.teardown(pod.request()).await.expect("teardown");
            self.namespaces
                .release(&pod.sandbox_id)
                .await
                .expect("release");
        }
        assert_eq!(
            self.reservations(),
            Vec::<String>::new(),
            "host-local still holds addresses"
        );
        let records: Vec<_> = std::fs::read_dir(self.dir.path().join("cache"))
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(records, Vec::<PathBuf>::new(), "attachment records left");
        let root = self.dir.path().to_string_lossy().into_owned();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&root), "mounts left under {root}");
        let run_dir: Vec<_> = std::fs::read_dir(self.dir.path().join("run"))
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(run_dir, Vec::<PathBuf>::new(), "namespace files left");
        let (_, rules) = run("iptables-save", &[]);
        let subnet_base = self.subnet.trim_end_matches(".0/24");
        let leaked: Vec<&str> = rules
            .lines()
            .filter(|l| l.contains(&format!("{subnet_base}.")))
            .collect();
        assert_eq!(
            leaked,
            Vec::<&str>::new(),
            "iptables rules of the test's subnet left"
        );
        let (ok, ports) = run("ip", &["-o", "link", "show", "master", &self.bridge]);
        assert!(
            !ok || ports.trim().is_empty(),
            "veths still on the bridge: {ports}"
        );
        // The bridge plugin never deletes its bridge (other pods may use it); the test does.
        let _ = run("ip", &["link", "del", &self.bridge]);
        let (gone, _) = run("ip", &["link", "show", &self.bridge]);
        assert!(!gone, "the bridge {} is left", self.bridge);
        self.finished = true;
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // A failed test: clean up from a runtime of our own (the test's may be unwinding).
        let (cni, namespaces, pods, bridge) = (
            self.cni.clone(),
            self.namespaces.clone(),
            self.pods.lock().clone(),
            self.bridge.clone(),
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                for pod in pods {
                    let _ = cni.teardown(pod.request()).await;
                    let _ = namespaces.release(&pod.sandbox_id).await;
                }
            });
            let _ = run("ip", &["link", "del", &bridge]);
        })
        .join();
    }
}

struct SuitePods<'a>(&'a TestNet);

#[async_trait]
impl NetworkPods for SuitePods<'_> {
    async fn pod(&self, name: &str) -> NetworkPod {
        self.0.pod(name, Vec::new()).await
    }
}

fn in_netns(netns: &Path, args: &[&str]) -> (bool, String) {
    let mut all = vec![format!("--net={}", netns.display())];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run("nsenter", &all)
}

#[tokio::test]
async fn cni_passes_the_shared_network_suite() {
    let net = TestNet::new("cni_passes_the_shared_network_suite", true);
    network_suite(net.cni.as_ref(), &net.subnet, &SuitePods(&net)).await;
    net.finish().await;
}

#[tokio::test]
async fn pods_get_eth0_with_their_address_and_ping_each_other() {
    let net = TestNet::new("pods_get_eth0_with_their_address_and_ping_each_other", true);
    let a = net.pod("a", Vec::new()).await;
    let b = net.pod("b", Vec::new()).await;
    let a_ip = net.cni.setup(a.request()).await.expect("setup a").ip;
    let b_ip = net.cni.setup(b.request()).await.expect("setup b").ip;
    let a_ns = a.netns.clone().unwrap();
    let (ok, addr) = in_netns(&a_ns, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(
        ok && addr.contains(&format!("{a_ip}/24")),
        "eth0 of pod a has {a_ip}: {addr}"
    );
    let (ok, out) = in_netns(&a_ns, &["busybox", "ping", "-c", "1", "-W", "3", &b_ip]);
    assert!(ok, "pod a pings pod b at {b_ip}: {out}");
    let (ok, out) = in_netns(
        &a_ns,
        &["busybox", "ping", "-c", "1", "-W", "3", "127.0.0.1"],
    );
    assert!(ok, "lo is up in the pod: {out}");
    net.cni
        .check(&a.sandbox_id)
        .await
        .expect("CNI CHECK of an attached pod");
    let error = net
        .cni
        .check("never-attached")
        .await
        .expect_err("CHECK of an unknown pod");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    net.finish().await;
}

#[tokio::test]
async fn host_port_reaches_the_pod_from_localhost() {
    let name = "host_port_reaches_the_pod_from_localhost";
    let net = TestNet::new(name, true);
    let host_port = 20_000 + (tag_of(name) % 10_000) as i32;
    let mapping = PortMapping {
        protocol: Protocol::Tcp,
        container_port: 8080,
        host_port,
        host_ip: String::new(),
    };
    let pod = net.pod("web", vec![mapping]).await;
    let ip = net.cni.setup(pod.request()).await.expect("setup").ip;
    let netns = pod.netns.clone().unwrap();
    let mut server = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["busybox", "nc", "-l", "-p", "8080"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("nsenter busybox nc: {e}: {INSTALL}"));
    let mut connected = None;
    for _ in 0..50 {
        match std::net::TcpStream::connect(("127.0.0.1", host_port as u16)) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let Some(mut stream) = connected else {
        let _ = server.kill();
        let _ = server.wait();
        panic!("127.0.0.1:{host_port} never reached the pod at {ip}:8080");
    };
    stream.write_all(b"hello from the node\n").unwrap();
    drop(stream);
    let mut received = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut received)
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(received, "hello from the node\n");
    net.finish().await;
}

#[tokio::test]
async fn network_becomes_ready_when_a_conflist_is_written() {
    let net = TestNet::new("network_becomes_ready_when_a_conflist_is_written", false);
    match net.cni.readiness().await {
        NetworkReadiness::NotReady { reason, message } => {
            assert_eq!(reason, "NetworkPluginNotReady");
            assert!(message.contains("no network config"), "{message}");
        }
        NetworkReadiness::Ready => panic!("ready without a config"),
    }
    let pod = net.pod("early", Vec::new()).await;
    let error = net
        .cni
        .setup(pod.request())
        .await
        .expect_err("setup without a config");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    net.write_config(&[]);
    let mut ready = false;
    for _ in 0..30 {
        if net.cni.readiness().await == NetworkReadiness::Ready {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the network became ready after the conflist was written"
    );
    net.cni
        .setup(pod.request())
        .await
        .expect("setup once configured");
    net.finish().await;
}

#[tokio::test]
async fn a_failed_add_is_undone_and_a_hung_plugin_times_out() {
    let net = TestNet::new("a_failed_add_is_undone_and_a_hung_plugin_times_out", false);
    net.script_plugin(
        "refuse",
        r#"[ "$CNI_COMMAND" = ADD ] || exit 0
echo '{"cniVersion":"1.0.0","code":11,"msg":"refused by the test plugin"}'; exit 1"#,
    );
    net.write_config(&[serde_json::json!({"type": "refuse"})]);
    let pod = net.pod("refused", Vec::new()).await;
    let error = net.cni.setup(pod.request()).await.expect_err("ADD fails");
    assert!(
        error.to_string().contains("refused by the test plugin"),
        "{error}"
    );
    assert_eq!(
        net.reservations(),
        Vec::<String>::new(),
        "the address is released after the failed ADD"
    );
    let (_, ports) = run("ip", &["-o", "link", "show", "master", &net.bridge]);
    assert!(
        ports.trim().is_empty(),
        "no veth left after the failed ADD: {ports}"
    );
    net.cni
        .teardown(pod.request())
        .await
        .expect("teardown after a failed ADD");

    let mut options = CniOptions::new(
        net.dir.path().join("net.d"),
        vec![net.dir.path().join("plugins"), PathBuf::from(PLUGINS)],
        net.dir.path().join("cache"),
    );
    options.timeout = Duration::from_millis(500);
    let impatient = Cni::new(options);
    net.script_plugin(
        "refuse",
        r#"[ "$CNI_COMMAND" = ADD ] || exit 0; exec sleep 30"#,
    );
    let started = std::time::Instant::now();
    let error = impatient.setup(pod.request()).await.expect_err("ADD hangs");
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the hung plugin was not waited for"
    );
    assert_eq!(
        net.reservations(),
        Vec::<String>::new(),
        "the address is released after the timeout"
    );
    net.finish().await;
}

#[tokio::test]
async fn teardown_of_an_unknown_pod_needs_no_config() {
    let net = TestNet::new("teardown_of_an_unknown_pod_needs_no_config", false);
    let config = SandboxConfig::default();
    let request = PodNetworkRequest {
        sandbox_id: "never-set-up",
        netns: None,
        config: &config,
    };
    net.cni
        .teardown(request)
        .await
        .expect("teardown of a pod never set up");
    net.write_config(&[]);
    net.finish().await;
}
