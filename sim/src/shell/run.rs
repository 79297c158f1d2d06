//! The interpreter: runs compiled code in virtual time.
//!
//! A process is a stack of frames, one per shell (the top-level command, each `sh -c` and each
//! `( )` subshell). A frame is a program counter into its code plus the shell's variables, its
//! loops and its redirections, so the process can stop at any instruction (a `sleep`) and
//! resume there when the caller's clock reaches the end of the sleep.

use super::ast::SimpleCommand;
use super::builtins::{self, Effect};
use super::compile::{Code, Instr};
use super::expand;
use super::frame::{Fds, Frame, LoopState, redirect};
use super::invoke::{Mode, ShellArgs, basename, is_shell, shell_args};
use super::{
    FileSource, MAX_STEPS_AT_ONE_INSTANT, MAX_STEPS_PER_CALL, Output, ParsedScript, Program,
    RunState, Stream, SyntaxError,
};
use std::sync::Arc;
use std::time::Duration;

/// How deep `sh -c 'sh -c ...'` and subshells may nest.
const MAX_FRAMES: usize = 64;

/// How many [`MAX_STEPS_PER_CALL`] rounds [`Process::run_to_end`] makes at most.
const MAX_ROUNDS_TO_END: usize = 100;

/// A running (or ended) fake process.
#[derive(Debug)]
pub struct Process {
    frames: Vec<Frame>,
    /// The virtual offset the interpreter has reached.
    clock: Duration,
    wait: Wait,
    /// Whether the command being waited for is one whose status a condition tests.
    wait_tested: bool,
    exited: Option<(i32, Duration)>,
    stdin_open: bool,
    script: Option<Arc<ParsedScript>>,
    /// Steps taken at the offset `idle_at`, to notice a process spinning without time passing.
    idle_at: Duration,
    idle_steps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Ready,
    Until(Duration),
    Forever,
}

impl Process {
    pub(super) fn new(program: &Program) -> Process {
        let top = Frame {
            code: Arc::clone(&program.boot),
            pc: 0,
            name: "sh".to_owned(),
            vars: program.env.clone(),
            exports: program.env.keys().cloned().collect(),
            arg0: "sh".to_owned(),
            args: Vec::new(),
            status: 0,
            loops: Vec::new(),
            fds: vec![Fds {
                out: Some(Stream::Stdout),
                err: Some(Stream::Stderr),
            }],
            errexit: false,
            xtrace: false,
            exec_pending: false,
            parent_tested: false,
        };
        Process {
            frames: vec![top],
            clock: Duration::ZERO,
            wait: Wait::Ready,
            wait_tested: false,
            exited: None,
            stdin_open: program.stdin_open,
            script: program.script.clone(),
            idle_at: Duration::ZERO,
            idle_steps: 0,
        }
    }

    /// Runs the process up to `offset` from its start, handing each output chunk to `out` with
    /// the offset it was written at. Calling again with a later offset continues where it left
    /// off; an earlier offset does nothing. At most [`MAX_STEPS_PER_CALL`] steps are taken: when
    /// the limit cuts a call short, the state is `Running` with `wake_at` at or before `offset`.
    pub fn run_until(
        &mut self,
        offset: Duration,
        files: &dyn FileSource,
        out: &mut dyn FnMut(Output),
    ) -> RunState {
        let mut steps = 0;
        loop {
            if let Some((code, at)) = self.exited {
                return RunState::Exited { code, at };
            }
            match self.wait {
                Wait::Forever => return RunState::Running { wake_at: None },
                Wait::Until(at) if at > offset => return RunState::Running { wake_at: Some(at) },
                Wait::Until(at) => {
                    self.clock = at;
                    self.wait = Wait::Ready;
                    self.finish(0, self.wait_tested);
                    continue;
                }
                Wait::Ready => {}
            }
            if self.clock > offset || steps >= MAX_STEPS_PER_CALL {
                return RunState::Running {
                    wake_at: Some(self.clock),
                };
            }
            steps += 1;
            if self.idle_at != self.clock {
                self.idle_at = self.clock;
                self.idle_steps = 0;
            }
            self.idle_steps += 1;
            if self.idle_steps > MAX_STEPS_AT_ONE_INSTANT {
                self.wait = Wait::Forever;
                continue;
            }
            self.step(files, out);
        }
    }

