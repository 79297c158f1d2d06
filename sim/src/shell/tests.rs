//! Behaviour of whole programs, driven through the public API.

use super::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Runs `args` until `until` (at most), returning its output chunks and final state.
fn run_files(args: &[&str], until: Duration, files: &dyn FileSource) -> (Vec<Output>, RunState) {
    let mut outputs = Vec::new();
    let mut process = Program::parse(&argv(args), false).start();
    let state = process.run_to_end(files, &mut |o| outputs.push(o), until);
    (outputs, state)
}

fn run(args: &[&str], until: Duration) -> (Vec<Output>, RunState) {
    run_files(args, until, &NoFiles)
}

/// Runs `sh -c script` for up to an hour: (stdout, stderr, state).
fn sh(script: &str) -> (String, String, RunState) {
    let (outputs, state) = run(&["/bin/sh", "-c", script], secs(3600.0));
    (
        text(&outputs, Stream::Stdout),
        text(&outputs, Stream::Stderr),
        state,
    )
}

fn text(outputs: &[Output], stream: Stream) -> String {
    outputs
        .iter()
        .filter(|o| o.stream == stream)
        .map(|o| String::from_utf8_lossy(&o.bytes).into_owned())
        .collect()
}

fn exited(code: i32, at: f64) -> RunState {
    RunState::Exited { code, at: secs(at) }
}

const FOREVER: RunState = RunState::Running { wake_at: None };

#[test]
fn plain_argv_commands() {
    assert_eq!(run(&["sleep", "3600"], secs(4000.0)).1, exited(0, 3600.0));
    assert_eq!(
        run(&["/usr/bin/sleep", "1.5"], secs(10.0)).1,
        exited(0, 1.5)
    );
    assert_eq!(
        run(&["sleep", "2m"], secs(100.0)).1,
        RunState::Running {
            wake_at: Some(secs(120.0))
        }
    );
    assert_eq!(run(&["sleep", "infinity"], secs(1e6)).1, FOREVER);
    let (outputs, state) = run(&["echo", "hello", "world"], secs(1.0));
    assert_eq!(state, exited(0, 0.0));
    assert_eq!(
        outputs,
        vec![Output {
            at: Duration::ZERO,
            stream: Stream::Stdout,
            bytes: b"hello world\n".to_vec()
        }]
    );
    assert_eq!(run(&["false"], secs(1.0)).1, exited(1, 0.0));
    assert_eq!(run(&["true"], secs(1.0)).1, exited(0, 0.0));
    assert_eq!(
        run(&["/bin/printf", "%s|", "a", "b"], secs(1.0)).0[0].bytes,
        b"a|b|"
    );
}

#[test]
fn unknown_commands_run_until_stopped() {
    assert_eq!(
        run(&["/usr/sbin/nginx", "-g", "daemon off;"], secs(1e6)).1,
        FOREVER
    );
    assert_eq!(
        sh("echo start; pause; echo never"),
        ("start\n".into(), String::new(), FOREVER)
    );
}

#[test]
fn bare_shell_waits_only_when_stdin_is_open() {
    let program = Program::parse(&argv(&["/bin/sh"]), false);
    assert_eq!(
        program.start().run_until(secs(5.0), &NoFiles, &mut |_| {}),
        exited(0, 0.0)
    );
    let program = Program::parse(&argv(&["bash"]), true);
    assert_eq!(
        program.start().run_until(secs(5.0), &NoFiles, &mut |_| {}),
        FOREVER
    );
    let cat = Program::parse(&argv(&["cat"]), true);
    assert_eq!(
        cat.start().run_until(secs(5.0), &NoFiles, &mut |_| {}),
        FOREVER
    );
    assert_eq!(sh("read line; echo $?").0, "1\n");
}

#[test]
fn chains_follow_exit_statuses() {
    assert_eq!(sh("echo a; echo b").0, "a\nb\n");
    assert_eq!(sh("true && echo yes").0, "yes\n");
    assert_eq!(sh("false && echo no").0, "");
    assert_eq!(sh("false || echo yes").0, "yes\n");
    assert_eq!(sh("true || echo no").0, "");
    assert_eq!(sh("false && echo no || echo yes").0, "yes\n");
    assert_eq!(
        sh("true && false || echo rescued; echo $?").0,
        "rescued\n0\n"
    );
    assert_eq!(sh("! false && echo negated").0, "negated\n");
    assert_eq!(sh("false; echo $?; true; echo $?").0, "1\n0\n");
    assert_eq!(sh("echo a &&\n echo b").0, "a\nb\n");
}

