//! The commands that need nothing of the shell's state: `echo`, `printf`, `sleep`, `cat`,
//! `test`, `true`, `false`. Every other name "runs until stopped".

use super::FileSource;
use std::time::Duration;

/// A file descriptor a command writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fd {
    Out,
    Err,
}

/// What a command does after its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Ends at once with this status.
    Done(i32),
    /// Ends with status 0 after this much virtual time.
    Sleep(Duration),
    /// Never ends on its own.
    Forever,
}

/// A command's writes, in order, and what it does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub writes: Vec<(Fd, Vec<u8>)>,
    pub effect: Effect,
}

impl Outcome {
    fn done(status: i32) -> Outcome {
        Outcome {
            writes: Vec::new(),
            effect: Effect::Done(status),
        }
    }

    fn write(mut self, fd: Fd, bytes: impl Into<Vec<u8>>) -> Outcome {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.writes.push((fd, bytes));
        }
        self
    }
}

/// Runs the command `name` (a basename) with `args`.
pub(super) fn run(
    name: &str,
    args: &[String],
    files: &dyn FileSource,
    stdin_open: bool,
) -> Outcome {
    match name {
        ":" | "true" => Outcome::done(0),
        "false" => Outcome::done(1),
        "echo" => Outcome::done(0).write(Fd::Out, echo(args)),
        "printf" => printf(args),
        "sleep" => sleep(args),
        "cat" => cat(args, files, stdin_open),
        "test" => test_command(name, args, files),
        "[" | "[[" => {
            let close = if name == "[" { "]" } else { "]]" };
            match args.split_last() {
                Some((last, rest)) if last == close => test_command(name, rest, files),
                _ => Outcome::done(2).write(Fd::Err, format!("{name}: missing {close}\n")),
            }
        }
        _ => Outcome {
            writes: Vec::new(),
            effect: Effect::Forever,
        },
    }
}

fn echo(args: &[String]) -> Vec<u8> {
    let mut newline = true;
    let mut escapes = false;
    let mut words = args;
    while let Some((first, rest)) = words.split_first() {
        let Some(flags) = first.strip_prefix('-') else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        for flag in flags.chars() {
            match flag {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        words = rest;
    }
    let mut text = words.join(" ");
    if escapes {
        let (unescaped, stop) = unescape(&text);
        text = unescaped;
        if stop {
            return text.into_bytes();
        }
    }
    if newline {
        text.push('\n');
    }
    text.into_bytes()
}

/// Replaces `\n`, `\t`, `\r`, `\\`, `\a`, `\e` escapes; says whether a `\c` asked to stop there.
fn unescape(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('e') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('c') => return (out, true),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    (out, false)
}

fn printf(args: &[String]) -> Outcome {
    let Some((format, mut rest)) = args.split_first() else {
        return Outcome::done(2).write(Fd::Err, "printf: usage: printf format [arguments]\n");
    };
    let (format, _) = unescape(format);
    let mut out = String::new();
    let mut errors = String::new();
    // The format is reused while arguments remain, as long as it consumes some.
    loop {
        let consumed = render(&format, rest, &mut out, &mut errors);
        rest = &rest[consumed.min(rest.len())..];
        if consumed == 0 || rest.is_empty() {
            break;
        }
    }
    let status = i32::from(!errors.is_empty());
    Outcome::done(status)
        .write(Fd::Out, out)
        .write(Fd::Err, errors)
}

/// Renders `format` once with `args`; returns how many arguments its conversions used.
fn render(format: &str, args: &[String], out: &mut String, errors: &mut String) -> usize {
    let mut used = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&c) = chars
            .peek()
            .filter(|c| matches!(c, '-' | '0' | '+' | ' ' | '#'))
        {
            spec.push(c);
            chars.next();
        }
        while let Some(&c) = chars.peek().filter(|c| c.is_ascii_digit() || **c == '.') {
            spec.push(c);
            chars.next();
        }
        let Some(conversion) = chars.next() else {
            out.push('%');
            out.push_str(&spec);
            break;
        };
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let arg = args.get(used).map(String::as_str);
        used += 1;
        let text = match conversion {
            's' | 'b' => {
                let text = arg.unwrap_or("");
                if conversion == 'b' {
                    unescape(text).0
                } else {
                    text.to_owned()
                }
            }
            'c' => arg
                .and_then(|a| a.chars().next())
                .map(String::from)
                .unwrap_or_default(),
            'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
                let number = match arg.map(parse_integer) {
                    None => 0,
                    Some(Ok(n)) => n,
                    Some(Err(bad)) => {
                        errors.push_str(&format!("printf: invalid number '{bad}'\n"));
                        0
                    }
                };
                match conversion {
                    'x' => format!("{number:x}"),
                    'X' => format!("{number:X}"),
                    'o' => format!("{number:o}"),
                    _ => number.to_string(),
                }
            }
            other => {
                errors.push_str(&format!("printf: %{other}: invalid format\n"));
                used -= 1;
                continue;
            }
        };
        out.push_str(&pad(&spec, text, conversion == 's' || conversion == 'b'));
    }
    used
}