    /// Runs the process until it exits, blocks forever, or would pass `limit` (as for an exec
    /// with a timeout). A process still busy at one instant after a hundred rounds of
    /// [`MAX_STEPS_PER_CALL`] steps is returned as `Running` with `wake_at` at or before `limit`.
    pub fn run_to_end(
        &mut self,
        files: &dyn FileSource,
        out: &mut dyn FnMut(Output),
        limit: Duration,
    ) -> RunState {
        let mut rounds = 1;
        loop {
            let state = self.run_until(limit, files, out);
            match state {
                RunState::Running { wake_at: Some(at) }
                    if at <= limit && rounds < MAX_ROUNDS_TO_END =>
                {
                    rounds += 1;
                }
                _ => return state,
            }
        }
    }

    /// The process's state as of the last run.
    pub fn state(&self) -> RunState {
        match (self.exited, self.wait) {
            (Some((code, at)), _) => RunState::Exited { code, at },
            (None, Wait::Forever) => RunState::Running { wake_at: None },
            (None, Wait::Until(at)) => RunState::Running { wake_at: Some(at) },
            (None, Wait::Ready) => RunState::Running {
                wake_at: Some(self.clock),
            },
        }
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a live process has a frame")
    }

    fn emit(&self, sink: Option<Stream>, bytes: Vec<u8>, out: &mut dyn FnMut(Output)) {
        if let Some(stream) = sink
            && !bytes.is_empty()
        {
            out(Output {
                at: self.clock,
                stream,
                bytes,
            });
        }
    }

    /// A command ended with `status`: `$?`, then `exec` and `set -e` may end the shell.
    fn finish(&mut self, status: i32, tested: bool) {
        let frame = self.frame();
        frame.status = status;
        if frame.exec_pending || (frame.errexit && status != 0 && !tested) {
            self.return_frame(status);
        }
    }

    /// Ends the current shell with `status`.
    fn return_frame(&mut self, status: i32) {
        let frame = self.frames.pop().expect("a live process has a frame");
        if self.frames.is_empty() {
            self.exited = Some((status & 0xff, self.clock));
        } else {
            self.finish(status, frame.parent_tested);
        }
    }

    fn step(&mut self, files: &dyn FileSource, out: &mut dyn FnMut(Output)) {
        let clock = self.clock;
        let frame = self.frame();
        let code = Arc::clone(&frame.code);
        let Some(instr) = code.instrs.get(frame.pc) else {
            let status = frame.status;
            return self.return_frame(status);
        };
        frame.pc += 1;
        match instr {
            Instr::Simple { command, tested } => self.simple(command, *tested, files, out),
            Instr::Negate => frame.status = i32::from(frame.status == 0),
            Instr::JumpIfFail(target) if frame.status != 0 => frame.pc = *target,
            Instr::JumpIfOk(target) if frame.status == 0 => frame.pc = *target,
            Instr::JumpIfFail(_) | Instr::JumpIfOk(_) => {}
            Instr::Jump(target) => frame.pc = *target,
            Instr::SetStatus(status) => frame.status = *status,
            Instr::PushRedirects(redirects) => {
                let fds = redirect(frame.fds(), redirects, &frame.scope());
                frame.fds.push(fds);
            }
            Instr::PopRedirects => {
                if frame.fds.len() > 1 {
                    frame.fds.pop();
                }
            }
            Instr::Subshell { after, tested } => {
                let mut child = frame.clone();
                child.loops.clear();
                child.fds = vec![frame.fds()];
                child.exec_pending = false;
                child.parent_tested = *tested;
                frame.pc = *after;
                self.push_frame(child, out);
            }
            Instr::Return => {
                let status = frame.status;
                self.return_frame(status);
            }
            Instr::LoopEnter | Instr::ForEnter(_) => {
                let items = match instr {
                    Instr::ForEnter(Some(words)) => {
                        let scope = frame.scope();
                        Some(
                            words
                                .iter()
                                .flat_map(|w| expand::fields(w, &scope))
                                .collect(),
                        )
                    }
                    Instr::ForEnter(None) => Some(frame.args.clone()),
                    _ => None,
                };
                let fd_depth = frame.fds.len();
                frame.loops.push(LoopState {
                    items,
                    next: 0,
                    status: 0,
                    seen: None,
                    fd_depth,
                });
            }
            Instr::LoopCheck => {
                let snapshot = (clock, frame.state_hash());
                let state = frame.loops.last_mut().expect("LoopCheck inside a loop");
                if state.seen == Some(snapshot) {
                    // An iteration took no time and changed nothing: it repeats forever.
                    self.wait = Wait::Forever;
                } else {
                    state.seen = Some(snapshot);
                }
            }
            Instr::ForNext { var, exit } => {
                let state = frame.loops.last_mut().expect("ForNext inside a loop");
                let items = state.items.as_deref().unwrap_or_default();
                match items.get(state.next).cloned() {
                    Some(item) => {
                        state.next += 1;
                        frame.set_var(var, item);
                    }
                    None => frame.pc = *exit,
                }
            }
            Instr::LoopSaveStatus => {
                let status = frame.status;
                frame.loops.last_mut().expect("inside a loop").status = status;
            }
            Instr::LoopExit => {
                let state = frame.loops.pop().expect("LoopExit inside a loop");
                frame.status = state.status;
                frame.fds.truncate(state.fd_depth.max(1));
            }
            Instr::Break { unwind, target } | Instr::Continue { unwind, target } => {
                let new_len = frame.loops.len().saturating_sub(*unwind);
                frame.loops.truncate(new_len);
                if let Some(state) = frame.loops.last_mut() {
                    frame.fds.truncate(state.fd_depth.max(1));
                    if matches!(instr, Instr::Break { .. }) {
                        state.status = 0;
                    }
                }
                frame.status = 0;
                frame.pc = *target;
            }
        }
    }

