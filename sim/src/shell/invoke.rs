//! A shell's command line: `sh [-ex] [-c SCRIPT [NAME [ARGS...]] | FILE [ARGS...]]`.

/// How a shell was asked to run.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Mode<'a> {
    Command {
        script: &'a str,
        arg0: Option<&'a str>,
        args: &'a [String],
    },
    File {
        path: &'a str,
        args: &'a [String],
    },
    Stdin,
    MissingScript,
}

/// A shell's command line options.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ShellArgs<'a> {
    pub(super) errexit: bool,
    pub(super) xtrace: bool,
    pub(super) mode: Mode<'a>,
}

/// The last component of a command's path: how commands are looked up.
pub(super) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether a command name is one of the shells.
pub(super) fn is_shell(name: &str) -> bool {
    matches!(name, "sh" | "bash" | "dash" | "ash")
}

/// Parses a shell's arguments (those after its name).
pub(super) fn shell_args(args: &[String]) -> ShellArgs<'_> {
    let (mut errexit, mut xtrace, mut command) = (false, false, false);
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        if arg == "--" {
            index += 1;
            break;
        }
        let Some(flags) = arg.strip_prefix(['-', '+']).filter(|f| !f.is_empty()) else {
            break;
        };
        let on = arg.starts_with('-');
        index += 1;
        for flag in flags.chars() {
            match flag {
                'c' => command = true,
                'e' => errexit = on,
                'x' => xtrace = on,
                // The option name of `-o name`.
                'o' => index += 1,
                _ => {}
            }
        }
    }
    let rest = args.get(index..).unwrap_or_default();
    let mode = match (command, rest.split_first()) {
        (true, None) => Mode::MissingScript,
        (true, Some((script, rest))) => Mode::Command {
            script,
            arg0: rest.first().map(String::as_str),
            args: rest.get(1..).unwrap_or_default(),
        },
        (false, Some((path, args))) => Mode::File { path, args },
        (false, None) => Mode::Stdin,
    };
    ShellArgs {
        errexit,
        xtrace,
        mode,
    }
}

/// The script of `argv` when it is `sh -c SCRIPT...`.
pub(super) fn shell_script_of(argv: &[String]) -> Option<String> {
    let (name, args) = argv.split_first()?;
    if !is_shell(basename(name)) {
        return None;
    }
    match shell_args(args).mode {
        Mode::Command { script, .. } => Some(script.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn shell_options() {
        let args = strings(&["-ex", "-o", "pipefail", "-c", "echo $0 $1", "name", "one"]);
        let parsed = shell_args(&args);
        assert!(parsed.errexit && parsed.xtrace);
        assert_eq!(
            parsed.mode,
            Mode::Command {
                script: "echo $0 $1",
                arg0: Some("name"),
                args: &args[6..],
            }
        );
        assert_eq!(shell_args(&strings(&["-c"])).mode, Mode::MissingScript);
        assert_eq!(shell_args(&strings(&[])).mode, Mode::Stdin);
        assert_eq!(shell_args(&strings(&["-e"])).mode, Mode::Stdin);
        let file = strings(&["/run.sh", "a"]);
        assert_eq!(
            shell_args(&file).mode,
            Mode::File {
                path: "/run.sh",
                args: &file[1..]
            }
        );
    }

    #[test]
    fn scripts_of_shell_command_lines() {
        let script = |argv: &[&str]| shell_script_of(&strings(argv));
        assert_eq!(script(&["/bin/sh", "-c", "x"]).as_deref(), Some("x"));
        assert_eq!(script(&["bash", "-lc", "y"]).as_deref(), Some("y"));
        assert_eq!(script(&["sleep", "-c", "x"]), None);
        assert_eq!(script(&["sh", "/x.sh"]), None);
        assert_eq!(basename("/usr/bin/sleep"), "sleep");
    }
}