/// Applies the flags, width and precision of a conversion.
fn pad(spec: &str, mut text: String, is_string: bool) -> String {
    let left = spec.contains('-');
    let digits = spec.trim_start_matches(['-', '0', '+', ' ', '#']);
    let zero = spec.starts_with('0')
        || spec
            .trim_start_matches(['-', '+', ' ', '#'])
            .starts_with('0');
    let (width, precision) = match digits.split_once('.') {
        Some((width, precision)) => (width, precision.parse::<usize>().ok().or(Some(0))),
        None => (digits, None),
    };
    if let Some(precision) = precision.filter(|_| is_string) {
        text = text.chars().take(precision).collect();
    }
    let width = width.parse::<usize>().unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        return text;
    }
    let fill = width - len;
    if left {
        text + &" ".repeat(fill)
    } else if zero && !is_string {
        match text.strip_prefix('-') {
            Some(digits) => format!("-{}{digits}", "0".repeat(fill)),
            None => "0".repeat(fill) + &text,
        }
    } else {
        " ".repeat(fill) + &text
    }
}

/// Parses a decimal integer, allowing blanks around it; the error is the text.
fn parse_integer(text: &str) -> Result<i64, &str> {
    text.trim().parse::<i64>().map_err(|_| text)
}

fn sleep(args: &[String]) -> Outcome {
    if args.is_empty() {
        return Outcome::done(1).write(Fd::Err, "sleep: missing operand\n");
    }
    let mut total = Some(Duration::ZERO);
    for arg in args {
        match parse_sleep(arg) {
            Ok(Some(duration)) => total = total.and_then(|t| t.checked_add(duration)),
            Ok(None) => total = None,
            Err(()) => {
                return Outcome::done(1).write(Fd::Err, format!("sleep: invalid number '{arg}'\n"));
            }
        }
    }
    Outcome {
        writes: Vec::new(),
        effect: total.map_or(Effect::Forever, Effect::Sleep),
    }
}

/// Parses a `sleep` operand: `N`, `N.M`, with an optional `s`, `m`, `h` or `d` suffix, or
/// `infinity`. `Ok(None)` means forever (also for durations too long to represent).
pub(super) fn parse_sleep(arg: &str) -> Result<Option<Duration>, ()> {
    if arg == "infinity" || arg == "inf" {
        return Ok(None);
    }
    let (number, unit) = match arg.char_indices().last() {
        Some((at, 's')) => (&arg[..at], 1),
        Some((at, 'm')) => (&arg[..at], 60),
        Some((at, 'h')) => (&arg[..at], 3600),
        Some((at, 'd')) => (&arg[..at], 86_400),
        _ => (arg, 1),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return Err(());
    }
    let Ok(whole) = whole
        .parse::<u128>()
        .or_else(|e| if whole.is_empty() { Ok(0) } else { Err(e) })
    else {
        return Ok(None);
    };
    let nanos: u128 = format!("{:0<9}", &fraction[..fraction.len().min(9)])
        .parse()
        .unwrap_or(0);
    let total = (whole.saturating_mul(1_000_000_000).saturating_add(nanos)).saturating_mul(unit);
    let secs = total / 1_000_000_000;
    match u64::try_from(secs) {
        // Leave room for the process clock: anything beyond a century is forever in practice.
        Ok(secs) if secs < 100 * 365 * 86_400 => {
            Ok(Some(Duration::new(secs, (total % 1_000_000_000) as u32)))
        }
        _ => Ok(None),
    }
}

fn cat(args: &[String], files: &dyn FileSource, stdin_open: bool) -> Outcome {
    let operands: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a == "-" || !a.starts_with('-'))
        .collect();
    let operands = if operands.is_empty() {
        vec!["-"]
    } else {
        operands
    };
    let mut outcome = Outcome::done(0);
    for path in operands {
        if path == "-" {
            if stdin_open {
                outcome.effect = Effect::Forever;
                return outcome;
            }
            continue;
        }
        match files.read(path) {
            Some(bytes) => outcome = outcome.write(Fd::Out, bytes),
            None => {
                outcome = outcome.write(
                    Fd::Err,
                    format!("cat: can't open '{path}': No such file or directory\n"),
                );
                outcome.effect = Effect::Done(1);
            }
        }
    }
    outcome
}

