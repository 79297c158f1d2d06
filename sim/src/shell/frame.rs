//! A shell's state: variables, positional parameters, options, loops and redirections.

use super::Stream;
use super::ast::{Redirect, RedirectOp};
use super::builtins::Fd;
use super::compile::Code;
use super::expand::{self, Scope};
use super::parse::is_name;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Where a shell's standard output and error go; `None` discards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fds {
    pub(super) out: Option<Stream>,
    pub(super) err: Option<Stream>,
}

impl Fds {
    pub(super) fn sink(self, fd: Fd) -> Option<Stream> {
        match fd {
            Fd::Out => self.out,
            Fd::Err => self.err,
        }
    }
}

/// One shell: the top-level command, a `sh -c` or a subshell.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) code: Arc<Code>,
    pub(super) pc: usize,
    /// The shell's name for its messages: `sh` or `bash`.
    pub(super) name: String,
    pub(super) vars: BTreeMap<String, String>,
    pub(super) exports: BTreeSet<String>,
    pub(super) arg0: String,
    pub(super) args: Vec<String>,
    /// `$?`
    pub(super) status: i32,
    pub(super) loops: Vec<LoopState>,
    /// The redirections in force, innermost last; never empty.
    pub(super) fds: Vec<Fds>,
    pub(super) errexit: bool,
    pub(super) xtrace: bool,
    /// Set by `exec COMMAND`: the shell ends when the command does.
    pub(super) exec_pending: bool,
    /// Whether the parent tests this shell's status (for the parent's `set -e`).
    pub(super) parent_tested: bool,
}

#[derive(Debug, Clone)]
pub(super) struct LoopState {
    /// The words of a `for` loop and the index of the next one.
    pub(super) items: Option<Vec<String>>,
    pub(super) next: usize,
    /// The loop's status so far: that of the last body run, 0 before.
    pub(super) status: i32,
    /// The clock and a hash of the shell's state at the last `LoopCheck`.
    pub(super) seen: Option<(Duration, u64)>,
    pub(super) fd_depth: usize,
}

/// Applies `redirects` to `fds`. Files other than the standard streams' own names discard what
/// is written to them: the simulated filesystem is read-only.
pub(super) fn redirect(mut fds: Fds, redirects: &[Redirect], scope: &Scope) -> Fds {
    for redirect in redirects {
        let target = expand::single(&redirect.target, scope);
        let file = |fds: Fds| match target.as_str() {
            "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => fds.out,
            "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => fds.err,
            _ => None,
        };
        let (fd, sink) = match redirect.op {
            RedirectOp::In => continue,
            RedirectOp::Out | RedirectOp::Append => (redirect.fd.unwrap_or(1), file(fds)),
            RedirectOp::OutErr => {
                let sink = file(fds);
                fds = Fds {
                    out: sink,
                    err: sink,
                };
                continue;
            }
            RedirectOp::DupOut | RedirectOp::DupIn => {
                let default = if redirect.op == RedirectOp::DupOut {
                    1
                } else {
                    0
                };
                let sink = match target.as_str() {
                    "1" => fds.out,
                    "2" => fds.err,
                    "-" => None,
                    _ if redirect.op == RedirectOp::DupOut && redirect.fd.is_none() => {
                        let sink = file(fds);
                        fds = Fds {
                            out: sink,
                            err: sink,
                        };
                        continue;
                    }
                    _ => continue,
                };
                (redirect.fd.unwrap_or(default), sink)
            }
        };
        match fd {
            1 => fds.out = sink,
            2 => fds.err = sink,
            _ => {}
        }
    }
    fds
}

