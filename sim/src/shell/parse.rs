//! Recursive-descent parser: tokens to the syntax tree.

use super::SyntaxError;
use super::ast::{
    AndOr, Command, Compound, Connector, List, Pipeline, Redirect, RedirectOp, SimpleCommand, Word,
};
use super::lex::{Op, Token, tokenize};

/// Parses a whole script.
pub(super) fn parse_script(source: &str) -> Result<List, SyntaxError> {
    let mut parser = Parser {
        tokens: tokenize(source)?,
        pos: 0,
    };
    let list = parser.list()?;
    parser.skip_newlines();
    match parser.peek() {
        None => Ok(list),
        Some(_) => Err(parser.unexpected(None)),
    }
}

/// Words that end a list when they come where a command would start.
const TERMINATORS: [&str; 7] = ["then", "else", "elif", "fi", "do", "done", "}"];

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// Whether `name` may be a variable's name.
pub(super) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_op(&self) -> Option<Op> {
        match self.peek() {
            Some(Token::Op(op)) => Some(*op),
            _ => None,
        }
    }

    fn peek_keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Word(word)) => word.as_plain(),
            _ => None,
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Token::Newline) {
            self.pos += 1;
        }
    }

    /// The error for the token at hand, saying what was expected if `expecting` is given.
    fn unexpected(&self, expecting: Option<&str>) -> SyntaxError {
        let found = match self.peek() {
            None => "end of file".to_owned(),
            Some(Token::Newline) => "newline".to_owned(),
            Some(Token::Op(op)) => format!("'{}'", op.as_str()),
            Some(Token::IoNumber(n)) => format!("'{n}'"),
            Some(Token::Word(word)) => match word.as_literal() {
                Some(text) => format!("'{text}'"),
                None => "word".to_owned(),
            },
        };
        match expecting {
            Some(expected) => {
                SyntaxError::new(format!("unexpected {found} (expecting {expected})"))
            }
            None => SyntaxError::new(format!("unexpected {found}")),
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), SyntaxError> {
        if self.peek_keyword() == Some(keyword) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(Some(&format!("'{keyword}'"))))
        }
    }

    fn at_list_end(&self) -> bool {
        match self.peek() {
            None | Some(Token::Op(Op::RParen)) => true,
            Some(Token::Word(word)) => word.as_plain().is_some_and(|w| TERMINATORS.contains(&w)),
            _ => false,
        }
    }

    /// A possibly empty list, up to a token that cannot continue it.
    fn list(&mut self) -> Result<List, SyntaxError> {
        let mut list = Vec::new();
        loop {
            self.skip_newlines();
            if self.at_list_end() {
                return Ok(list);
            }
            list.push(self.and_or()?);
            match self.peek() {
                Some(Token::Op(Op::Semi) | Token::Newline) => self.pos += 1,
                Some(Token::Op(Op::Amp)) => {
                    return Err(SyntaxError::new("background jobs ('&') are not supported"));
                }
                _ => return Ok(list),
            }
        }
    }

    /// A list of at least one command, as compound commands need.
    fn required_list(&mut self) -> Result<List, SyntaxError> {
        let list = self.list()?;
        if list.is_empty() {
            return Err(self.unexpected(None));
        }
        Ok(list)
    }

    fn and_or(&mut self) -> Result<AndOr, SyntaxError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let connector = match self.peek_op() {
                Some(Op::AndIf) => Connector::And,
                Some(Op::OrIf) => Connector::Or,
                _ => return Ok(AndOr { first, rest }),
            };
            self.pos += 1;
            self.skip_newlines();
            rest.push((connector, self.pipeline()?));
        }
    }

    fn pipeline(&mut self) -> Result<Pipeline, SyntaxError> {
        let mut negated = false;
        while self.peek_keyword() == Some("!") {
            self.pos += 1;
            negated = !negated;
        }
        let command = self.command()?;
        if self.peek_op() == Some(Op::Pipe) {
            return Err(SyntaxError::new("pipelines ('|') are not supported"));
        }
        Ok(Pipeline { negated, command })
    }

    fn command(&mut self) -> Result<Command, SyntaxError> {
        let compound = match self.peek_keyword() {
            Some("while") => self.while_loop(false)?,
            Some("until") => self.while_loop(true)?,
            Some("for") => self.for_loop()?,
            Some("if") => self.if_clause()?,
            Some("{") => {
                self.pos += 1;
                let body = self.required_list()?;
                self.expect_keyword("}")?;
                Compound::Group(body)
            }
            Some(keyword @ ("case" | "select" | "function")) => {
                return Err(SyntaxError::new(format!("'{keyword}' is not supported")));
            }
            Some(keyword) if TERMINATORS.contains(&keyword) => return Err(self.unexpected(None)),
            _ if self.peek_op() == Some(Op::LParen) => {
                self.pos += 1;
                let body = self.required_list()?;
                if self.peek_op() != Some(Op::RParen) {
                    return Err(self.unexpected(Some("')'")));
                }
                self.pos += 1;
                Compound::Subshell(body)
            }
            _ => return self.simple_command().map(Command::Simple),
        };
        let mut redirects = Vec::new();
        while let Some(redirect) = self.redirect()? {
            redirects.push(redirect);
        }
        Ok(Command::Compound(compound, redirects))
    }

    fn simple_command(&mut self) -> Result<SimpleCommand, SyntaxError> {
        let mut command = SimpleCommand::default();
        loop {
            if let Some(redirect) = self.redirect()? {
                command.redirects.push(redirect);
                continue;
            }
            let Some(Token::Word(word)) = self.peek() else {
                break;
            };
            match assignment(word).filter(|_| command.words.is_empty()) {
                Some(assign) => command.assigns.push(assign),
                None => command.words.push(word.clone()),
            }
            self.pos += 1;
        }
        if command.words.is_empty() && command.assigns.is_empty() && command.redirects.is_empty() {
            return Err(self.unexpected(None));
        }
        if self.peek_op() == Some(Op::LParen) && command.words.len() == 1 {
            return Err(SyntaxError::new("function definitions are not supported"));
        }
        Ok(command)
    }

    /// A redirection, if one starts here.
    fn redirect(&mut self) -> Result<Option<Redirect>, SyntaxError> {
        let start = self.pos;
        let fd = match self.peek() {
            Some(&Token::IoNumber(fd)) => {
                self.pos += 1;
                Some(fd)
            }
            _ => None,
        };
        let op = match self.peek_op() {
            Some(Op::Great | Op::Clobber) => RedirectOp::Out,
            Some(Op::DoubleGreat) => RedirectOp::Append,
            Some(Op::GreatAnd) => RedirectOp::DupOut,
            Some(Op::Less | Op::LessGreat) => RedirectOp::In,
            Some(Op::LessAnd) => RedirectOp::DupIn,
            Some(Op::AndGreat) => RedirectOp::OutErr,
            Some(Op::DoubleLess) => {
                return Err(SyntaxError::new("here-documents are not supported"));
            }
            _ if fd.is_some() => return Err(self.unexpected(Some("a redirection"))),
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        self.pos += 1;
        match self.peek() {
            Some(Token::Word(target)) => {
                let target = target.clone();
                self.pos += 1;
                Ok(Some(Redirect { fd, op, target }))
            }
            _ => Err(self.unexpected(Some("a redirection target"))),
        }
    }

    fn while_loop(&mut self, until: bool) -> Result<Compound, SyntaxError> {
        self.pos += 1;
        let cond = self.required_list()?;
        self.expect_keyword("do")?;
        let body = self.required_list()?;
        self.expect_keyword("done")?;
        Ok(Compound::Loop { until, cond, body })
    }

    fn for_loop(&mut self) -> Result<Compound, SyntaxError> {
        self.pos += 1;
        let var = match self.peek_keyword() {
            Some(name) if is_name(name) => name.to_owned(),
            _ => return Err(self.unexpected(Some("a variable name"))),
        };
        self.pos += 1;
        self.skip_newlines();
        let mut words = None;
        if self.peek_keyword() == Some("in") {
            self.pos += 1;
            let mut list = Vec::new();
            while let Some(Token::Word(word)) = self.peek() {
                list.push(word.clone());
                self.pos += 1;
            }
            match self.peek() {
                Some(Token::Op(Op::Semi) | Token::Newline) => self.pos += 1,
                _ => return Err(self.unexpected(Some("';' or newline"))),
            }
            words = Some(list);
        } else if self.peek_op() == Some(Op::Semi) {
            self.pos += 1;
        }
        self.skip_newlines();
        self.expect_keyword("do")?;
        let body = self.required_list()?;
        self.expect_keyword("done")?;
        Ok(Compound::For { var, words, body })
    }

    fn if_clause(&mut self) -> Result<Compound, SyntaxError> {
        self.pos += 1;
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.required_list()?;
            self.expect_keyword("then")?;
            branches.push((cond, self.required_list()?));
            match self.peek_keyword() {
                Some("elif") => self.pos += 1,
                Some("else") => {
                    self.pos += 1;
                    otherwise = Some(self.required_list()?);
                    break;
                }
                _ => break,
            }
        }
        self.expect_keyword("fi")?;
        Ok(Compound::If {
            branches,
            otherwise,
        })
    }
}

