//! The `crius-sim` binary: socket handling, fault plans from a file, graceful shutdown.

mod common;

use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(socket: &Path, extra: &[&str]) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_crius-sim"))
        .args(["serve", "--socket"])
        .arg(socket)
        .args(["--log", "warn"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crius-sim runs");
    Daemon(child)
}

fn wait_for_socket(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "crius-sim did not listen on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(daemon: &mut Daemon) -> std::process::ExitStatus {
    let pid = daemon.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "crius-sim did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serves_on_a_0660_socket_refuses_a_second_daemon_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim/crius.sock");
    // A stale socket file from a dead daemon is replaced.
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut daemon = spawn(&socket, &[]);
    wait_for_socket(&socket);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let mut client = RuntimeServiceClient::new(common::connect(&socket).await);
    let version = client
        .version(cri::VersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "crius");

    let second = Command::new(env!("CARGO_BIN_EXE_crius-sim"))
        .args(["serve", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already listening"), "{stderr}");

    let status = terminate(&mut daemon);
    assert!(status.success(), "exit status {status:?}");
    assert!(!socket.exists(), "the socket is removed on shutdown");
}

#[tokio::test]
async fn a_fault_plan_file_makes_pulls_fail_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("crius.sock");
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "seed = 1\n[[call]]\nmethod = \"PullImage\"\nimage = \"*flaky*\"\ntimes = 1\ncode = \"Unavailable\"\nmessage = \"registry down\"\n",
    )
    .unwrap();
    let _daemon = spawn(&socket, &["--fault-plan", plan.to_str().unwrap()]);
    wait_for_socket(&socket);
    let mut images = ImageServiceClient::new(common::connect(&socket).await);
    let pull = |image: &str| cri::PullImageRequest {
        image: Some(common::image_spec(image)),
        ..Default::default()
    };
    let err = images.pull_image(pull("flaky/app:1")).await.unwrap_err();
    // kubelet's vocabulary: an unreachable registry is Unknown with a RegistryUnavailable message.
    assert_eq!(err.code(), tonic::Code::Unknown);
    assert!(
        err.message().starts_with("RegistryUnavailable: "),
        "{}",
        err.message()
    );
    assert!(err.message().contains("registry down"), "{}", err.message());
    images.pull_image(pull("flaky/app:1")).await.unwrap();
    images.pull_image(pull("steady/app:1")).await.unwrap();
}

#[test]
fn a_malformed_fault_plan_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bad.toml");
    std::fs::write(
        &plan,
        "[[call]]\nmethod = \"NoSuchMethod\"\ncode = \"Unavailable\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crius-sim"))
        .args(["serve", "--socket"])
        .arg(dir.path().join("s.sock"))
        .arg("--fault-plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NoSuchMethod"), "{stderr}");
}