fn test_command(name: &str, args: &[String], files: &dyn FileSource) -> Outcome {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match test(&args, files) {
        Ok(true) => Outcome::done(0),
        Ok(false) => Outcome::done(1),
        Err(message) => Outcome::done(2).write(Fd::Err, format!("{name}: {message}\n")),
    }
}

/// Evaluates a `test` expression of up to four arguments (POSIX's rules by argument count).
fn test(args: &[&str], files: &dyn FileSource) -> Result<bool, String> {
    match args {
        [] => Ok(false),
        [single] => Ok(!single.is_empty()),
        ["!", rest @ ..] if args.len() <= 4 && !(args.len() == 3 && is_binary(args[1])) => {
            test(rest, files).map(|result| !result)
        }
        [op, operand] => unary(op, operand, files),
        [left, op, right] if is_binary(op) => binary(left, op, right),
        ["(", inner, ")"] => test(&[inner], files),
        [_, _, _] => Err(format!("{}: binary operator expected", args[1])),
        _ => Err("too many arguments".to_owned()),
    }
}

fn is_binary(op: &str) -> bool {
    matches!(
        op,
        "=" | "==" | "!=" | "<" | ">" | "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"
    )
}

fn unary(op: &str, operand: &str, files: &dyn FileSource) -> Result<bool, String> {
    match op {
        "-n" => Ok(!operand.is_empty()),
        "-z" => Ok(operand.is_empty()),
        "-e" | "-f" | "-r" => Ok(files.read(operand).is_some()),
        "-s" => Ok(files.read(operand).is_some_and(|bytes| !bytes.is_empty())),
        "-d" => Ok(operand == "/"),
        "-x" | "-w" | "-L" | "-h" | "-p" | "-S" | "-t" | "-b" | "-c" => Ok(false),
        _ => Err(format!("{op}: unary operator expected")),
    }
}

