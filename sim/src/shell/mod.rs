//! The fake command interpreter: what a simulated container's process does.
//!
//! A container's command (kubelet's merge of entrypoint and command, e.g. `["sleep", "3600"]` or
//! `["/bin/sh", "-c", "echo hi; sleep 2 && exit 3"]`) runs in *virtual* time: nothing sleeps for
//! real. The caller drives a [`Process`] with offsets from its start
//! ([`Process::run_until`]) and gets its output, stamped with the offset it happened at, and its
//! state: running until some offset, blocked forever, or exited with a status.
//!
//! # What it understands
//!
//! - Commands (by basename, so `/usr/bin/sleep` is `sleep`): `sleep` (`N`, `N.M`, `Ns`, `Nm`,
//!   `Nh`, `Nd`, `infinity`), `echo [-n] [-e]`, `printf` (`%s %d %i %c %x %%` with width and
//!   precision, arguments recycled), `cat FILE...` (through a [`FileSource`]), `exit [N]`,
//!   `true`, `false`, `:`, `test`/`[`, `exec`, `set -e`/`set -x`, `export`, `unset`, `shift`,
//!   `read`, the no-ops `cd`, `trap`, `wait`, `umask`, `ulimit`, and `sh`/`bash` (`-c SCRIPT`,
//!   a script file, or standard input). Any other command runs until stopped, as a server does.
//! - Scripts: `;` and newlines, `&&`, `||`, `!`, quotes, backslashes, `#` comments,
//!   `while`/`until`, `for VAR [in WORDS]`, `if`/`elif`/`else`, `break`/`continue`, `{ }`,
//!   `( )`, `NAME=value`, `$NAME`, `${NAME:-default}`, `$?`, `$#`, `$@`, `$1`..., and the
//!   redirections `>&2`, `2>&1`, `>/dev/null` (any other file written to is discarded).
//! - Anything else (pipelines, `&`, `$(...)`, `case`, functions, here-documents) is a syntax
//!   error: the shell writes `sh: syntax error: ...` to standard error and exits 2.
//!
//! # Bounded work
//!
//! One [`Process::run_until`] call does at most [`MAX_STEPS_PER_CALL`] steps; past that it
//! reports itself running with `wake_at` equal to its current offset, and the caller calls again.
//! A loop iteration that takes no virtual time and changes nothing, or more than
//! [`MAX_STEPS_AT_ONE_INSTANT`] steps without time passing, makes the process block forever, as
//! a busy loop would seem from outside.

mod ast;
mod builtins;
mod compile;
mod expand;
mod frame;
mod invoke;
mod lex;
mod parse;
mod run;

pub use run::Process;

use compile::Code;
pub use crius::cri_log::Stream;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The most interpreter steps one [`Process::run_until`] call takes.
pub const MAX_STEPS_PER_CALL: usize = 10_000;

/// The most steps a process takes at one virtual instant before it counts as hung (blocked
/// forever).
pub const MAX_STEPS_AT_ONE_INSTANT: u64 = 50_000;

/// The files a process can read (`cat`, `test -f`, `sh FILE`): the container's root filesystem
/// and mounts, as the simulated node models them.
pub trait FileSource {
    /// The contents of the file at `path`, or `None` when there is no such file.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// A filesystem without files.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

impl FileSource for BTreeMap<String, Vec<u8>> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.get(path).cloned()
    }
}

impl FileSource for HashMap<String, Vec<u8>> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.get(path).cloned()
    }
}

impl<F: Fn(&str) -> Option<Vec<u8>>> FileSource for F {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self(path)
    }
}

/// A chunk of output, as the runtime would read it from the process's pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// When it was written, as an offset from the process's start.
    pub at: Duration,
    /// The stream it was written to.
    pub stream: Stream,
    /// What was written.
    pub bytes: Vec<u8>,
}

/// Where a process is after [`Process::run_until`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// The process has not ended.
    Running {
        /// The next offset at which it does something (wake it then), or `None` when it is
        /// blocked forever and only a stop ends it.
        wake_at: Option<Duration>,
    },
    /// The process ended.
    Exited {
        /// Its exit status, 0 to 255.
        code: i32,
        /// When it ended, as an offset from its start.
        at: Duration,
    },
}

/// A script that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError(String);

impl SyntaxError {
    fn new(message: impl Into<String>) -> SyntaxError {
        SyntaxError(message.into())
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `sh -c` script and what parsing it gave, kept so that each start does not parse again.
#[derive(Debug)]
struct ParsedScript {
    source: String,
    code: Result<Arc<Code>, SyntaxError>,
}

/// A container's command, ready to be started any number of times.
#[derive(Debug, Clone)]
pub struct Program {
    argv: Vec<String>,
    stdin_open: bool,
    env: BTreeMap<String, String>,
    boot: Arc<Code>,
    script: Option<Arc<ParsedScript>>,
}

impl Program {
    /// Prepares `argv` (entrypoint and command merged). `stdin_open` says whether the
    /// container's standard input stays open (`stdin: true` in the pod spec): then commands that
    /// read it (`sh` without a script, `cat` without files, `read`) wait forever instead of
    /// seeing end-of-file. A `sh -c` script is parsed here.
    pub fn parse(argv: &[String], stdin_open: bool) -> Program {
        let script = invoke::shell_script_of(argv).map(|source| {
            let code = parse::parse_script(&source).map(|list| Arc::new(compile::compile(&list)));
            Arc::new(ParsedScript { source, code })
        });
        Program {
            argv: argv.to_vec(),
            stdin_open,
            env: BTreeMap::new(),
            boot: Arc::new(compile::exec_argv(argv)),
            script,
        }
    }

    /// Sets the process's environment variables (the container's `env`).
    pub fn with_env<K, V>(mut self, env: impl IntoIterator<Item = (K, V)>) -> Program
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.env = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self
    }

    /// The command line.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Why the `sh -c` script does not parse, if it is one that does not.
    pub fn syntax_error(&self) -> Option<String> {
        let script = self.script.as_ref()?;
        script.code.as_ref().err().map(ToString::to_string)
    }

    /// A new process running the program from offset zero.
    pub fn start(&self) -> Process {
        Process::new(self)
    }
}

#[cfg(test)]
mod tests;
