//! Splits a script into tokens: words (quotes removed, expansions kept) and operators.

use super::SyntaxError;
use super::ast::{Param, ParamDefault, Part, Word};

/// A token of the shell grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Word(Word),
    /// The digits before a redirection operator, as in `2>&1`.
    IoNumber(u32),
    Op(Op),
    Newline,
}

/// The operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    AndIf,
    OrIf,
    Semi,
    DoubleSemi,
    Amp,
    Pipe,
    LParen,
    RParen,
    Less,
    Great,
    DoubleGreat,
    Clobber,
    GreatAnd,
    LessAnd,
    AndGreat,
    DoubleLess,
    LessGreat,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::AndIf => "&&",
            Op::OrIf => "||",
            Op::Semi => ";",
            Op::DoubleSemi => ";;",
            Op::Amp => "&",
            Op::Pipe => "|",
            Op::LParen => "(",
            Op::RParen => ")",
            Op::Less => "<",
            Op::Great => ">",
            Op::DoubleGreat => ">>",
            Op::Clobber => ">|",
            Op::GreatAnd => ">&",
            Op::LessAnd => "<&",
            Op::AndGreat => "&>",
            Op::DoubleLess => "<<",
            Op::LessGreat => "<>",
        }
    }
}

/// Splits `source` into tokens.
pub(super) fn tokenize(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

fn is_operator_start(c: char) -> bool {
    matches!(c, '&' | '|' | ';' | '<' | '>' | '(' | ')' | '\n')
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Collects the parts of a word, merging neighbouring literal text of the same quoting.
#[derive(Default)]
struct Parts(Vec<Part>);

impl Parts {
    fn push_char(&mut self, c: char, quoted: bool) {
        if let Some(Part::Lit { text, quoted: q }) = self.0.last_mut()
            && *q == quoted
        {
            text.push(c);
            return;
        }
        self.0.push(Part::Lit {
            text: c.to_string(),
            quoted,
        });
    }

    /// Marks the start of quoted text, so that `""` still makes a (empty) word.
    fn open_quote(&mut self) {
        if !matches!(self.0.last(), Some(Part::Lit { quoted: true, .. })) {
            self.0.push(Part::Lit {
                text: String::new(),
                quoted: true,
            });
        }
    }
}

/// Where a run of word characters ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// At a blank or an operator: a word token.
    Token,
    /// At the `}` closing a `${NAME:-default}`, inside double quotes or not.
    Brace { in_quotes: bool },
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, SyntaxError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        if is_operator_start(c) {
            return Ok(Some(self.operator()));
        }
        if c.is_ascii_digit() {
            let digits = self.chars[self.pos..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if matches!(self.peek_at(digits), Some('<' | '>')) {
                let text: String = self.chars[self.pos..self.pos + digits].iter().collect();
                self.pos += digits;
                let fd = text
                    .parse()
                    .map_err(|_| SyntaxError::new("bad file descriptor"))?;
                return Ok(Some(Token::IoNumber(fd)));
            }
        }
        let parts = self.word_parts(End::Token)?;
        Ok(Some(Token::Word(Word { parts })))
    }

    fn operator(&mut self) -> Token {
        let c = self.chars[self.pos];
        self.pos += 1;
        let op = match c {
            '\n' => return Token::Newline,
            '&' if self.eat('&') => Op::AndIf,
            '&' if self.eat('>') => Op::AndGreat,
            '&' => Op::Amp,
            '|' if self.eat('|') => Op::OrIf,
            '|' => Op::Pipe,
            ';' if self.eat(';') => Op::DoubleSemi,
            ';' => Op::Semi,
            '(' => Op::LParen,
            ')' => Op::RParen,
            '<' if self.eat('<') => Op::DoubleLess,
            '<' if self.eat('&') => Op::LessAnd,
            '<' if self.eat('>') => Op::LessGreat,
            '<' => Op::Less,
            '>' if self.eat('>') => Op::DoubleGreat,
            '>' if self.eat('&') => Op::GreatAnd,
            '>' if self.eat('|') => Op::Clobber,
            _ => Op::Great,
        };
        Token::Op(op)
    }

    /// Reads word characters up to `end`: quotes, escapes and `$` expansions included.
    fn word_parts(&mut self, end: End) -> Result<Vec<Part>, SyntaxError> {
        let mut parts = Parts::default();
        let quoted_context = end == End::Brace { in_quotes: true };
        while let Some(c) = self.peek() {
            match end {
                End::Token if c == ' ' || c == '\t' || c == '\r' || is_operator_start(c) => break,
                End::Brace { .. } if c == '}' => break,
                _ => {}
            }
            self.pos += 1;
            match c {
                '\'' if !quoted_context => {
                    parts.open_quote();
                    loop {
                        match self.peek() {
                            None => return Err(SyntaxError::new("unterminated quoted string")),
                            Some('\'') => break,
                            Some(c) => parts.push_char(c, true),
                        }
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                '"' => self.double_quoted(&mut parts)?,
                '\\' => match self.peek() {
                    Some('\n') => self.pos += 1,
                    Some(escaped) => {
                        self.pos += 1;
                        parts.push_char(escaped, true);
                    }
                    None => parts.push_char('\\', quoted_context),
                },
                '$' => self.dollar(&mut parts, quoted_context)?,
                '`' => return Err(SyntaxError::new("command substitution is not supported")),
                _ => parts.push_char(c, quoted_context),
            }
        }
        if matches!(end, End::Brace { .. }) && !self.eat('}') {
            return Err(SyntaxError::new("missing '}'"));
        }
        Ok(parts.0)
    }

    /// Reads the rest of a `"..."` string (its opening quote consumed).
    fn double_quoted(&mut self, parts: &mut Parts) -> Result<(), SyntaxError> {
        parts.open_quote();
        loop {
            let Some(c) = self.peek() else {
                return Err(SyntaxError::new("unterminated quoted string"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(()),
                '\\' => match self.peek() {
                    Some('\n') => self.pos += 1,
                    Some(escaped @ ('$' | '`' | '"' | '\\')) => {
                        self.pos += 1;
                        parts.push_char(escaped, true);
                    }
                    _ => parts.push_char('\\', true),
                },
                '$' => self.dollar(parts, true)?,
                '`' => return Err(SyntaxError::new("command substitution is not supported")),
                _ => parts.push_char(c, true),
            }
        }
    }

    /// Reads what follows a `$`.
    fn dollar(&mut self, parts: &mut Parts, quoted: bool) -> Result<(), SyntaxError> {
        let param = match self.peek() {
            Some('{') => {
                self.pos += 1;
                return self.braced(parts, quoted);
            }
            Some('(') => {
                return Err(SyntaxError::new(
                    "command substitution and arithmetic expansion are not supported",
                ));
            }
            Some(c) if is_name_start(c) => {
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|&c| is_name_char(c)) {
                    name.push(c);
                    self.pos += 1;
                }
                Param::Named(name)
            }
            Some(c) => match special_param(c) {
                Some(param) => {
                    self.pos += 1;
                    param
                }
                None => {
                    parts.push_char('$', quoted);
                    return Ok(());
                }
            },
            None => {
                parts.push_char('$', quoted);
                return Ok(());
            }
        };
        parts.0.push(Part::Param {
            param,
            quoted,
            default: None,
        });
        Ok(())
    }

    /// Reads `NAME}`, `NAME:-word}` or `NAME-word}` after `${`.
    fn braced(&mut self, parts: &mut Parts, quoted: bool) -> Result<(), SyntaxError> {
        let start = self.pos;
        let param = match self.peek() {
            Some(c) if is_name_start(c) => {
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|&c| is_name_char(c)) {
                    name.push(c);
                    self.pos += 1;
                }
                Param::Named(name)
            }
            Some(c) if c.is_ascii_digit() => {
                let mut number = 0usize;
                while let Some(digit) = self.peek().and_then(|c| c.to_digit(10)) {
                    number = number.saturating_mul(10).saturating_add(digit as usize);
                    self.pos += 1;
                }
                Param::Positional(number)
            }
            Some(c) => match special_param(c) {
                Some(param) => {
                    self.pos += 1;
                    param
                }
                None => return Err(self.bad_substitution(start)),
            },
            None => return Err(SyntaxError::new("missing '}'")),
        };
        let default = if self.eat('}') {
            None
        } else if self.peek().is_none() {
            return Err(SyntaxError::new("missing '}'"));
        } else {
            let colon = self.eat(':');
            if !self.eat('-') {
                return Err(self.bad_substitution(start));
            }
            let word = Word {
                parts: self.word_parts(End::Brace { in_quotes: quoted })?,
            };
            Some(Box::new(ParamDefault { colon, word }))
        };
        parts.0.push(Part::Param {
            param,
            quoted,
            default,
        });
        Ok(())
    }

    fn bad_substitution(&self, start: usize) -> SyntaxError {
        let text: String = self.chars[start..]
            .iter()
            .take_while(|&&c| c != '}' && c != '\n')
            .collect();
        SyntaxError::new(format!("unsupported substitution '${{{text}}}'"))
    }
}

fn special_param(c: char) -> Option<Param> {
    Some(match c {
        '?' => Param::Status,
        '#' => Param::Count,
        '@' => Param::All,
        '*' => Param::AllJoined,
        '$' => Param::Pid,
        '!' => Param::LastBackground,
        '-' => Param::Flags,
        _ => Param::Positional(c.to_digit(10)? as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str, quoted: bool) -> Part {
        Part::Lit {
            text: text.into(),
            quoted,
        }
    }

    fn words(source: &str) -> Vec<Vec<Part>> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .filter_map(|token| match token {
                Token::Word(word) => Some(word.parts),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn operators_and_io_numbers() {
        let tokens = tokenize("a&&b||c;d 2>&1 >>f <x &>/dev/null\n").unwrap();
        let ops: Vec<String> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Op(op) => Some(op.as_str().to_owned()),
                Token::IoNumber(n) => Some(n.to_string()),
                Token::Newline => Some("NL".into()),
                Token::Word(_) => None,
            })
            .collect();
        assert_eq!(ops, ["&&", "||", ";", "2", ">&", ">>", "<", "&>", "NL"]);
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(
            words(r#"a'b c'"d\"e" \$f ''"#),
            vec![
                vec![lit("a", false), lit("b cd\"e", true)],
                vec![lit("$", true), lit("f", false)],
                vec![lit("", true)],
            ]
        );
        assert_eq!(words("\"a\\nb\""), vec![vec![lit("a\\nb", true)]]);
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(
            words("echo a#b # c d\n"),
            vec![vec![lit("echo", false)], vec![lit("a#b", false)]]
        );
        assert_eq!(words("ec\\\nho"), vec![vec![lit("echo", false)]]);
    }

    #[test]
    fn parameters() {
        let parts = &words("$HOME-x ${X:-a b}$? \"$1\"")[..];
        assert!(
            matches!(&parts[0][0], Part::Param { param: Param::Named(n), quoted: false, .. } if n == "HOME")
        );
        assert_eq!(parts[0][1], lit("-x", false));
        let Part::Param {
            default: Some(default),
            ..
        } = &parts[1][0]
        else {
            panic!("{:?}", parts[1]);
        };
        assert!(default.colon);
        assert_eq!(default.word.parts, vec![lit("a b", false)]);
        assert!(matches!(
            parts[1][1],
            Part::Param {
                param: Param::Status,
                ..
            }
        ));
        assert!(matches!(
            parts[2][1],
            Part::Param {
                param: Param::Positional(1),
                quoted: true,
                ..
            }
        ));
        assert_eq!(
            words("a$ $%"),
            vec![vec![lit("a$", false)], vec![lit("$%", false)]]
        );
    }

    #[test]
    fn errors() {
        for (source, message) in [
            ("echo 'open", "unterminated"),
            ("echo \"open", "unterminated"),
            ("echo $(date)", "not supported"),
            ("echo `date`", "not supported"),
            ("echo ${X", "missing"),
            ("echo ${X%y}", "unsupported substitution"),
        ] {
            let error = tokenize(source).unwrap_err();
            assert!(error.to_string().contains(message), "{source}: {error}");
        }
    }
}
