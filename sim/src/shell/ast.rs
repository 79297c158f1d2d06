//! The syntax tree of a parsed script.

/// A word: what is left of a token after quote removal, with the expansions still to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Word {
    pub parts: Vec<Part>,
}

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// Literal text; quoted text is never split into fields nor read as a keyword.
    Lit { text: String, quoted: bool },
    /// `$NAME`, `${NAME}`, `${NAME:-default}`, `$?`, `$1`...
    Param {
        param: Param,
        quoted: bool,
        default: Option<Box<ParamDefault>>,
    },
}

/// The `-word` or `:-word` of `${NAME-word}` / `${NAME:-word}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParamDefault {
    /// With `:`, an empty value takes the default too.
    pub colon: bool,
    pub word: Word,
}

/// A parameter a `$` expansion names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Param {
    /// A variable.
    Named(String),
    /// `$0` to `$9`, `${10}`...
    Positional(usize),
    /// `$?`
    Status,
    /// `$#`
    Count,
    /// `$@`: the positional parameters, one field each when quoted.
    All,
    /// `$*`: the positional parameters joined by spaces when quoted.
    AllJoined,
    /// `$$`
    Pid,
    /// `$!`
    LastBackground,
    /// `$-`
    Flags,
}

impl Word {
    /// A word of literal text that is neither split nor read as a keyword.
    pub fn quoted(text: &str) -> Word {
        Word {
            parts: vec![Part::Lit {
                text: text.to_owned(),
                quoted: true,
            }],
        }
    }

    /// The text of a word made of unquoted literal text only: how keywords are recognised.
    pub fn as_plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [
                Part::Lit {
                    text,
                    quoted: false,
                },
            ] => Some(text),
            _ => None,
        }
    }

    /// The text of a word without expansions, quoted or not.
    pub fn as_literal(&self) -> Option<String> {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Lit { text, .. } => Some(text.as_str()),
                Part::Param { .. } => None,
            })
            .collect()
    }
}

/// A redirection: `[fd]op target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Redirect {
    pub fd: Option<u32>,
    pub op: RedirectOp,
    pub target: Word,
}

/// The operator of a redirection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RedirectOp {
    /// `>` or `>|`
    Out,
    /// `>>`
    Append,
    /// `>&`
    DupOut,
    /// `<` or `<>`
    In,
    /// `<&`
    DupIn,
    /// `&>`: standard output and error.
    OutErr,
}

/// `NAME=value... word... ` with redirections anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct SimpleCommand {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// One command of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    Simple(SimpleCommand),
    Compound(Compound, Vec<Redirect>),
}

/// The compound commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Compound {
    /// `{ list; }`
    Group(List),
    /// `( list )`
    Subshell(List),
    /// `while cond; do body; done`, or `until` when `until` is set.
    Loop { until: bool, cond: List, body: List },
    /// `for var [in words]; do body; done`; without `in`, the positional parameters.
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: List,
    },
    /// `if cond; then body; [elif cond; then body;]... [else body;] fi`
    If {
        branches: Vec<(List, List)>,
        otherwise: Option<List>,
    },
}

/// A command, maybe negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pipeline {
    pub negated: bool,
    pub command: Command,
}

/// How two pipelines of an and-or list are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Connector {
    /// `&&`
    And,
    /// `||`
    Or,
}

/// `pipeline [&& pipeline | || pipeline]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

/// A sequence of and-or lists, separated by `;` or newlines.
pub(super) type List = Vec<AndOr>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unquoted_literals_are_plain() {
        let plain = Word {
            parts: vec![Part::Lit {
                text: "done".into(),
                quoted: false,
            }],
        };
        assert_eq!(plain.as_plain(), Some("done"));
        assert_eq!(Word::quoted("done").as_plain(), None);
        assert_eq!(Word::quoted("done").as_literal().as_deref(), Some("done"));
        let expanded = Word {
            parts: vec![Part::Param {
                param: Param::Status,
                quoted: false,
                default: None,
            }],
        };
        assert_eq!(expanded.as_plain(), None);
        assert_eq!(expanded.as_literal(), None);
    }
}