impl Frame {
    pub(super) fn scope(&self) -> Scope<'_> {
        let mut flags = String::new();
        if self.errexit {
            flags.push('e');
        }
        if self.xtrace {
            flags.push('x');
        }
        Scope {
            vars: &self.vars,
            arg0: &self.arg0,
            args: &self.args,
            status: self.status,
            flags,
        }
    }

    pub(super) fn fds(&self) -> Fds {
        *self
            .fds
            .last()
            .expect("a frame always has its base redirections")
    }

    pub(super) fn set_var(&mut self, name: &str, value: String) {
        let value = expand::truncate(value);
        if self.vars.get(name) != Some(&value) {
            self.vars.insert(name.to_owned(), value);
        }
    }

    /// A hash of everything a loop iteration can change: when two iterations start with the
    /// same hash at the same instant, the loop repeats forever.
    pub(super) fn state_hash(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        let loop_status = self.loops.last().map(|state| state.status);
        (
            &self.vars,
            &self.exports,
            &self.args,
            self.status,
            loop_status,
        )
            .hash(&mut hasher);
        (self.errexit, self.xtrace, &self.fds.len()).hash(&mut hasher);
        hasher.finish()
    }

    /// The environment a child shell inherits.
    pub(super) fn exported(&self) -> BTreeMap<String, String> {
        self.exports
            .iter()
            .filter_map(|name| Some((name.clone(), self.vars.get(name)?.clone())))
            .collect()
    }

    /// `set [-ex] [+ex] [-o option] [-- args...]`; without arguments, the variable listing
    /// to print.
    pub(super) fn set(&mut self, args: &[String]) -> Option<String> {
        if args.is_empty() {
            let listing = self
                .vars
                .iter()
                .map(|(name, value)| format!("{name}='{}'\n", value.replace('\'', "'\\''")))
                .collect();
            return Some(listing);
        }
        let mut index = 0;
        while let Some(arg) = args.get(index) {
            index += 1;
            if arg == "--" {
                self.args = args[index..].to_vec();
                break;
            }
            let Some(flags) = arg.strip_prefix(['-', '+']) else {
                self.args = args[index - 1..].to_vec();
                break;
            };
            let on = arg.starts_with('-');
            for flag in flags.chars() {
                match flag {
                    'e' => self.errexit = on,
                    'x' => self.xtrace = on,
                    'o' => {
                        match args.get(index).map(String::as_str) {
                            Some("errexit") => self.errexit = on,
                            Some("xtrace") => self.xtrace = on,
                            _ => {}
                        }
                        index += 1;
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// `export`, `readonly`, `unset` and `shift`; the error is the message to print.
    pub(super) fn variables(&mut self, command: &str, args: &[String]) -> Result<(), String> {
        let mut result = Ok(());
        match command {
            "shift" => match args.first().map_or(Ok(1), |n| n.parse::<usize>()) {
                Ok(count) if count <= self.args.len() => {
                    self.args.drain(..count);
                }
                _ => result = Err(format!("{}: shift: can't shift that many\n", self.name)),
            },
            "unset" => {
                for arg in args.iter().filter(|a| !a.starts_with('-')) {
                    self.vars.remove(arg);
                    self.exports.remove(arg);
                }
            }
            _ => {
                for arg in args.iter().filter(|a| !a.starts_with('-')) {
                    let (var, value) = match arg.split_once('=') {
                        Some((var, value)) => (var, Some(value)),
                        None => (arg.as_str(), None),
                    };
                    if !is_name(var) {
                        let name = &self.name;
                        result = Err(format!("{name}: {command}: {arg}: bad variable name\n"));
                        continue;
                    }
                    if let Some(value) = value {
                        self.set_var(var, value.to_owned());
                    }
                    self.exports.insert(var.to_owned());
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_route_the_streams() {
        let fds = Fds {
            out: Some(Stream::Stdout),
            err: Some(Stream::Stderr),
        };
        let apply = |source: &str| {
            let list = super::super::parse::parse_script(source).unwrap();
            let super::super::ast::Command::Simple(command) = &list[0].first.command else {
                panic!()
            };
            let vars = BTreeMap::new();
            let scope = Scope {
                vars: &vars,
                arg0: "sh",
                args: &[],
                status: 0,
                flags: String::new(),
            };
            redirect(fds, &command.redirects, &scope)
        };
        let both = |out, err| Fds { out, err };
        let (o, e) = (Some(Stream::Stdout), Some(Stream::Stderr));
        assert_eq!(apply("x >&2"), both(e, e));
        assert_eq!(apply("x 1>&2"), both(e, e));
        assert_eq!(apply("x 2>&1"), both(o, o));
        assert_eq!(apply("x >/dev/null"), both(None, e));
        assert_eq!(apply("x >/dev/null 2>&1"), both(None, None));
        assert_eq!(apply("x 2>&1 >/dev/null"), both(None, o));
        assert_eq!(apply("x &>/dev/null"), both(None, None));
        assert_eq!(apply("x 2>/dev/stdout"), both(o, o));
        assert_eq!(apply("x >>/tmp/log"), both(None, e));
        assert_eq!(apply("x 2>&- <in"), both(o, None));
    }

    fn frame() -> Frame {
        Frame {
            code: Arc::new(Code { instrs: Vec::new() }),
            pc: 0,
            name: "sh".to_owned(),
            vars: BTreeMap::new(),
            exports: BTreeSet::new(),
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
        }
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn set_changes_options_and_parameters() {
        let mut frame = frame();
        assert_eq!(frame.set(&strings(&["-ex", "a", "b"])), None);
        assert!(frame.errexit && frame.xtrace);
        assert_eq!(frame.args, ["a", "b"]);
        frame.set(&strings(&["+e", "-o", "pipefail", "--"]));
        assert!(!frame.errexit && frame.xtrace && frame.args.is_empty());
        frame.set_var("Q", "it's".to_owned());
        assert_eq!(frame.set(&[]).as_deref(), Some("Q='it'\\''s'\n"));
    }

    #[test]
    fn export_unset_and_shift() {
        let mut frame = frame();
        frame.set_var("LOCAL", "1".to_owned());
        frame.variables("export", &strings(&["A=1", "B"])).unwrap();
        assert_eq!(
            frame.exported(),
            BTreeMap::from([("A".to_owned(), "1".to_owned())])
        );
        frame.set_var("B", "2".to_owned());
        assert_eq!(frame.exported().len(), 2);
        frame.variables("unset", &strings(&["A"])).unwrap();
        assert_eq!(frame.exported().keys().collect::<Vec<_>>(), ["B"]);
        let error = frame.variables("export", &strings(&["1x=2"])).unwrap_err();
        assert_eq!(error, "sh: export: 1x=2: bad variable name\n");
        frame.args = strings(&["a", "b", "c"]);
        frame.variables("shift", &strings(&["2"])).unwrap();
        assert_eq!(frame.args, ["c"]);
        assert!(frame.variables("shift", &strings(&["2"])).is_err());
    }

    #[test]
    fn state_hash_follows_what_iterations_change() {
        let mut frame = frame();
        let before = frame.state_hash();
        frame.set_var("X", "1".to_owned());
        let after = frame.state_hash();
        assert_ne!(before, after);
        frame.set_var("X", "1".to_owned());
        assert_eq!(frame.state_hash(), after);
        frame.status = 1;
        assert_ne!(frame.state_hash(), after);
    }
}
