//! Flattens the syntax tree into instructions with jumps, so that the interpreter can stop at
//! any point (a `sleep`) and resume there later: its whole state is a program counter and a
//! few stacks.

use super::ast::{
    AndOr, Command, Compound, Connector, List, Pipeline, Redirect, SimpleCommand, Word,
};

/// A compiled script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Code {
    pub instrs: Vec<Instr>,
}

/// One instruction. Jump targets are indices into [`Code::instrs`]. `tested` marks a command
/// whose status a condition looks at, which `set -e` leaves alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Instr {
    /// Runs a simple command.
    Simple {
        command: SimpleCommand,
        tested: bool,
    },
    /// `$? = !$?`
    Negate,
    JumpIfFail(usize),
    JumpIfOk(usize),
    Jump(usize),
    SetStatus(i32),
    /// Applies the redirections of a compound command until the matching `PopRedirects`.
    PushRedirects(Vec<Redirect>),
    PopRedirects,
    /// Starts a subshell at the next instruction; the parent resumes at `after`.
    Subshell {
        after: usize,
        tested: bool,
    },
    /// Ends the current shell (script or subshell) with status `$?`.
    Return,
    /// Enters a `while`/`until` loop.
    LoopEnter,
    /// Enters a `for` loop over the words (the positional parameters if `None`).
    ForEnter(Option<Vec<Word>>),
    /// Top of a `while` loop: detects an iteration that changed nothing and took no time.
    LoopCheck,
    /// Top of a `for` loop: assigns the next word, or leaves the loop.
    ForNext {
        var: String,
        exit: usize,
    },
    /// End of a loop body: remembers `$?` as the loop's status.
    LoopSaveStatus,
    /// Leaves the innermost loop; `$?` becomes the loop's status.
    LoopExit,
    /// Leaves `unwind` inner loops and jumps to the `LoopExit` of the next one.
    Break {
        unwind: usize,
        target: usize,
    },
    /// Leaves `unwind` inner loops and jumps to the top of the next one.
    Continue {
        unwind: usize,
        target: usize,
    },
}

/// Compiles a script; the code ends with `Return`.
pub(super) fn compile(list: &List) -> Code {
    let mut compiler = Compiler::default();
    compiler.list(list, false);
    compiler.instrs.push(Instr::Return);
    Code {
        instrs: compiler.instrs,
    }
}

/// Code that runs one command with literal arguments as the shell's last act (`exec argv`).
pub(super) fn exec_argv(argv: &[String]) -> Code {
    let words = std::iter::once("exec")
        .chain(argv.iter().map(String::as_str))
        .map(Word::quoted)
        .collect();
    let command = SimpleCommand {
        words,
        ..SimpleCommand::default()
    };
    Code {
        instrs: vec![
            Instr::Simple {
                command,
                tested: false,
            },
            Instr::Return,
        ],
    }
}

/// A loop being compiled: where `continue` goes and which jumps `break` left to patch.
struct LoopContext {
    head: usize,
    breaks: Vec<usize>,
}

#[derive(Default)]
struct Compiler {
    instrs: Vec<Instr>,
    loops: Vec<LoopContext>,
}

impl Compiler {
    fn emit(&mut self, instr: Instr) -> usize {
        self.instrs.push(instr);
        self.instrs.len() - 1
    }

    /// Points the jump at `at` to the next instruction to be emitted.
    fn patch(&mut self, at: usize) {
        let here = self.instrs.len();
        match &mut self.instrs[at] {
            Instr::JumpIfFail(target)
            | Instr::JumpIfOk(target)
            | Instr::Jump(target)
            | Instr::Subshell { after: target, .. }
            | Instr::ForNext { exit: target, .. }
            | Instr::Break { target, .. } => *target = here,
            other => unreachable!("patching {other:?}"),
        }
    }

    fn list(&mut self, list: &List, tested: bool) {
        for and_or in list {
            self.and_or(and_or, tested);
        }
    }

    fn and_or(&mut self, and_or: &AndOr, tested: bool) {
        let count = and_or.rest.len();
        self.pipeline(&and_or.first, tested || count > 0);
        for (index, (connector, pipeline)) in and_or.rest.iter().enumerate() {
            let jump = match connector {
                Connector::And => self.emit(Instr::JumpIfFail(0)),
                Connector::Or => self.emit(Instr::JumpIfOk(0)),
            };
            self.pipeline(pipeline, tested || index + 1 < count);
            self.patch(jump);
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline, tested: bool) {
        self.command(&pipeline.command, tested || pipeline.negated);
        if pipeline.negated {
            self.emit(Instr::Negate);
        }
    }

    fn command(&mut self, command: &Command, tested: bool) {
        match command {
            Command::Simple(simple) => self.simple(simple, tested),
            Command::Compound(compound, redirects) => {
                if !redirects.is_empty() {
                    self.emit(Instr::PushRedirects(redirects.clone()));
                }
                self.compound(compound, tested);
                if !redirects.is_empty() {
                    self.emit(Instr::PopRedirects);
                }
            }
        }
    }

    fn simple(&mut self, command: &SimpleCommand, tested: bool) {
        let name = command.words.first().and_then(Word::as_plain);
        if let Some(keyword @ ("break" | "continue")) = name {
            self.loop_control(keyword == "break", command.words.get(1));
            return;
        }
        self.emit(Instr::Simple {
            command: command.clone(),
            tested,
        });
    }

    /// `break [n]` or `continue [n]`; outside a loop they do nothing, as in dash.
    fn loop_control(&mut self, is_break: bool, count: Option<&Word>) {
        let depth = self.loops.len();
        if depth == 0 {
            self.emit(Instr::SetStatus(0));
            return;
        }
        let count = count
            .and_then(Word::as_literal)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, depth);
        let unwind = count - 1;
        let target_loop = depth - count;
        if is_break {
            let at = self.emit(Instr::Break { unwind, target: 0 });
            self.loops[target_loop].breaks.push(at);
        } else {
            let target = self.loops[target_loop].head;
            self.emit(Instr::Continue { unwind, target });
        }
    }

