//! `Runc` with real runc, crius-monitor and a busybox rootfs, as root: logs, exit codes, stop
//! with and without a graceful exit, ExecSync, OOM kills, log reopening, a daemon restart, and
//! the crun handler on this node. Each test has its own state directory, pod cgroup and ids;
//! a drop guard removes containers, monitors, processes and cgroups even when a test fails.
//! Prerequisites: `apt-get install runc busybox` (any /bin/busybox works: a dynamic one is
//! copied with its libraries).

mod oci_support;

use crius::backend::oci::{OciError, OciRuntime, ProcessState, RuncConfig};
use crius::cri_log::{Stream, Tag, join_records, parse_line};
use crius::model::LinuxResources;
use oci_support::{Fixture, eventually, processes_with, wait_exited};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

fn records(log: &str) -> Vec<(Stream, Tag, String)> {
    log.lines()
        .map(|line| {
            let parsed = parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            (parsed.stream, parsed.tag, parsed.content)
        })
        .collect()
}

#[tokio::test]
async fn echo_logs_a_full_line_and_exits_zero() {
    let fixture = Fixture::new("echo").await;
    let runtime = fixture.runtime();
    let mut exits = runtime.exits();
    runtime
        .create(fixture.request("echo", &["echo", "hello"]))
        .await
        .expect("create");
    assert_eq!(runtime.state("echo").await.unwrap(), ProcessState::Created);
    runtime.start("echo").await.expect("start");
    let status = wait_exited(&runtime, "echo", LONG).await;
    assert_eq!((status.exit_code, status.oom_killed), (0, false));
    assert!(status.finished_at > 0);
    assert_eq!(
        records(&fixture.log("echo")),
        vec![(Stream::Stdout, Tag::Full, "hello".to_string())]
    );
    let notice = tokio::time::timeout(LONG, exits.recv())
        .await
        .expect("an exit notice")
        .unwrap();
    assert_eq!((notice.id.as_str(), notice.status), ("echo", status));
    runtime.delete("echo").await.expect("delete");
    assert!(matches!(
        runtime.state("echo").await,
        Err(OciError::NotFound { .. })
    ));
    for dir in fixture.container_cgroups("echo") {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[tokio::test]
async fn exit_code_and_stderr_are_recorded() {
    let fixture = Fixture::new("exit3").await;
    let runtime = fixture.runtime();
    runtime
        .create(fixture.request("exit3", &["sh", "-c", "echo oops >&2; exit 3"]))
        .await
        .expect("create");
    runtime.start("exit3").await.expect("start");
    assert_eq!(wait_exited(&runtime, "exit3", LONG).await.exit_code, 3);
    assert_eq!(
        records(&fixture.log("exit3")),
        vec![(Stream::Stderr, Tag::Full, "oops".to_string())]
    );
    runtime.delete("exit3").await.expect("delete");
}

#[tokio::test]
async fn a_long_line_is_split_into_partial_records() {
    let fixture = Fixture::new("long").await;
    let runtime = fixture.runtime();
    let script = "head -c 20480 /dev/zero | tr '\\000' x; echo";
    runtime
        .create(fixture.request("long", &["sh", "-c", script]))
        .await
        .expect("create");
    runtime.start("long").await.expect("start");
    assert_eq!(wait_exited(&runtime, "long", LONG).await.exit_code, 0);
    let log = fixture.log("long");
    let records = records(&log);
    assert!(records.len() >= 2, "{} records", records.len());
    assert!(
        records[..records.len() - 1]
            .iter()
            .all(|(_, tag, _)| *tag == Tag::Partial)
    );
    assert_eq!(records.last().unwrap().1, Tag::Full);
    let lines: Vec<_> = log.lines().map(|l| parse_line(l).unwrap()).collect();
    assert_eq!(
        join_records(&lines),
        vec![(Stream::Stdout, "x".repeat(20480))]
    );
    runtime.delete("long").await.expect("delete");
}

#[tokio::test]
async fn stop_kills_a_process_that_ignores_the_signal() {
    let fixture = Fixture::new("stopkill").await;
    let runtime = fixture.runtime();
    runtime
        .create(fixture.request("sleeper", &["sleep", "100"]))
        .await
        .expect("create");
    runtime.start("sleeper").await.expect("start");
    assert!(matches!(
        runtime.state("sleeper").await.unwrap(),
        ProcessState::Running { .. }
    ));
    let started = Instant::now();
    let status = runtime
        .stop("sleeper", "SIGTERM", Duration::from_secs(1))
        .await
        .expect("stop");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!((status.exit_code, status.oom_killed), (137, false));
    assert_eq!(
        runtime
            .stop("sleeper", "SIGTERM", Duration::from_secs(1))
            .await
            .unwrap(),
        status
    );
    runtime.delete("sleeper").await.expect("delete");
}

#[tokio::test]
async fn stop_lets_a_trapping_process_exit_gracefully() {
    let fixture = Fixture::new("graceful").await;
    let runtime = fixture.runtime();
    let script = "trap 'exit 0' TERM; echo ready; while true; do sleep 1; done";
    runtime
        .create(fixture.request("trap", &["sh", "-c", script]))
        .await
        .expect("create");
    runtime.start("trap").await.expect("start");
    eventually(LONG, "the trap is set", || {
        fixture.log("trap").contains("ready")
    })
    .await;
    let started = Instant::now();
    let status = runtime
        .stop("trap", "TERM", Duration::from_secs(15))
        .await
        .expect("stop");
    assert_eq!(status.exit_code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    runtime.delete("trap").await.expect("delete");
}

#[tokio::test]
async fn exec_sync_captures_output_and_exit_codes_and_kills_on_timeout() {
    let fixture = Fixture::new("exec").await;
    let runtime = fixture.runtime();
    runtime
        .create(fixture.request("exec", &["sleep", "100"]))
        .await
        .expect("create");
    let command = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches!(
        runtime.exec_sync("exec", &command(&["true"]), None).await,
        Err(OciError::WrongState { .. })
    ));
    runtime.start("exec").await.expect("start");
    let output = runtime
        .exec_sync("exec", &command(&["echo", "hi"]), None)
        .await
        .expect("exec");
    assert_eq!(
        (output.stdout.as_slice(), output.exit_code),
        (&b"hi\n"[..], 0)
    );
    let output = runtime
        .exec_sync(
            "exec",
            &command(&["sh", "-c", "echo err >&2; exit 3"]),
            Some(LONG),
        )
        .await
        .expect("exec");
    assert_eq!(
        (output.stderr.as_slice(), output.exit_code),
        (&b"err\n"[..], 3)
    );
    let started = Instant::now();
    let timed_out = runtime
        .exec_sync(
            "exec",
            &command(&["sh", "-c", "sleep 4242; echo never"]),
            Some(Duration::from_secs(1)),
        )
        .await;
    assert!(
        matches!(timed_out, Err(OciError::Timeout { .. })),
        "{timed_out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    eventually(Duration::from_secs(5), "the timed-out exec is gone", || {
        processes_with("sleep 4242").is_empty()
    })
    .await;
    runtime
        .stop("exec", "KILL", Duration::ZERO)
        .await
        .expect("stop");
    runtime.delete("exec").await.expect("delete");
}

#[tokio::test]
async fn the_oom_killer_is_reported() {
    let fixture = Fixture::new("oom").await;
    let runtime = fixture.runtime();
    let mut request = fixture.request(
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 64m /dev/zero | tr '\\000' a); echo ${#x}",
        ],
    );
    let mut config = (*request.config).clone();
    config.linux.resources = Some(LinuxResources {
        memory_limit_in_bytes: 8 << 20,
        ..Default::default()
    });
    request.config = Arc::new(config);
    runtime.create(request).await.expect("create");
    runtime.start("oom").await.expect("start");
    let status = wait_exited(&runtime, "oom", LONG).await;
    assert!(status.oom_killed, "{status:?}, log: {}", fixture.log("oom"));
    assert_eq!(status.exit_code, 137);
    runtime.delete("oom").await.expect("delete");
}

