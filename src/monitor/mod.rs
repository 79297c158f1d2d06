//! `crius-monitor`: the parent of one container's process (the conmon role).
//!
//! # One monitor per container
//!
//! Each container gets its own monitor. That keeps a monitor trivial (one child to wait for,
//! one log, one exit file, no shared state to recover), confines a monitor crash or leak to
//! one container, and lets the daemon restart without touching running containers. The cost,
//! a small process per container (a few hundred KiB resident: std threads with small stacks,
//! no async runtime), is what CRI-O's conmon pays too.
//!
//! # Life of a monitor
//!
//! 1. The daemon runs `crius-monitor` with the arguments of [`MonitorArgs`] and a pipe as its
//!    standard output (the *sync pipe*). The monitor starts a detached copy of itself
//!    (`--detached`, re-executing `/proc/self/exe`) and exits at once, so the daemon reaps it
//!    and the copy is re-parented away from the daemon: it outlives a daemon restart.
//! 2. The copy calls `setsid` (no signal for the daemon's process group reaches it), becomes a
//!    child subreaper (the container's init, whose parent `runc create` exits, is re-parented
//!    to it), writes its pid to `--monitor-pid-file` and listens on the `--ctl` unix socket.
//! 3. It runs `<runtime> [--root R] --log <bundle>/runtime.log --log-format json create
//!    --bundle B --pid-file P <id>` with pipes as stdout and stderr (and `/dev/null`, or a pipe
//!    with `--stdin`, as stdin), which the container inherits.
//! 4. It answers on the sync pipe with one JSON line, `{"created":{"pid":N}}` or
//!    `{"error":"..."}`, then points its stdout at `/dev/null` so the daemon sees end of file.
//! 5. One thread per output stream writes what the container prints to the CRI log
//!    ([`crate::cri_log::CriLogWriter`]: lines longer than 16 KiB become `P` pieces); a thread
//!    answers `reopen` on the control socket (`ok` or `error <message>`).
//! 6. The main thread waits for the container's process (reaping any other orphan), drains the
//!    pipes (for at most two seconds after the exit), compares the memory cgroup's `oom_kill`
//!    counter with its value before the start, and writes the [`ExitRecord`] atomically.
//!
//! Not done yet: a terminal (`tty`) container gets pipes, not a pty; attach to the stdin pipe.

mod args;
mod exit_file;
mod log;
mod oom;

pub use args::MonitorArgs;
pub use exit_file::{ExitRecord, now};
pub use oom::OomCounter;

use crate::cri_log::Stream;
use log::LogSink;
use nix::sys::wait::{WaitStatus, waitpid};
use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Stack size of the monitor's helper threads: they only copy bytes.
const THREAD_STACK: usize = 128 * 1024;
/// How long the output pipes may stay open after the container's init ended.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// One line on the sync pipe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMessage {
    /// The container is created; its init process has this host pid.
    Created {
        /// Host pid of the container's init.
        pid: u32,
    },
    /// Creating failed.
    Error(String),
}

/// The monitor's entry point.
pub fn main() -> ExitCode {
    let args = match MonitorArgs::parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            report(&SyncMessage::Error(format!("crius-monitor: {message}")));
            return ExitCode::from(2);
        }
    };
    if !args.detached {
        return detach(&args);
    }
    let _ = nix::unistd::setsid();
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("crius-monitor: becoming a subreaper: {e}");
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crius-monitor {}: {message}", args.id);
            ExitCode::FAILURE
        }
    }
}

/// Starts the detached copy, which inherits the sync pipe, and returns.
fn detach(args: &MonitorArgs) -> ExitCode {
    let mut copy = args.clone();
    copy.detached = true;
    let spawned = Command::new("/proc/self/exe")
        .args(copy.to_args())
        .stdin(Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            report(&SyncMessage::Error(format!(
                "crius-monitor: starting the detached monitor: {e}"
            )));
            ExitCode::FAILURE
        }
    }
}

fn report(message: &SyncMessage) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, message);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Reports on the sync pipe, then lets go of it.
fn report_and_close(message: &SyncMessage) {
    report(message);
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
}