#[test]
fn exit_status_is_the_last_command_or_exit() {
    assert_eq!(sh("true; false").2, exited(1, 0.0));
    assert_eq!(sh("false; true").2, exited(0, 0.0));
    assert_eq!(sh("echo hi; sleep 2 && exit 3").2, exited(3, 2.0));
    assert_eq!(
        sh("exit 3; echo never"),
        (String::new(), String::new(), exited(3, 0.0))
    );
    assert_eq!(sh("false; exit").2, exited(1, 0.0));
    assert_eq!(sh("exit 257").2, exited(1, 0.0));
    let (_, err, state) = sh("exit x");
    assert_eq!(
        (err.as_str(), state),
        ("sh: exit: Illegal number: x\n", exited(2, 0.0))
    );
    assert_eq!(sh("").2, exited(0, 0.0));
}

#[test]
fn quoting() {
    assert!(sh("echo 'a  b' \"c  $((\"").1.contains("syntax error"));
    assert_eq!(sh("echo 'a  b' \"c  d\" e\\ \\ f").0, "a  b c  d e  f\n");
    assert_eq!(
        sh(r#"echo '$HOME' "it's" 'say "hi"' \$x \\"#).0,
        "$HOME it's say \"hi\" $x \\\n"
    );
    assert_eq!(sh("X='1  2'; echo $X; echo \"$X\"").0, "1 2\n1  2\n");
    assert_eq!(sh("echo a # comment\n# whole line\necho b#c").0, "a\nb#c\n");
    assert_eq!(
        sh("echo \"\" '' | x").1,
        "sh: syntax error: pipelines ('|') are not supported\n"
    );
}

#[test]
fn redirections_pick_the_stream() {
    assert_eq!(
        sh("echo out; echo err >&2; echo err2 1>&2"),
        ("out\n".into(), "err\nerr2\n".into(), exited(0, 0.0))
    );
    assert_eq!(
        sh("cat /missing 2>&1").0,
        "cat: can't open '/missing': No such file or directory\n"
    );
    assert_eq!(
        sh("echo gone >/dev/null; cat /missing 2>/dev/null; echo $?").0,
        "1\n"
    );
    assert_eq!(sh("{ echo a; echo b; } >&2; echo c").1, "a\nb\n");
    assert_eq!(sh("for i in 1 2; do echo $i; done >&2").1, "1\n2\n");
    assert_eq!(sh("exec >&2; echo moved").1, "moved\n");
    assert_eq!(sh("echo x >/tmp/file").0, "");
}

#[test]
fn commands() {
    assert_eq!(sh("echo -n a; echo -e 'b\\tc\\nd\\\\'").0, "ab\tc\nd\\\n");
    assert_eq!(sh("printf '%s=%d%%\\n' a 1 b 2").0, "a=1%\nb=2%\n");
    assert_eq!(sh(": ; true; echo $?").0, "0\n");
    assert_eq!(sh("[ 3 -gt 2 ] && echo bigger").0, "bigger\n");
    assert_eq!(sh("test -z \"$UNSET\" && echo empty").0, "empty\n");
    assert_eq!(
        sh("sleep x; echo $?"),
        (
            "1\n".into(),
            "sleep: invalid number 'x'\n".into(),
            exited(0, 0.0)
        )
    );
}

#[test]
fn cat_reads_through_the_file_source() {
    let files = BTreeMap::from([("/etc/hostname".to_owned(), b"node-1\n".to_vec())]);
    let (outputs, state) = run_files(&["cat", "/etc/hostname"], secs(1.0), &files);
    assert_eq!(
        (text(&outputs, Stream::Stdout).as_str(), state),
        ("node-1\n", exited(0, 0.0))
    );
    let (outputs, state) = run_files(&["cat", "/nope"], secs(1.0), &files);
    assert_eq!(
        text(&outputs, Stream::Stderr),
        "cat: can't open '/nope': No such file or directory\n"
    );
    assert_eq!(state, exited(1, 0.0));
    let closure = |path: &str| (path == "/x").then(|| b"X".to_vec());
    let (outputs, _) = run_files(&["sh", "-c", "test -f /x && cat /x"], secs(1.0), &closure);
    assert_eq!(text(&outputs, Stream::Stdout), "X");
}

#[test]
fn output_happens_at_its_virtual_offset() {
    let (outputs, state) = run(
        &[
            "sh",
            "-c",
            "echo a; sleep 1.5; echo b >&2; sleep 0.5; echo c",
        ],
        secs(10.0),
    );
    let stamps: Vec<(Duration, Stream)> = outputs.iter().map(|o| (o.at, o.stream)).collect();
    assert_eq!(
        stamps,
        vec![
            (secs(0.0), Stream::Stdout),
            (secs(1.5), Stream::Stderr),
            (secs(2.0), Stream::Stdout)
        ]
    );
    assert_eq!(state, exited(0, 2.0));
}

#[test]
fn sleeping_loop_advances_step_by_step() {
    let program = Program::parse(
        &argv(&["sh", "-c", "while true; do echo x; sleep 1; done"]),
        false,
    );
    let mut process = program.start();
    let mut outputs = Vec::new();
    let mut state = process.run_until(secs(2.5), &NoFiles, &mut |o| outputs.push(o));
    assert_eq!(
        state,
        RunState::Running {
            wake_at: Some(secs(3.0))
        }
    );
    let at: Vec<Duration> = outputs.iter().map(|o| o.at).collect();
    assert_eq!(at, [secs(0.0), secs(1.0), secs(2.0)]);
    // An earlier offset does nothing.
    assert_eq!(
        process.run_until(secs(1.0), &NoFiles, &mut |o| outputs.push(o)),
        state
    );
    assert_eq!(outputs.len(), 3);
    for (call, until) in [3.0, 3.0, 7.2, 100.0].into_iter().enumerate() {
        state = process.run_until(secs(until), &NoFiles, &mut |o| outputs.push(o));
        assert_eq!(
            state,
            RunState::Running {
                wake_at: Some(secs(until.floor() + 1.0))
            },
            "call {call}"
        );
    }
    assert_eq!(outputs.len(), 101);
    assert!(
        outputs
            .iter()
            .enumerate()
            .all(|(i, o)| o.at == secs(i as f64) && o.bytes == b"x\n")
    );
    assert_eq!(process.state(), state);
}

#[test]
fn zero_time_infinite_loops_block_instead_of_hanging() {
    let (out, _, state) = sh("while true; do echo x; done");
    assert_eq!(state, FOREVER);
    assert!(!out.is_empty() && out.len() <= 4, "{out:?}");
    assert_eq!(sh("while :; do :; done").2, FOREVER);
    assert_eq!(sh("false; until false; do true; done").2, FOREVER);
    let (out, _, state) = sh("while true; do for i in a b; do echo $i; done; done");
    assert_eq!(state, FOREVER);
    assert!(out.len() <= 8, "{out:?}");
    // Doubling a variable reaches the length limit, after which nothing changes.
    assert_eq!(sh("X=x; while :; do X=$X$X; done").2, FOREVER);
    // A loop whose state keeps changing is stopped by the step budget instead.
    let (_, _, state) = sh("while true; do X=$X.; done");
    assert_eq!(state, FOREVER);
}

#[test]
fn processes_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Program>();
    assert_send_sync::<Process>();
}