    fn push_frame(&mut self, frame: Frame, out: &mut dyn FnMut(Output)) {
        if self.frames.len() >= MAX_FRAMES {
            let message = format!("{}: too many nested shells\n", frame.name);
            self.emit(
                self.frames[self.frames.len() - 1].fds().err,
                message.into_bytes(),
                out,
            );
            self.finish(2, frame.parent_tested);
        } else {
            self.frames.push(frame);
        }
    }

    fn simple(
        &mut self,
        command: &SimpleCommand,
        tested: bool,
        files: &dyn FileSource,
        out: &mut dyn FnMut(Output),
    ) {
        let frame = self.frame();
        let scope = frame.scope();
        let argv: Vec<String> = command
            .words
            .iter()
            .flat_map(|word| expand::fields(word, &scope))
            .collect();
        let assigns: Vec<(String, String)> = command
            .assigns
            .iter()
            .map(|(name, word)| (name.clone(), expand::single(word, &scope)))
            .collect();
        let fds = redirect(frame.fds(), &command.redirects, &scope);
        let trace = frame.xtrace.then(|| {
            let words: Vec<String> = assigns
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .chain(argv.iter().cloned())
                .collect();
            (frame.fds().err, format!("+ {}\n", words.join(" ")))
        });
        if let Some((sink, line)) = trace {
            self.emit(sink, line.into_bytes(), out);
        }
        if argv.is_empty() {
            let frame = self.frame();
            for (name, value) in assigns {
                frame.set_var(&name, value);
            }
            return self.finish(0, tested);
        }
        self.dispatch(&argv, fds, assigns, tested, files, out);
    }

    fn dispatch(
        &mut self,
        argv: &[String],
        fds: Fds,
        assigns: Vec<(String, String)>,
        tested: bool,
        files: &dyn FileSource,
        out: &mut dyn FnMut(Output),
    ) {
        let name = basename(&argv[0]);
        let args = &argv[1..];
        match name {
            "exec" if args.is_empty() => {
                *self.frame().fds.last_mut().expect("base redirections") = fds;
                self.finish(0, tested);
            }
            "exec" | "busybox" if !args.is_empty() => {
                self.frame().exec_pending |= name == "exec";
                self.dispatch(args, fds, assigns, tested, files, out);
            }
            "env" => {
                let settings = args.iter().take_while(|a| a.contains('=')).count();
                let mut assigns = assigns;
                assigns.extend(args[..settings].iter().filter_map(|a| {
                    let (var, value) = a.split_once('=')?;
                    Some((var.to_owned(), value.to_owned()))
                }));
                if settings == args.len() {
                    // Without a command, `env` lists the environment.
                    let mut env = self.frame().exported();
                    env.extend(assigns);
                    let listing: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                    self.emit(fds.out, listing.into_bytes(), out);
                    return self.finish(0, tested);
                }
                self.dispatch(&args[settings..], fds, assigns, tested, files, out);
            }
            "exit" => {
                let frame = self.frame();
                let status = match args.first() {
                    None => frame.status,
                    Some(arg) => match arg.parse::<i64>() {
                        Ok(code) => (code & 0xff) as i32,
                        Err(_) => {
                            let message = format!("{}: exit: Illegal number: {arg}\n", frame.name);
                            self.emit(fds.err, message.into_bytes(), out);
                            2
                        }
                    },
                };
                self.return_frame(status);
            }
            "set" => self.set(args, fds, tested, out),
            "export" | "readonly" | "unset" | "shift" => {
                self.variables(name, args, fds, tested, out)
            }
            "read" if self.stdin_open => self.wait = Wait::Forever,
            "read" => self.finish(1, tested),
            "cd" | "trap" | "wait" | "umask" | "ulimit" | "break" | "continue" => {
                self.finish(0, tested)
            }
            _ if is_shell(name) => self.start_shell(name, args, fds, assigns, tested, files, out),
            _ => {
                let outcome = builtins::run(name, args, files, self.stdin_open);
                for (fd, bytes) in outcome.writes {
                    self.emit(fds.sink(fd), bytes, out);
                }
                match outcome.effect {
                    Effect::Done(status) => self.finish(status, tested),
                    Effect::Sleep(duration) if duration.is_zero() => self.finish(0, tested),
                    Effect::Sleep(duration) => {
                        self.wait = self
                            .clock
                            .checked_add(duration)
                            .map_or(Wait::Forever, Wait::Until);
                        self.wait_tested = tested;
                    }
                    Effect::Forever => self.wait = Wait::Forever,
                }
            }
        }
    }