fn binary(left: &str, op: &str, right: &str) -> Result<bool, String> {
    let number = |text: &str| {
        text.trim()
            .parse::<i64>()
            .map_err(|_| format!("{text}: integer expression expected"))
    };
    Ok(match op {
        "=" | "==" => left == right,
        "!=" => left != right,
        "<" => left < right,
        ">" => left > right,
        _ => {
            let (l, r) = (number(left)?, number(right)?);
            match op {
                "-eq" => l == r,
                "-ne" => l != r,
                "-lt" => l < r,
                "-le" => l <= r,
                "-gt" => l > r,
                _ => l >= r,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::NoFiles;
    use super::*;
    use std::collections::BTreeMap;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    fn stdout(name: &str, args: &[&str]) -> String {
        let outcome = run(name, &strings(args), &NoFiles, false);
        outcome
            .writes
            .iter()
            .filter(|(fd, _)| *fd == Fd::Out)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    fn status(name: &str, args: &[&str]) -> Effect {
        run(name, &strings(args), &NoFiles, false).effect
    }

    #[test]
    fn echo_flags_and_escapes() {
        assert_eq!(stdout("echo", &["a", "b"]), "a b\n");
        assert_eq!(stdout("echo", &[]), "\n");
        assert_eq!(stdout("echo", &["-n", "a"]), "a");
        assert_eq!(stdout("echo", &["-e", "a\\tb\\nc\\\\"]), "a\tb\nc\\\n");
        assert_eq!(stdout("echo", &["-ne", "x\\n"]), "x\n");
        assert_eq!(stdout("echo", &["a\\n"]), "a\\n\n");
        assert_eq!(stdout("echo", &["-e", "a\\cb"]), "a");
        assert_eq!(stdout("echo", &["-x", "-n"]), "-x -n\n");
        assert_eq!(stdout("echo", &["-"]), "-\n");
    }

    #[test]
    fn printf_conversions_and_recycling() {
        assert_eq!(stdout("printf", &["%s-%d%%\\n", "a", "7"]), "a-7%\n");
        assert_eq!(stdout("printf", &["%s\\n", "a", "b", "c"]), "a\nb\nc\n");
        assert_eq!(
            stdout("printf", &["%s=%s;", "k1", "v1", "k2"]),
            "k1=v1;k2=;"
        );
        assert_eq!(stdout("printf", &["no args\\t"]), "no args\t");
        assert_eq!(stdout("printf", &["plain", "ignored"]), "plain");
        assert_eq!(
            stdout("printf", &["[%5s|%-3s|%03d|%.2s]", "ab", "c", "7", "xyz"]),
            "[   ab|c  |007|xy]"
        );
        assert_eq!(stdout("printf", &["%x %c", "255", "hello"]), "ff h");
        let bad = run("printf", &strings(&["%d", "x"]), &NoFiles, false);
        assert_eq!(bad.effect, Effect::Done(1));
        assert_eq!(bad.writes[0], (Fd::Out, b"0".to_vec()));
        assert!(
            matches!(&bad.writes[1], (Fd::Err, msg) if msg.starts_with(b"printf: invalid number"))
        );
        assert_eq!(status("printf", &[]), Effect::Done(2));
    }

    #[test]
    fn sleep_durations() {
        let secs = |s: f64| Effect::Sleep(Duration::from_secs_f64(s));
        assert_eq!(status("sleep", &["2"]), secs(2.0));
        assert_eq!(status("sleep", &["0.25"]), secs(0.25));
        assert_eq!(status("sleep", &[".5"]), secs(0.5));
        assert_eq!(status("sleep", &["3s"]), secs(3.0));
        assert_eq!(status("sleep", &["2m"]), secs(120.0));
        assert_eq!(status("sleep", &["1h", "1"]), secs(3601.0));
        assert_eq!(status("sleep", &["infinity"]), Effect::Forever);
        assert_eq!(
            status("sleep", &["99999999999999999999999"]),
            Effect::Forever
        );
        assert_eq!(
            parse_sleep("0.000000001"),
            Ok(Some(Duration::from_nanos(1)))
        );
        for bad in ["x", "-1", "", "1.2.3", "s", "."] {
            assert_eq!(status("sleep", &[bad]), Effect::Done(1), "{bad:?}");
        }
        assert_eq!(status("sleep", &[]), Effect::Done(1));
    }

    #[test]
    fn cat_reads_files_and_stdin() {
        let files = BTreeMap::from([("/a".to_owned(), b"A\n".to_vec())]);
        let outcome = run("cat", &strings(&["/a", "/missing", "/a"]), &files, false);
        assert_eq!(outcome.effect, Effect::Done(1));
        assert_eq!(outcome.writes.len(), 3);
        assert_eq!(
            outcome.writes[1],
            (
                Fd::Err,
                b"cat: can't open '/missing': No such file or directory\n".to_vec()
            )
        );
        assert_eq!(run("cat", &[], &files, false).effect, Effect::Done(0));
        let waiting = run("cat", &strings(&["/a", "-"]), &files, true);
        assert_eq!((waiting.effect, waiting.writes.len()), (Effect::Forever, 1));
    }

    #[test]
    fn test_expressions() {
        let files = BTreeMap::from([("/f".to_owned(), Vec::new())]);
        let check = |args: &[&str]| run("[", &strings(args), &files, false).effect;
        assert_eq!(check(&["a", "=", "a", "]"]), Effect::Done(0));
        assert_eq!(check(&["a", "!=", "a", "]"]), Effect::Done(1));
        assert_eq!(check(&["3", "-lt", "10", "]"]), Effect::Done(0));
        assert_eq!(check(&["-z", "", "]"]), Effect::Done(0));
        assert_eq!(check(&["!", "-n", "", "]"]), Effect::Done(0));
        assert_eq!(check(&["-f", "/f", "]"]), Effect::Done(0));
        assert_eq!(check(&["-s", "/f", "]"]), Effect::Done(1));
        assert_eq!(check(&["-e", "/nope", "]"]), Effect::Done(1));
        assert_eq!(check(&["x", "]"]), Effect::Done(0));
        assert_eq!(check(&["]"]), Effect::Done(1));
        assert_eq!(check(&["a", "-eq", "1", "]"]), Effect::Done(2));
        assert_eq!(check(&["a", "="]), Effect::Done(2));
        assert_eq!(
            run("test", &strings(&["!", "a", "=", "b"]), &files, false).effect,
            Effect::Done(0)
        );
    }

    #[test]
    fn unknown_commands_run_forever() {
        assert_eq!(status("nginx", &["-g", "daemon off;"]), Effect::Forever);
        assert_eq!(status("true", &[]), Effect::Done(0));
        assert_eq!(status("false", &[]), Effect::Done(1));
        assert_eq!(status(":", &["x"]), Effect::Done(0));
    }
}