#[test]
fn step_budget_bounds_each_call() {
    let program = Program::parse(&argv(&["sh", "-c", "while true; do X=$X.; done"]), false);
    let mut process = program.start();
    let state = process.run_until(secs(1.0), &NoFiles, &mut |_| {});
    assert_eq!(
        state,
        RunState::Running {
            wake_at: Some(Duration::ZERO)
        }
    );
}

#[test]
fn loops_and_conditionals() {
    assert_eq!(
        sh("for i in a b 'c d'; do echo \"<$i>\"; done").0,
        "<a>\n<b>\n<c d>\n"
    );
    assert_eq!(sh("L='1 2 3'; for n in $L; do printf $n; done").0, "123");
    assert_eq!(
        sh("for i in 1 2 3; do if [ $i = 2 ]; then continue; fi; echo $i; done").0,
        "1\n3\n"
    );
    assert_eq!(
        sh("while true; do echo once; break; done; echo after").0,
        "once\nafter\n"
    );
    assert_eq!(
        sh("for i in 1 2; do for j in a b; do echo $i$j; break 2; done; done").0,
        "1a\n"
    );
    assert_eq!(
        sh("if false; then echo a; elif true; then echo b; else echo c; fi").0,
        "b\n"
    );
    assert_eq!(sh("if false; then echo a; fi; echo $?").0, "0\n");
    assert_eq!(sh("for i in; do echo never; done; echo done").0, "done\n");
    assert_eq!(
        sh("n=; until [ \"$n\" = xxx ]; do n=x$n; done; echo $n").0,
        "xxx\n"
    );
    assert_eq!(
        sh("for i in 1 2; do sleep 1; echo $i; done").2,
        exited(0, 2.0)
    );
}

#[test]
fn variables_and_parameters() {
    let (outputs, _) = run(
        &[
            "sh",
            "-c",
            "echo $0 $# $1 \"$2\"; for a; do echo [$a]; done",
            "me",
            "x",
            "y z",
        ],
        secs(1.0),
    );
    assert_eq!(text(&outputs, Stream::Stdout), "me 2 x y z\n[x]\n[y z]\n");
    assert_eq!(
        sh("A=1; B=\"$A$A\"; echo $B ${C:-default} ${A:-unused}").0,
        "11 default 1\n"
    );
    let program = Program::parse(
        &argv(&["sh", "-c", "echo $GREETING; sh -c 'echo $GREETING $LOCAL'"]),
        false,
    )
    .with_env([("GREETING", "hi")]);
    let mut outputs = Vec::new();
    program
        .start()
        .run_to_end(&NoFiles, &mut |o| outputs.push(o), secs(1.0));
    assert_eq!(text(&outputs, Stream::Stdout), "hi\nhi\n");
    assert_eq!(
        sh("LOCAL=1; export E=2; sh -c 'echo [$LOCAL] [$E]'").0,
        "[] [2]\n"
    );
    assert_eq!(sh("V=1 sh -c 'echo $V'; echo [$V]").0, "1\n[]\n");
    assert_eq!(sh("set -- a b c; shift; echo $@").0, "b c\n");
}