fn run(args: &MonitorArgs) -> Result<(), String> {
    let _ = std::fs::write(&args.monitor_pid_file, std::process::id().to_string());
    let setup = (|| -> Result<_, String> {
        let sink = LogSink::open(args.log.clone()).map_err(|e| {
            format!(
                "opening the log {}: {e}",
                args.log.as_deref().unwrap_or(Path::new("")).display()
            )
        })?;
        let _ = std::fs::remove_file(&args.ctl);
        let listener = UnixListener::bind(&args.ctl)
            .map_err(|e| format!("listening on {}: {e}", args.ctl.display()))?;
        let (pid, readers, stdin) = create(args)?;
        Ok((sink, listener, pid, readers, stdin))
    })();
    let (sink, listener, pid, readers, _stdin) = match setup {
        Ok(parts) => parts,
        Err(message) => {
            report_and_close(&SyncMessage::Error(message.clone()));
            let _ = std::fs::remove_file(&args.ctl);
            return Err(message);
        }
    };
    let oom = OomCounter::for_pid(pid);
    let sink = Arc::new(Mutex::new(sink));
    let (done_tx, done_rx) = mpsc::channel();
    let [out, err] = readers;
    for (stream, pipe) in [(Stream::Stdout, out), (Stream::Stderr, err)] {
        spawn_reader(stream, pipe, sink.clone(), done_tx.clone())?;
    }
    spawn_control(listener, sink.clone())?;
    report_and_close(&SyncMessage::Created { pid });

    let exit_code = wait_for(pid);
    let finished_at = now();
    let deadline = Instant::now() + DRAIN_LIMIT;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    sink.lock().flush();
    let record = ExitRecord {
        exit_code,
        finished_at,
        oom_killed: oom.is_some_and(|o| o.fired()),
    };
    let written = record.write(&args.exit_file);
    let _ = std::fs::remove_file(&args.ctl);
    written.map_err(|e| format!("writing {}: {e}", args.exit_file.display()))
}

type Created = (u32, [std::io::PipeReader; 2], Option<std::io::PipeWriter>);

/// Runs `<runtime> create` with the container's pipes; returns the container's pid, the read
/// ends of its stdout and stderr, and the write end of its stdin pipe.
fn create(args: &MonitorArgs) -> Result<Created, String> {
    let pipe = || std::io::pipe().map_err(|e| format!("creating a pipe: {e}"));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin, stdin_keep) = if args.stdin {
        let (r, w) = pipe()?;
        (Stdio::from(r), Some(w))
    } else {
        (Stdio::null(), None)
    };
    let runtime_log = args.bundle.join("runtime.log");
    let mut command = Command::new(&args.runtime);
    if let Some(root) = &args.runtime_root {
        command.arg("--root").arg(root);
    }
    command
        .arg("--log")
        .arg(&runtime_log)
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(&args.bundle)
        .arg("--pid-file")
        .arg(&args.pid_file)
        .arg(&args.id)
        .stdin(stdin)
        .stdout(out_w)
        .stderr(err_w);
    let mut child = command
        .spawn()
        .map_err(|e| format!("running {}: {e}", args.runtime.display()))?;
    drop(command);
    let deadline = Instant::now() + args.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} create timed out after {:?}",
                    args.runtime.display(),
                    args.timeout
                ));
            }
            Err(e) => {
                return Err(format!(
                    "waiting for {} create: {e}",
                    args.runtime.display()
                ));
            }
        }
    };
    if !status.success() {
        let detail = runtime_error(&runtime_log).unwrap_or_else(|| status.to_string());
        return Err(format!("{} create: {detail}", args.runtime.display()));
    }
    let pid = std::fs::read_to_string(&args.pid_file)
        .map_err(|e| format!("reading {}: {e}", args.pid_file.display()))?;
    let pid = pid
        .trim()
        .parse()
        .map_err(|e| format!("pid {pid:?}: {e}"))?;
    Ok((pid, [out_r, err_r], stdin_keep))
}

/// The last error the runtime logged (runc and crun write JSON lines with `msg`).
pub fn runtime_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let level = value
            .get("level")
            .and_then(|l| l.as_str())
            .unwrap_or("error");
        (level == "error" || level == "fatal")
            .then(|| {
                value
                    .get("msg")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .flatten()
    })
}

fn spawn_reader(
    stream: Stream,
    mut pipe: std::io::PipeReader,
    sink: Arc<Mutex<LogSink>>,
    done: mpsc::Sender<()>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(format!("{stream}"))
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let mut buffer = vec![0u8; 32 * 1024];
            loop {
                match pipe.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().write(stream, now(), &buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = done.send(());
        })
        .map(drop)
        .map_err(|e| format!("starting the {stream} reader: {e}"))
}

/// Answers commands on the control socket, one per connection: `reopen`.
fn spawn_control(listener: UnixListener, sink: Arc<Mutex<LogSink>>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("control".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            for connection in listener.incoming() {
                let Ok(connection) = connection else { continue };
                let _ = connection.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                let mut reader = BufReader::new(&connection);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let answer = match line.trim() {
                    "reopen" => match sink.lock().reopen() {
                        Ok(()) => "ok\n".to_string(),
                        Err(e) => format!("error {e}\n"),
                    },
                    other => format!("error unknown command {other:?}\n"),
                };
                let _ = (&connection).write_all(answer.as_bytes());
            }
        })
        .map(drop)
        .map_err(|e| format!("starting the control thread: {e}"))
}

/// Waits for the container's init and returns its exit code (128 + signal when killed),
/// reaping every other orphan that comes our way.
fn wait_for(pid: u32) -> i32 {
    let target = nix::unistd::Pid::from_raw(pid as i32);
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p == target => return code,
            Ok(WaitStatus::Signaled(p, signal, _)) if p == target => return 128 + signal as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                // Not our child (never re-parented to us): watch it from outside.
                while Path::new(&format!("/proc/{pid}")).exists() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                return 255;
            }
        }
    }
}