/// Splits `NAME=value` into its name and value, if the word is an assignment.
fn assignment(word: &Word) -> Option<(String, Word)> {
    let super::ast::Part::Lit {
        text,
        quoted: false,
    } = word.parts.first()?
    else {
        return None;
    };
    let (name, value) = text.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut parts = word.parts.clone();
    parts[0] = super::ast::Part::Lit {
        text: value.to_owned(),
        quoted: false,
    };
    Some((name.to_owned(), Word { parts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command_words(list: &List) -> Vec<Vec<String>> {
        list.iter()
            .map(|and_or| match &and_or.first.command {
                Command::Simple(simple) => simple
                    .words
                    .iter()
                    .map(|w| w.as_literal().unwrap_or_default())
                    .collect(),
                Command::Compound(..) => vec!["<compound>".to_owned()],
            })
            .collect()
    }

    #[test]
    fn lists_and_connectors() {
        let list = parse_script("a 1; b\n\n c && d || ! e").unwrap();
        assert_eq!(command_words(&list), [vec!["a", "1"], vec!["b"], vec!["c"]]);
        let connectors: Vec<Connector> = list[2].rest.iter().map(|(c, _)| *c).collect();
        assert_eq!(connectors, [Connector::And, Connector::Or]);
        assert!(list[2].rest[1].1.negated);
        assert!(parse_script("").unwrap().is_empty());
        assert!(parse_script(" \n# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn assignments_only_before_the_command_name() {
        let list = parse_script("A=1 B= echo C=2").unwrap();
        let Command::Simple(simple) = &list[0].first.command else {
            panic!()
        };
        let names: Vec<&str> = simple.assigns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(command_words(&list), [vec!["echo", "C=2"]]);
    }

    #[test]
    fn compound_commands() {
        let list = parse_script(
            "while true; do x; done\nuntil a\ndo b\ndone; for i in 1 2; do :; done\n\
             for j do :; done; if a; then b; elif c; then d; else e; fi; { a; } >&2; (b)",
        )
        .unwrap();
        let kinds: Vec<&str> = list
            .iter()
            .map(|and_or| match &and_or.first.command {
                Command::Compound(Compound::Loop { until: false, .. }, _) => "while",
                Command::Compound(Compound::Loop { until: true, .. }, _) => "until",
                Command::Compound(Compound::For { words: Some(w), .. }, _) if w.len() == 2 => {
                    "for-in"
                }
                Command::Compound(Compound::For { words: None, .. }, _) => "for",
                Command::Compound(
                    Compound::If {
                        branches,
                        otherwise: Some(_),
                    },
                    _,
                ) if branches.len() == 2 => "if",
                Command::Compound(Compound::Group(_), redirects) if redirects.len() == 1 => "group",
                Command::Compound(Compound::Subshell(_), _) => "subshell",
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["while", "until", "for-in", "for", "if", "group", "subshell"]
        );
    }

    #[test]
    fn redirections() {
        let list = parse_script("echo hi >&2 2>/dev/null x").unwrap();
        let Command::Simple(simple) = &list[0].first.command else {
            panic!()
        };
        assert_eq!(simple.words.len(), 3);
        assert_eq!(simple.redirects[0].op, RedirectOp::DupOut);
        assert_eq!(simple.redirects[0].fd, None);
        assert_eq!(simple.redirects[1].fd, Some(2));
        assert_eq!(
            simple.redirects[1].target.as_literal().as_deref(),
            Some("/dev/null")
        );
    }

    #[test]
    fn syntax_errors() {
        for (source, message) in [
            ("while true; do echo", "end of file (expecting 'done')"),
            ("done", "unexpected 'done'"),
            ("; echo", "unexpected ';'"),
            ("echo &&", "unexpected end of file"),
            ("if true; then fi", "unexpected 'fi'"),
            ("echo a | cat", "pipelines"),
            ("sleep 1 &", "background"),
            ("case x in esac", "'case' is not supported"),
            ("f() { :; }", "function definitions"),
            ("echo >", "redirection target"),
            ("cat <<EOF", "here-documents"),
            ("for 1x in a; do :; done", "variable name"),
            ("(echo", "expecting ')'"),
            ("echo )", "unexpected ')'"),
            ("echo a;; echo b", "unexpected ';;'"),
        ] {
            let error = parse_script(source).unwrap_err().to_string();
            assert!(error.contains(message), "{source:?}: {error}");
        }
    }
}