#[test]
fn nested_shells_subshells_and_exec() {
    assert_eq!(sh("sh -c 'echo inner; exit 4'; echo $?").0, "inner\n4\n");
    assert_eq!(sh("(echo sub; exit 5); echo $?").0, "sub\n5\n");
    assert_eq!(
        sh("exec sleep 2; echo never"),
        (String::new(), String::new(), exited(0, 2.0))
    );
    assert_eq!(sh("exec sh -c 'exit 6'").2, exited(6, 0.0));
    assert_eq!(sh("bash -c 'sleep 1; echo $0' named").0, "named\n");
    let files = BTreeMap::from([("/run.sh".to_owned(), b"echo script $1\nexit 9\n".to_vec())]);
    let (outputs, state) = run_files(&["sh", "/run.sh", "arg"], secs(1.0), &files);
    assert_eq!(
        (text(&outputs, Stream::Stdout).as_str(), state),
        ("script arg\n", exited(9, 0.0))
    );
    let (outputs, state) = run(&["sh", "/missing.sh"], secs(1.0));
    assert_eq!(
        text(&outputs, Stream::Stderr),
        "sh: can't open '/missing.sh': No such file or directory\n"
    );
    assert_eq!(state, exited(127, 0.0));
    assert_eq!(sh("sh -c").2, exited(2, 0.0));
}

#[test]
fn errexit_and_xtrace() {
    assert_eq!(
        sh("set -e; echo a; false; echo b"),
        ("a\n".into(), String::new(), exited(1, 0.0))
    );
    assert_eq!(
        sh("set -e; false || true; if false; then :; fi; ! true; echo alive").0,
        "alive\n"
    );
    assert_eq!(
        run(&["sh", "-ec", "false; echo no"], secs(1.0)).1,
        exited(1, 0.0)
    );
    assert_eq!(sh("set -x; echo hi").1, "+ echo hi\n");
}

#[test]
fn syntax_errors_exit_2() {
    for script in [
        "while true; do echo",
        "echo 'open",
        "if; then fi",
        "echo $(date)",
        "a | b",
        "done",
    ] {
        let (out, err, state) = sh(script);
        assert_eq!(out, "", "{script}");
        assert!(err.starts_with("sh: syntax error: "), "{script}: {err}");
        assert_eq!(state, exited(2, 0.0), "{script}");
        let program = Program::parse(&argv(&["sh", "-c", script]), false);
        assert!(program.syntax_error().is_some(), "{script}");
    }
    let (err, _) = run(&["bash", "-c", "fi"], secs(1.0));
    assert_eq!(
        text(&err, Stream::Stderr),
        "bash: syntax error: unexpected 'fi'\n"
    );
    assert_eq!(
        Program::parse(&argv(&["sh", "-c", "echo ok"]), false).syntax_error(),
        None
    );
    assert_eq!(sh("sh -c 'echo (' ; echo $?").0, "2\n");
}

#[test]
fn restarts_begin_again() {
    let program = Program::parse(&argv(&["sh", "-c", "echo up; sleep 5; exit 1"]), false);
    for _ in 0..2 {
        let mut outputs = Vec::new();
        let state = program
            .start()
            .run_to_end(&NoFiles, &mut |o| outputs.push(o), secs(60.0));
        assert_eq!((outputs.len(), state), (1, exited(1, 5.0)));
    }
    assert_eq!(program.argv(), ["sh", "-c", "echo up; sleep 5; exit 1"]);
}

#[test]
fn run_to_end_stops_at_the_limit() {
    let program = Program::parse(&argv(&["sh", "-c", "echo a; sleep 10; echo b"]), false);
    let mut process = program.start();
    let mut outputs = Vec::new();
    let state = process.run_to_end(&NoFiles, &mut |o| outputs.push(o), secs(5.0));
    assert_eq!(
        (outputs.len(), state),
        (
            1,
            RunState::Running {
                wake_at: Some(secs(10.0))
            }
        )
    );
    let state = process.run_to_end(&NoFiles, &mut |o| outputs.push(o), secs(10.0));
    assert_eq!((outputs.len(), state), (2, exited(0, 10.0)));
}