    /// `set [-ex] [+ex] [-o option] [-- args...]`; without arguments, lists the variables.
    fn set(&mut self, args: &[String], fds: Fds, tested: bool, out: &mut dyn FnMut(Output)) {
        if let Some(listing) = self.frame().set(args) {
            self.emit(fds.out, listing.into_bytes(), out);
        }
        self.finish(0, tested);
    }

    /// `export`, `readonly`, `unset` and `shift`.
    fn variables(
        &mut self,
        name: &str,
        args: &[String],
        fds: Fds,
        tested: bool,
        out: &mut dyn FnMut(Output),
    ) {
        let status = match self.frame().variables(name, args) {
            Ok(()) => 0,
            Err(message) => {
                self.emit(fds.err, message.into_bytes(), out);
                1
            }
        };
        self.finish(status, tested);
    }

    /// `sh`/`bash` with their arguments: a new frame running the script, or an error.
    #[allow(clippy::too_many_arguments)]
    fn start_shell(
        &mut self,
        name: &str,
        args: &[String],
        fds: Fds,
        assigns: Vec<(String, String)>,
        tested: bool,
        files: &dyn FileSource,
        out: &mut dyn FnMut(Output),
    ) {
        let ShellArgs {
            errexit,
            xtrace,
            mode,
        } = shell_args(args);
        let fail =
            |this: &mut Process, message: String, status: i32, out: &mut dyn FnMut(Output)| {
                this.emit(fds.err, format!("{name}: {message}\n").into_bytes(), out);
                this.finish(status, tested);
            };
        let (code, arg0, positional) = match mode {
            Mode::MissingScript => return fail(self, "-c requires an argument".into(), 2, out),
            Mode::Stdin if self.stdin_open => {
                self.wait = Wait::Forever;
                return;
            }
            Mode::Stdin => return self.finish(0, tested),
            Mode::Command { script, arg0, args } => {
                let cached = self
                    .script
                    .as_ref()
                    .filter(|parsed| parsed.source == script);
                let code = match cached {
                    Some(parsed) => parsed.code.clone(),
                    None => compile_script(script),
                };
                (code, arg0.unwrap_or(name), args)
            }
            Mode::File { path, args } => match files.read(path) {
                Some(bytes) => (compile_script(&String::from_utf8_lossy(&bytes)), path, args),
                None => {
                    let message = format!("can't open '{path}': No such file or directory");
                    return fail(self, message, 127, out);
                }
            },
        };
        let code = match code {
            Ok(code) => code,
            Err(error) => return fail(self, format!("syntax error: {error}"), 2, out),
        };
        let parent = self.frame();
        let mut vars = parent.exported();
        let mut exports = parent.exports.clone();
        for (var, value) in assigns {
            vars.insert(var.clone(), value);
            exports.insert(var);
        }
        let child = Frame {
            code,
            pc: 0,
            name: name.to_owned(),
            vars,
            exports,
            arg0: arg0.to_owned(),
            args: positional.to_vec(),
            status: 0,
            loops: Vec::new(),
            fds: vec![fds],
            errexit,
            xtrace,
            exec_pending: false,
            parent_tested: tested,
        };
        self.push_frame(child, out);
    }
}

fn compile_script(source: &str) -> Result<Arc<Code>, SyntaxError> {
    super::parse::parse_script(source).map(|list| Arc::new(super::compile::compile(&list)))
}