#[tokio::test]
async fn reopen_log_starts_a_new_file_after_rotation() {
    let fixture = Fixture::new("reopen").await;
    let runtime = fixture.runtime();
    let script = "echo before; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after";
    runtime
        .create(fixture.request("reopen", &["sh", "-c", script]))
        .await
        .expect("create");
    runtime.start("reopen").await.expect("start");
    eventually(LONG, "the first line", || {
        fixture.log("reopen").contains("before")
    })
    .await;
    let log = fixture.log_path("reopen");
    let rotated = log.with_extension("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    runtime.reopen_log("reopen").await.expect("reopen");
    assert!(log.exists(), "the log was not created again");
    std::fs::write(fixture.rootfs.join("tmp/go"), "").unwrap();
    assert_eq!(wait_exited(&runtime, "reopen", LONG).await.exit_code, 0);
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(
        records(&old),
        vec![(Stream::Stdout, Tag::Full, "before".to_string())]
    );
    assert_eq!(
        records(&fixture.log("reopen")),
        vec![(Stream::Stdout, Tag::Full, "after".to_string())]
    );
    assert!(matches!(
        runtime.reopen_log("reopen").await,
        Err(OciError::WrongState { .. })
    ));
    runtime.delete("reopen").await.expect("delete");
}

#[tokio::test]
async fn containers_outlive_a_daemon_restart() {
    let fixture = Fixture::new("restart").await;
    let script = "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7";
    {
        let runtime = fixture.runtime();
        runtime
            .create(fixture.request("survivor", &["sh", "-c", script]))
            .await
            .expect("create");
        runtime.start("survivor").await.expect("start");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let runtime = fixture.runtime();
    let mut exits = runtime.exits();
    assert!(matches!(
        runtime.state("survivor").await.unwrap(),
        ProcessState::Running { .. }
    ));
    std::fs::write(fixture.rootfs.join("tmp/go"), "").unwrap();
    let notice = tokio::time::timeout(LONG, exits.recv())
        .await
        .expect("an exit notice")
        .unwrap();
    assert_eq!(
        (notice.id.as_str(), notice.status.exit_code),
        ("survivor", 7)
    );
    runtime.delete("survivor").await.expect("delete");
}

#[tokio::test]
async fn update_resources_changes_the_memory_limit() {
    let fixture = Fixture::new("update").await;
    let runtime = fixture.runtime();
    runtime
        .create(fixture.request("update", &["sleep", "100"]))
        .await
        .expect("create");
    runtime.start("update").await.expect("start");
    let resources = LinuxResources {
        memory_limit_in_bytes: 64 << 20,
        cpu_shares: 512,
        ..Default::default()
    };
    runtime
        .update_resources("update", &resources)
        .await
        .expect("update");
    let limit = fixture
        .container_cgroups("update")
        .into_iter()
        .map(|dir| dir.join("memory.limit_in_bytes"))
        .chain(
            fixture
                .container_cgroups("update")
                .into_iter()
                .map(|dir| dir.join("memory.max")),
        )
        .find_map(|file| std::fs::read_to_string(file).ok())
        .expect("a memory limit file");
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    runtime
        .stop("update", "KILL", Duration::ZERO)
        .await
        .expect("stop");
    runtime.delete("update").await.expect("delete");
}

#[tokio::test]
async fn the_crun_handler_answers_quickly_with_a_clear_message() {
    let fixture = Fixture::new("crun").await;
    assert!(
        std::path::Path::new("/usr/bin/crun").is_file(),
        "/usr/bin/crun is missing: apt-get install crun"
    );
    let config = RuncConfig {
        runtime_root: None,
        ..RuncConfig::crun(
            fixture.dir.path().join("state"),
            env!("CARGO_BIN_EXE_crius-monitor"),
        )
    };
    let runtime = crius::backend::oci::Runc::new(config).expect("the runtime");
    let started = Instant::now();
    let created = runtime.create(fixture.request("crun", &["true"])).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let hybrid = fixture.cgroups.layout().mode == crius::backend::cgroups::CgroupMode::Hybrid;
    match created {
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("crun"), "{message}");
            if hybrid {
                assert!(message.contains("hybrid"), "{message}");
            }
        }
        Ok(()) => {
            assert!(!hybrid, "crun accepted a hybrid cgroup layout");
            runtime.delete("crun").await.expect("delete");
        }
    }
}