    fn compound(&mut self, compound: &Compound, tested: bool) {
        match compound {
            Compound::Group(body) => self.list(body, tested),
            Compound::Subshell(body) => {
                let start = self.emit(Instr::Subshell { after: 0, tested });
                let outer_loops = std::mem::take(&mut self.loops);
                self.list(body, tested);
                self.emit(Instr::Return);
                self.loops = outer_loops;
                self.patch(start);
            }
            Compound::Loop { until, cond, body } => {
                self.emit(Instr::LoopEnter);
                let head = self.emit(Instr::LoopCheck);
                self.list(cond, true);
                let exit = if *until {
                    self.emit(Instr::JumpIfOk(0))
                } else {
                    self.emit(Instr::JumpIfFail(0))
                };
                self.loop_body(head, body, tested, exit);
            }
            Compound::For { var, words, body } => {
                self.emit(Instr::ForEnter(words.clone()));
                let head = self.emit(Instr::ForNext {
                    var: var.clone(),
                    exit: 0,
                });
                self.loop_body(head, body, tested, head);
            }
            Compound::If {
                branches,
                otherwise,
            } => {
                let mut ends = Vec::new();
                for (cond, body) in branches {
                    self.list(cond, true);
                    let next = self.emit(Instr::JumpIfFail(0));
                    self.list(body, tested);
                    ends.push(self.emit(Instr::Jump(0)));
                    self.patch(next);
                }
                match otherwise {
                    Some(body) => self.list(body, tested),
                    None => {
                        self.emit(Instr::SetStatus(0));
                    }
                }
                for end in ends {
                    self.patch(end);
                }
            }
        }
    }

    /// The body of a loop whose top is `head`; `exit_jump` is the instruction that leaves it.
    fn loop_body(&mut self, head: usize, body: &List, tested: bool, exit_jump: usize) {
        self.loops.push(LoopContext {
            head,
            breaks: Vec::new(),
        });
        self.list(body, tested);
        self.emit(Instr::LoopSaveStatus);
        self.emit(Instr::Jump(head));
        let context = self.loops.pop().expect("pushed above");
        self.patch(exit_jump);
        for at in context.breaks {
            self.patch(at);
        }
        self.emit(Instr::LoopExit);
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_script;
    use super::*;

    fn code(source: &str) -> Vec<Instr> {
        compile(&parse_script(source).unwrap()).instrs
    }

    #[test]
    fn and_or_jumps_past_the_next_pipeline() {
        let instrs = code("a && b || c");
        assert!(matches!(instrs[0], Instr::Simple { tested: true, .. }));
        assert_eq!(instrs[1], Instr::JumpIfFail(3));
        assert!(matches!(instrs[2], Instr::Simple { tested: true, .. }));
        assert_eq!(instrs[3], Instr::JumpIfOk(5));
        assert!(matches!(instrs[4], Instr::Simple { tested: false, .. }));
        assert_eq!(instrs[5], Instr::Return);
    }

    #[test]
    fn while_loop_layout() {
        let instrs = code("while a; do break; done");
        assert_eq!(instrs[0], Instr::LoopEnter);
        assert_eq!(instrs[1], Instr::LoopCheck);
        assert!(matches!(instrs[2], Instr::Simple { tested: true, .. }));
        assert_eq!(instrs[3], Instr::JumpIfFail(7));
        assert_eq!(
            instrs[4],
            Instr::Break {
                unwind: 0,
                target: 7
            }
        );
        assert_eq!(instrs[5], Instr::LoopSaveStatus);
        assert_eq!(instrs[6], Instr::Jump(1));
        assert_eq!(instrs[7], Instr::LoopExit);
    }

    #[test]
    fn nested_break_and_continue_count_loops() {
        let instrs = code("for i in a; do for j in b; do continue 2; break 9; done; done; break");
        assert_eq!(
            instrs[1],
            Instr::ForNext {
                var: "i".into(),
                exit: 11
            }
        );
        assert_eq!(
            instrs[4],
            Instr::Continue {
                unwind: 1,
                target: 1
            }
        );
        assert_eq!(
            instrs[5],
            Instr::Break {
                unwind: 1,
                target: 11
            }
        );
        assert_eq!(instrs[12], Instr::SetStatus(0));
    }

    #[test]
    fn if_without_else_sets_status_zero() {
        let instrs = code("if a; then b; fi");
        assert_eq!(instrs[1], Instr::JumpIfFail(4));
        assert_eq!(instrs[3], Instr::Jump(5));
        assert_eq!(instrs[4], Instr::SetStatus(0));
    }

    #[test]
    fn subshell_returns_and_resumes_after() {
        let instrs = code("(a) >&2; b");
        assert!(matches!(instrs[0], Instr::PushRedirects(_)));
        assert_eq!(
            instrs[1],
            Instr::Subshell {
                after: 4,
                tested: false
            }
        );
        assert_eq!(instrs[3], Instr::Return);
        assert_eq!(instrs[4], Instr::PopRedirects);
    }
}
