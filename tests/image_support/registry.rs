//! Debian's docker-registry on 127.0.0.1 and a free port, storage in a tempdir, killed on drop.

use super::http;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL: &str = "apt-get install docker-registry busybox-static apache2-utils";
const BINARY: &str = "/usr/bin/docker-registry";

pub struct TestRegistry {
    pub host: String,
    pub dir: tempfile::TempDir,
    child: Child,
    /// `Basic ...` header value when started with credentials.
    pub basic: Option<String>,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    listener.local_addr().unwrap().port()
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        TestRegistry::start_with(None)
    }

    /// With `Some((user, password))`, the registry demands HTTP Basic auth (htpasswd, bcrypt).
    pub fn start_with(credentials: Option<(&str, &str)>) -> TestRegistry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: the image tests need it; run: {INSTALL}"
        );
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut auth = String::new();
            let mut basic = None;
            if let Some((user, password)) = credentials {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .unwrap_or_else(|e| panic!("running htpasswd ({e}); run: {INSTALL}"));
                assert!(
                    out.status.success(),
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: crius-test\n    path: {}\n",
                    file.display()
                );
                use base64::Engine;
                basic = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ));
            }
            let host = format!("127.0.0.1:{}", free_port());
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(BINARY)
                .arg("serve")
                .arg(&config_path)
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {BINARY} ({e}); run: {INSTALL}"));
            let mut registry = TestRegistry {
                host,
                dir,
                child,
                basic,
            };
            if registry.wait_ready() {
                return registry;
            }
            last_log = std::fs::read_to_string(registry.dir.path().join("registry.log"))
                .unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("docker-registry did not come up; its log:\n{last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(resp) = http::request("GET", &format!("http://{}/v2/", self.host), &[], b"")
                && (resp.status == 200 || resp.status == 401)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pusher(&self) -> super::builder::Pusher {
        super::builder::Pusher {
            host: self.host.clone(),
            basic: self.basic.clone(),
        }
    }

    /// How many times the registry served `GET` of blob `digest` (from its access log).
    pub fn blob_gets(&self, digest: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        log.lines()
            .filter(|l| {
                l.contains("\"GET /v2/")
                    && l.contains(&format!("/blobs/{digest}"))
                    && l.contains("\" 200 ")
            })
            .count()
    }

    /// Where the registry stores blob `digest` on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
