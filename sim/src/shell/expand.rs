//! Parameter expansion and field splitting.

use super::ast::{Param, Part, Word};
use std::collections::BTreeMap;

/// The longest value a variable or an expanded word may have; longer ones are cut, so that a
/// script that doubles a variable in a loop cannot exhaust memory.
pub(super) const MAX_VALUE: usize = 1 << 20;

/// What expansions read.
pub(super) struct Scope<'a> {
    pub vars: &'a BTreeMap<String, String>,
    pub arg0: &'a str,
    pub args: &'a [String],
    pub status: i32,
    pub flags: String,
}

/// The value of a parameter that is not `$@`/`$*`, or `None` when unset.
fn value(param: &Param, scope: &Scope) -> Option<String> {
    match param {
        Param::Named(name) => scope.vars.get(name).cloned(),
        Param::Positional(0) => Some(scope.arg0.to_owned()),
        Param::Positional(n) => scope.args.get(n - 1).cloned(),
        Param::Status => Some(scope.status.to_string()),
        Param::Count => Some(scope.args.len().to_string()),
        Param::All | Param::AllJoined => Some(scope.args.join(" ")),
        // The container's first process is pid 1.
        Param::Pid => Some("1".to_owned()),
        Param::LastBackground => None,
        Param::Flags => Some(scope.flags.clone()),
    }
}

/// A parameter's value with its `${NAME:-default}` applied.
fn value_or_default(part: &Part, scope: &Scope) -> String {
    let Part::Param { param, default, .. } = part else {
        unreachable!("not a parameter");
    };
    let found = value(param, scope);
    match default {
        Some(default)
            if found
                .as_deref()
                .is_none_or(|v| default.colon && v.is_empty()) =>
        {
            single(&default.word, scope)
        }
        _ => found.unwrap_or_default(),
    }
}

/// Expands a word into one string, without field splitting (assignments, redirection targets).
pub(super) fn single(word: &Word, scope: &Scope) -> String {
    let mut out = String::new();
    for part in &word.parts {
        match part {
            Part::Lit { text, .. } => out.push_str(text),
            Part::Param { .. } => out.push_str(&value_or_default(part, scope)),
        }
    }
    truncate(out)
}

/// Expands a word into fields: unquoted expansions are split at blanks, `"$@"` gives one field
/// per positional parameter, and a word that expands to nothing unquoted gives no field.
pub(super) fn fields(word: &Word, scope: &Scope) -> Vec<String> {
    let mut splitter = Splitter::default();
    for part in &word.parts {
        match part {
            Part::Lit { text, quoted } => splitter.push(text, *quoted),
            Part::Param {
                param: Param::All,
                quoted: true,
                default: None,
            } => {
                for (index, arg) in scope.args.iter().enumerate() {
                    if index > 0 {
                        splitter.finish_field();
                    }
                    splitter.push(arg, true);
                }
            }
            Part::Param { quoted, .. } => {
                let value = value_or_default(part, scope);
                if *quoted {
                    splitter.push(&value, true);
                } else {
                    splitter.split(&value);
                }
            }
        }
    }
    splitter.finish_field();
    splitter.fields
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

#[derive(Default)]
struct Splitter {
    fields: Vec<String>,
    current: String,
    /// Whether `current` is a field even when empty (it holds quoted text).
    started: bool,
}

impl Splitter {
    fn push(&mut self, text: &str, quoted: bool) {
        self.current.push_str(text);
        self.started |= quoted || !text.is_empty();
    }

    fn finish_field(&mut self) {
        if self.started {
            self.fields
                .push(truncate(std::mem::take(&mut self.current)));
            self.started = false;
        }
    }

    /// Adds unquoted expanded text: blanks end fields.
    fn split(&mut self, value: &str) {
        if value.starts_with(is_blank) {
            self.finish_field();
        }
        for (index, piece) in value.split(is_blank).filter(|p| !p.is_empty()).enumerate() {
            if index > 0 {
                self.finish_field();
            }
            self.push(piece, false);
        }
        if value.ends_with(is_blank) {
            self.finish_field();
        }
    }
}

/// Cuts `value` to [`MAX_VALUE`] bytes, at a character boundary.
pub(super) fn truncate(mut value: String) -> String {
    if value.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::super::lex::{Token, tokenize};
    use super::*;

    fn word(source: &str) -> Word {
        match tokenize(source).unwrap().remove(0) {
            Token::Word(word) => word,
            other => panic!("{other:?}"),
        }
    }

    fn with_scope<T>(f: impl FnOnce(&Scope) -> T) -> T {
        let vars = BTreeMap::from([
            ("A".to_owned(), " x  y ".to_owned()),
            ("E".to_owned(), String::new()),
            ("W".to_owned(), "word".to_owned()),
        ]);
        let args = ["one".to_owned(), "two three".to_owned()];
        f(&Scope {
            vars: &vars,
            arg0: "sh",
            args: &args,
            status: 3,
            flags: "e".to_owned(),
        })
    }

    #[test]
    fn unquoted_expansions_split_at_blanks() {
        with_scope(|scope| {
            assert_eq!(fields(&word("a$A"), scope), ["a", "x", "y"]);
            assert_eq!(fields(&word("\"a$A\""), scope), ["a x  y "]);
            assert_eq!(fields(&word("$W$W"), scope), ["wordword"]);
            assert_eq!(fields(&word("$E"), scope), Vec::<String>::new());
            assert_eq!(fields(&word("\"$E\""), scope), [""]);
            assert_eq!(fields(&word("$UNSET"), scope), Vec::<String>::new());
        });
    }

    #[test]
    fn special_and_positional_parameters() {
        with_scope(|scope| {
            assert_eq!(fields(&word("$?$#$0$$"), scope), ["32sh1"]);
            assert_eq!(fields(&word("\"<$@>\""), scope), ["<one", "two three>"]);
            assert_eq!(fields(&word("\"$*\""), scope), ["one two three"]);
            assert_eq!(fields(&word("$@"), scope), ["one", "two", "three"]);
            assert_eq!(fields(&word("${2}"), scope), ["two", "three"]);
            assert_eq!(fields(&word("$3"), scope), Vec::<String>::new());
            assert_eq!(single(&word("$-"), scope), "e");
        });
    }

    #[test]
    fn defaults() {
        with_scope(|scope| {
            assert_eq!(single(&word("${E:-d}"), scope), "d");
            assert_eq!(single(&word("${E-d}"), scope), "");
            assert_eq!(single(&word("${UNSET-$W}"), scope), "word");
            assert_eq!(fields(&word("${UNSET:-a b}"), scope), ["a", "b"]);
            assert_eq!(fields(&word("\"${UNSET:-a b}\""), scope), ["a b"]);
        });
    }

    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(MAX_VALUE);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_VALUE && cut.len() > MAX_VALUE - 2);
    }
}
