use super::*;
use proptest::prelude::*;

const HEADER: &str = r#"{"kind":"header","format":1,"k8s":"1.36","source":"synthetic","recorder":"test","runtime":{"name":"any"}}"#;

fn with_header(lines: &[&str]) -> String {
    let mut text = String::from(HEADER);
    for line in lines {
        text.push('\n');
        text.push_str(line);
    }
    text
}

fn error_of(lines: &[&str]) -> ParseError {
    parse(&with_header(lines)).expect_err("the trace must not parse")
}

const RUN: &str = r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"RunPodSandbox","request":{"config":{"metadata":{"name":"p"}}},"response":{"podSandboxId":"$SB1"}}"#;

#[test]
fn a_valid_trace_parses_with_line_numbers() {
    let trace = parse(&with_header(&[
        "# a comment",
        "",
        RUN,
        r#"{"kind":"call","seq":2,"svc":"RuntimeService","method":"PodSandboxStatus","request":{"podSandboxId":"$SB1"},"response":{"status":{"id":"$SB1","createdAt":{"$type":"int"}}}}"#,
        r#"{"kind":"action","do":"advance_clock","seconds":1.5}"#,
        r#"{"kind":"file","path":"{{$LOG_ROOT}}/x.log","expect_lines":[{"$re":"^\\S+ stdout F hi$"}]}"#,
    ]))
    .unwrap();
    assert_eq!(trace.header.k8s, "1.36");
    let lines: Vec<usize> = trace.entries.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
}

#[test]
fn errors_name_their_line() {
    let cases: Vec<(Vec<&str>, usize, &str)> = vec![
        (vec!["{not json"], 2, "bad JSON"),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Frobnicate","request":{},"response":{}}"#,
            ],
            2,
            "unknown CRI method",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"ImageService","method":"Version","request":{},"response":{}}"#,
            ],
            2,
            "belongs to RuntimeService",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"StopPodSandbox","request":{"podSandboxId":"$SB9"},"response":{}}"#,
            ],
            2,
            "$SB9 used before",
        ),
        (
            vec![
                RUN,
                r#"{"kind":"call","seq":2,"svc":"RuntimeService","method":"StopPodSandbox","request":{"podSandboxId":"x{{$NOPE}}"},"response":{}}"#,
            ],
            3,
            "$NOPE used before",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{},"response":{"version":{"$frob":1}}}"#,
            ],
            2,
            "malformed matcher $frob",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{},"response":{"version":{"$re":"("}}}"#,
            ],
            2,
            "bad regular expression",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{},"response":{"version":{"$type":"x","$any":true}}}"#,
            ],
            2,
            "exactly one",
        ),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{"bogus":1},"response":{}}"#,
            ],
            2,
            "not a valid Version request",
        ),
        (vec![RUN, RUN], 3, "does not follow"),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{}}"#,
            ],
            2,
            "needs a response or an error",
        ),
        (
            vec![r#"{"kind":"stream_msg","of":4,"msg":{}}"#],
            2,
            "no earlier call",
        ),
        (
            vec![r#"{"kind":"action","do":"teleport"}"#],
            2,
            "unknown action",
        ),
        (
            vec![r#"{"kind":"action","do":"advance_clock"}"#],
            2,
            "needs seconds",
        ),
        (vec![r#"{"kind":"nonsense"}"#], 2, "unknown kind"),
        (vec![HEADER], 2, "only the first line"),
        (
            vec![
                r#"{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{},"response":{},"bind":{"$X":"items.id"}}"#,
            ],
            2,
            "bad bind path",
        ),
    ];
    for (lines, line, needle) in cases {
        let error = error_of(&lines);
        assert_eq!(error.line, line, "{error}");
        assert!(
            error.to_string().contains(needle),
            "{error:?} does not say {needle:?}"
        );
    }
    let error = parse(RUN).unwrap_err();
    assert_eq!((error.line, error.kind), (1, ParseErrorKind::MissingHeader));
}

#[test]
fn every_fixture_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/traces");
    for minor in std::fs::read_dir(root).unwrap() {
        let minor = minor.unwrap().path();
        if minor.is_dir() {
            for file in std::fs::read_dir(minor).unwrap() {
                let file = file.unwrap().path();
                load(&file).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

fn fixture_lines() -> Vec<String> {
    let text = include_str!("../../../fixtures/traces/1.36/container-events.jsonl");
    text.lines().map(str::to_string).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        let _ = parse(&format!("{HEADER}\n{text}"));
    }

    /// Lines of random JSON-ish tokens never panic the parser.
    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec("[{}\\[\\]\":,$a-z0-9 ]{0,60}", 0..8)) {
        let _ = parse(&format!("{HEADER}\n{}", lines.join("\n")));
    }

    /// A valid trace with one line dropped, duplicated, truncated or byte-flipped parses or
    /// fails with a line number inside the file, never panics.
    #[test]
    fn mutated_fixtures_fail_cleanly(index in 0usize..64, cut in 0usize..200, op in 0u8..4, byte in any::<u8>()) {
        let mut lines = fixture_lines();
        let i = index % lines.len();
        match op {
            0 => { lines.remove(i); }
            1 => { let l = lines[i].clone(); lines.insert(i, l); }
            2 => { lines[i] = lines[i].chars().take(cut).collect(); }
            _ => {
                let mut raw = lines[i].clone().into_bytes();
                if !raw.is_empty() { let at = cut % raw.len(); raw[at] = byte; }
                lines[i] = String::from_utf8_lossy(&raw).into_owned();
            }
        }
        let text = lines.join("\n");
        if let Err(error) = parse(&text) {
            prop_assert!(error.line >= 1 && error.line <= lines.len().max(1), "{error}");
        }
    }
}
