//! Tests of plans and injectors together.

use super::*;
use crius::error::ErrorKind;
use std::path::Path;
use std::time::Duration;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/fault-plans/example.toml"
);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn injector(toml: &str) -> FaultInjector {
    FaultInjector::new(FaultPlan::from_toml_str(toml).unwrap()).unwrap()
}

/// The `toml` block of the module documentation.
fn doc_example() -> String {
    let source = include_str!("mod.rs");
    let mut lines = source
        .lines()
        .map(|line| line.strip_prefix("//!").unwrap_or(line));
    lines
        .by_ref()
        .find(|line| line.trim() == "```toml")
        .unwrap();
    let mut example = String::new();
    for line in lines.take_while(|line| line.trim() != "```") {
        example.push_str(line.strip_prefix(' ').unwrap_or(line));
        example.push('\n');
    }
    example
}

fn example_plan_in_code() -> FaultPlan {
    FaultPlan::builder()
        .seed(42)
        .call("PullImage")
        .image("*nginx*")
        .nth(2)
        .code(ErrorKind::Unavailable)
        .message("registry unavailable")
        .done()
        .latency("StartContainer", ms(250))
        .call("RunPodSandbox")
        .pod("web-*")
        .times(3)
        .code(ErrorKind::DeadlineExceeded)
        .latency(secs(2))
        .done()
        .call("ExecSync")
        .container("db*")
        .probability(0.1)
        .code(ErrorKind::Unknown)
        .done()
        .call("RemoveContainer")
        .after(4)
        .code(ErrorKind::NotFound)
        .done()
        .oom("app*", secs(3))
        .process("worker", secs(1))
        .pod("batch-?")
        .times(2)
        .crash(2)
        .done()
        .build()
}

#[test]
fn the_doc_example_is_the_fixture_and_parses_in_full() {
    let fixture = std::fs::read_to_string(FIXTURE).unwrap();
    assert_eq!(doc_example(), fixture);

    let plan = FaultPlan::from_toml_str(&fixture).unwrap();
    assert_eq!(plan.seed, 42);
    assert_eq!(plan.calls.len(), 5);
    let pull = &plan.calls[0];
    assert_eq!(pull.method, "PullImage");
    assert_eq!(pull.image.as_deref(), Some("*nginx*"));
    assert_eq!(pull.nth, Some(2));
    assert_eq!(pull.code, Some(ErrorKind::Unavailable));
    assert_eq!(pull.error_message(), "registry unavailable");
    assert_eq!(plan.calls[1].latency, Some(ms(250)));
    assert_eq!(
        plan.calls[1].error_message(),
        "injected fault: StartContainer"
    );
    let sandbox = &plan.calls[2];
    assert_eq!(
        (sandbox.pod.as_deref(), sandbox.times),
        (Some("web-*"), Some(3))
    );
    assert_eq!(
        (sandbox.code, sandbox.latency),
        (Some(ErrorKind::DeadlineExceeded), Some(secs(2)))
    );
    assert_eq!(plan.calls[3].probability, Some(0.1));
    assert_eq!(plan.calls[3].container.as_deref(), Some("db*"));
    assert_eq!(plan.calls[4].after, Some(4));
    assert_eq!(plan.processes.len(), 2);
    let oom = &plan.processes[0];
    assert_eq!((oom.container.as_str(), oom.after), ("app*", secs(3)));
    assert_eq!((oom.effect, oom.exit_code), (ProcessEffectKind::Oom, None));
    let crash = &plan.processes[1];
    assert_eq!(
        (crash.pod.as_deref(), crash.times),
        (Some("batch-?"), Some(2))
    );
    assert_eq!(
        (crash.effect, crash.exit_code),
        (ProcessEffectKind::Crash, Some(2))
    );
}

#[test]
fn the_fixture_loads_and_validates() {
    let plan = FaultPlan::load(FIXTURE).unwrap();
    plan.validate().unwrap();
    FaultInjector::new(plan).unwrap();
}

#[test]
fn the_builder_makes_the_same_plan_as_the_toml() {
    assert_eq!(example_plan_in_code(), FaultPlan::load(FIXTURE).unwrap());
}

#[test]
fn an_empty_plan_is_valid_and_injects_nothing() {
    let plan = FaultPlan::from_toml_str("").unwrap();
    assert_eq!(plan, FaultPlan::default());
    for injector in [FaultInjector::new(plan).unwrap(), FaultInjector::none()] {
        assert!(
            injector
                .check(&CallSite::new("PullImage").image("nginx"))
                .is_none()
        );
        assert_eq!(injector.process_fault("app", "web"), None);
        assert!(injector.log().is_empty());
    }
}

fn rule_error(toml: &str) -> (RuleSection, usize, &'static str, String) {
    match FaultPlan::from_toml_str(toml) {
        Err(FaultPlanError::Rule {
            section,
            index,
            field,
            problem,
            ..
        }) => (section, index, field, problem),
        other => panic!("expected a rule error, got {other:?}"),
    }
}

fn parse_error(toml: &str) -> (usize, String) {
    match FaultPlan::from_toml_str(toml) {
        Err(FaultPlanError::Parse { line, message, .. }) => (line, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

const FIRST_RULE_OK: &str = "[[call]]\nmethod = \"PullImage\"\ncode = \"Unavailable\"\n";

#[test]
fn an_unknown_method_names_the_rule_and_field() {
    let toml = format!("{FIRST_RULE_OK}[[call]]\nmethod = \"Pullimage\"\ncode = \"Unknown\"\n");
    let (section, index, field, problem) = rule_error(&toml);
    assert_eq!((section, index, field), (RuleSection::Call, 1, "method"));
    assert!(problem.contains("\"Pullimage\"") && problem.contains("did you mean \"PullImage\""));
    let message = FaultPlan::from_toml_str(&toml).unwrap_err().to_string();
    assert!(
        message.starts_with("fault plan: call[1].method: unknown CRI method"),
        "{message}"
    );
}

#[test]
fn an_unknown_code_is_reported_at_its_line() {
    let (line, message) = parse_error("[[call]]\nmethod = \"PullImage\"\ncode = \"Down\"\n");
    assert_eq!(line, 3);
    assert!(message.contains("unknown gRPC code \"Down\""), "{message}");
    assert!(message.contains("Unavailable"), "{message}");
}

#[test]
fn a_probability_outside_zero_to_one_is_rejected() {
    for p in ["1.5", "-0.1", "nan"] {
        let toml =
            format!("[[call]]\nmethod = \"ExecSync\"\nprobability = {p}\ncode = \"Unknown\"\n");
        let (_, index, field, _) = rule_error(&toml);
        assert_eq!((index, field), (0, "probability"), "{p}");
    }
    let whole = "[[call]]\nmethod = \"ExecSync\"\nprobability = 1\ncode = \"Unknown\"\n";
    assert_eq!(
        FaultPlan::from_toml_str(whole).unwrap().calls[0].probability,
        Some(1.0)
    );
}

#[test]
fn a_rule_without_effect_is_rejected() {
    let (section, index, field, problem) = rule_error("[[call]]\nmethod = \"StopContainer\"\n");
    assert_eq!((section, index, field), (RuleSection::Call, 0, "code"));
    assert!(problem.contains("no effect"), "{problem}");
    let (_, _, field, _) =
        rule_error("[[call]]\nmethod = \"StopContainer\"\nmessage = \"x\"\nlatency = \"1s\"\n");
    assert_eq!(field, "message");
}

#[test]
fn a_bad_duration_is_reported_at_its_line() {
    let (line, message) =
        parse_error("[[call]]\nmethod = \"StartContainer\"\n\nlatency = \"2 fortnights\"\n");
    assert_eq!(line, 4);
    assert!(
        message.contains("invalid duration \"2 fortnights\""),
        "{message}"
    );
    let (line, _) =
        parse_error("[[process]]\ncontainer = \"app\"\neffect = \"oom\"\nafter = \"soon\"\n");
    assert_eq!(line, 4);
}

#[test]
fn unknown_fields_are_rejected_everywhere() {
    let (line, message) = parse_error("seed = 1\nseeds = 2\n");
    assert_eq!(line, 2);
    assert!(message.contains("unknown field `seeds`"), "{message}");
    let (line, message) = parse_error(&format!("{FIRST_RULE_OK}imagee = \"x\"\n"));
    assert_eq!(line, 4);
    assert!(message.contains("unknown field `imagee`"), "{message}");
    let (_, message) = parse_error(
        "[[process]]\ncontainer = \"a\"\nafter = \"1s\"\neffect = \"oom\"\nprobability = 0.5\n",
    );
    assert!(message.contains("unknown field `probability`"), "{message}");
    let (_, message) =
        parse_error("[[process]]\ncontainer = \"a\"\nafter = \"1s\"\neffect = \"segfault\"\n");
    assert!(message.contains("segfault"), "{message}");
}

#[test]
fn other_rule_mistakes_name_their_field() {
    let call = |extra: &str| {
        rule_error(&format!(
            "[[call]]\nmethod = \"ExecSync\"\ncode = \"Unknown\"\n{extra}"
        ))
    };
    assert_eq!(call("nth = 2\ntimes = 3\n").2, "times");
    assert_eq!(call("after = 1\nprobability = 0.5\n").2, "probability");
    assert_eq!(call("nth = 0\n").2, "nth");
    assert_eq!(call("times = 0\n").2, "times");
    assert_eq!(call("pod = \"\"\n").2, "pod");
    let process = |extra: &str| {
        rule_error(&format!(
            "[[process]]\ncontainer = \"a\"\nafter = \"1s\"\n{extra}"
        ))
    };
    let (section, index, field, _) = process("effect = \"oom\"\nexit_code = 3\n");
    assert_eq!(
        (section, index, field),
        (RuleSection::Process, 0, "exit_code")
    );
    assert_eq!(
        process("effect = \"crash\"\nexit_code = 256\n").2,
        "exit_code"
    );
    assert_eq!(
        process("effect = \"crash\"\nnth = 1\ntimes = 1\n").2,
        "times"
    );
}

#[test]
fn builder_plans_are_validated_by_the_injector() {
    let plan = FaultPlan::builder()
        .call("Pull")
        .code(ErrorKind::Unknown)
        .done()
        .build();
    let err = FaultInjector::new(plan).unwrap_err();
    assert!(
        matches!(
            err,
            FaultPlanError::Rule {
                index: 0,
                field: "method",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn load_errors_name_the_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(
        &path,
        "seed = 3\n[[call]]\nmethod = \"PullImage\"\nlatency = 5\n",
    )
    .unwrap();
    let message = FaultPlan::load(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}:4:", path.display())),
        "{message}"
    );

    std::fs::write(
        &path,
        "[[process]]\ncontainer = \"\"\nafter = \"1s\"\neffect = \"oom\"\n",
    )
    .unwrap();
    let message = FaultPlan::load(&path).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}: process[0].container: the pattern is empty",
            path.display()
        )
    );

    let missing = dir.path().join("missing.toml");
    let err = FaultPlan::load(&missing).unwrap_err();
    assert!(matches!(&err, FaultPlanError::Read { path, .. } if path == Path::new(&missing)));
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

/// Which of `calls` calls to `site` fail.
fn failing_calls(injector: &FaultInjector, site: CallSite<'_>, calls: u64) -> Vec<u64> {
    (1..=calls)
        .filter(|_| injector.check(&site).error.is_some())
        .collect()
}

#[test]
fn nth_times_and_after_count_matching_calls() {
    let plan = |trigger: &str| {
        injector(&format!(
            "[[call]]\nmethod = \"StopContainer\"\ncode = \"Unavailable\"\n{trigger}"
        ))
    };
    let site = CallSite::new("StopContainer");
    assert_eq!(failing_calls(&plan("nth = 3\n"), site, 8), [3]);
    assert_eq!(failing_calls(&plan("times = 2\n"), site, 8), [1, 2]);
    assert_eq!(failing_calls(&plan("after = 5\n"), site, 8), [6, 7, 8]);
    assert_eq!(failing_calls(&plan("after = 0\n"), site, 3), [1, 2, 3]);
    assert_eq!(failing_calls(&plan(""), site, 3), [1, 2, 3]);
    assert_eq!(
        failing_calls(&plan("probability = 0.0\n"), site, 50),
        [] as [u64; 0]
    );
    assert_eq!(
        failing_calls(&plan("probability = 1.0\n"), site, 5),
        [1, 2, 3, 4, 5]
    );

    // Calls the rule does not match do not count.
    let injector = plan("nth = 2\n");
    assert!(injector.check(&CallSite::new("StartContainer")).is_none());
    assert!(injector.check(&site).is_none());
    assert!(injector.check(&CallSite::new("StartContainer")).is_none());
    let second = injector.check(&site);
    assert_eq!(
        second.error,
        Some((
            ErrorKind::Unavailable,
            "injected fault: StopContainer".into()
        ))
    );
    assert_eq!(
        injector.log(),
        [FiredFault::Call {
            rule: 0,
            method: "StopContainer".into(),
            call: 2,
            error: Some(ErrorKind::Unavailable),
            latency: None,
        }]
    );
}

#[test]
fn matchers_are_globs_over_image_container_and_pod() {
    let injector = injector(
        "[[call]]\nmethod = \"PullImage\"\nimage = \"*nginx*\"\ncode = \"NotFound\"\n\
         [[call]]\nmethod = \"CreateContainer\"\ncontainer = \"app-?\"\npod = \"web-*\"\ncode = \"Internal\"\n",
    );
    let fails = |site: CallSite<'_>| injector.check(&site).error.map(|(kind, _)| kind);
    assert_eq!(
        fails(CallSite::new("PullImage").image("docker.io/library/nginx:1.27")),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        fails(CallSite::new("PullImage").image("docker.io/library/redis:7")),
        None
    );
    assert_eq!(
        fails(CallSite::new("PullImage")),
        None,
        "no image, no match"
    );
    let create = CallSite::new("CreateContainer").image("nginx");
    assert_eq!(
        fails(create.container("app-1").pod("web-0")),
        Some(ErrorKind::Internal)
    );
    assert_eq!(fails(create.container("app-12").pod("web-0")), None);
    assert_eq!(fails(create.container("app-1").pod("db-0")), None);
    assert_eq!(fails(create.container("app-1")), None);
}

/// Which of the first `calls` `ExecSync` calls into `db` fail under a 30% rule with `seed`,
/// with `noise` unrelated calls before each one.
fn probability_sequence(seed: u64, calls: u64, noise: bool) -> Vec<u64> {
    let injector = injector(&format!(
        "seed = {seed}\n\
         [[call]]\nmethod = \"PullImage\"\nprobability = 0.5\ncode = \"Unavailable\"\n\
         [[call]]\nmethod = \"ExecSync\"\ncontainer = \"db*\"\nprobability = 0.3\ncode = \"Unknown\"\n"
    ));
    let site = CallSite::new("ExecSync").container("db-0");
    (1..=calls)
        .filter(|n| {
            if noise {
                for _ in 0..n % 4 {
                    injector.check(&CallSite::new("PullImage").image("nginx"));
                    injector.check(&CallSite::new("ExecSync").container("web"));
                    injector.check(&CallSite::new("StartContainer").container("db-0"));
                }
            }
            injector.check(&site).error.is_some()
        })
        .collect()
}

#[test]
fn probabilities_are_determined_by_the_seed_alone() {
    let first = probability_sequence(7, 200, false);
    assert_eq!(first, probability_sequence(7, 200, false));
    assert_ne!(first, probability_sequence(8, 200, false));
    assert_eq!(
        first,
        probability_sequence(7, 200, true),
        "unrelated calls shifted the draws"
    );
    // Roughly 30% of 200.
    assert!((30..=90).contains(&first.len()), "{}", first.len());
}

#[test]
fn latencies_add_up_and_the_first_error_wins() {
    let injector = injector(
        "[[call]]\nmethod = \"StartContainer\"\nlatency = \"50ms\"\n\
         [[call]]\nmethod = \"StartContainer\"\nnth = 2\ncode = \"DeadlineExceeded\"\nlatency = \"2s\"\n\
         [[call]]\nmethod = \"StartContainer\"\ncontainer = \"app\"\ncode = \"Unknown\"\nmessage = \"boom\"\n\
         [[call]]\nmethod = \"StartContainer\"\nlatency = \"150ms\"\n",
    );
    let site = CallSite::new("StartContainer").container("app");
    assert_eq!(
        injector.check(&site),
        Injection {
            error: Some((ErrorKind::Unknown, "boom".into())),
            latency: Some(ms(200)),
        }
    );
    let second = injector.check(&site);
    assert_eq!(
        second.error.map(|(kind, _)| kind),
        Some(ErrorKind::DeadlineExceeded)
    );
    assert_eq!(second.latency, Some(ms(2200)));
    let other = injector.check(&CallSite::new("StartContainer").container("db"));
    assert_eq!(
        other,
        Injection {
            error: None,
            latency: Some(ms(200))
        }
    );

    let log = injector.log();
    let rules: Vec<(usize, u64, Option<ErrorKind>)> = log
        .iter()
        .map(|fired| match fired {
            FiredFault::Call {
                rule, call, error, ..
            } => (*rule, *call, *error),
            FiredFault::Process { .. } => panic!("{fired:?}"),
        })
        .collect();
    // Rule 2 fires on the second call too, but rule 1 decided that error and rule 2 adds no
    // latency, so it is not recorded.
    assert_eq!(
        rules,
        [
            (0, 1, None),
            (2, 1, Some(ErrorKind::Unknown)),
            (3, 1, None),
            (0, 2, None),
            (1, 2, Some(ErrorKind::DeadlineExceeded)),
            (3, 2, None),
            (0, 3, None),
            (3, 3, None),
        ]
    );
}

#[test]
fn process_faults_follow_their_rules() {
    let injector = FaultInjector::new(
        FaultPlan::builder()
            .process("worker", secs(5))
            .pod("batch-?")
            .nth(2)
            .crash(3)
            .done()
            .oom("app*", secs(3))
            .process("app-slow", secs(1))
            .times(1)
            .done()
            .build(),
    )
    .unwrap();
    assert_eq!(injector.process_fault("worker", "batch-1"), None);
    assert_eq!(
        injector.process_fault("worker", "web-1"),
        None,
        "other pods do not count"
    );
    let second = injector.process_fault("worker", "batch-2").unwrap();
    assert_eq!(
        second,
        ProcessFault {
            after: secs(5),
            effect: ProcessEffect::Crash { exit_code: 3 }
        }
    );
    assert_eq!(injector.process_fault("worker", "batch-3"), None);

    let oom = injector.process_fault("app-web", "web").unwrap();
    assert_eq!(
        (oom.after, oom.effect.exit_code(), oom.effect.is_oom()),
        (secs(3), 137, true)
    );
    // Both app* rules fire; the earlier death wins, once.
    let slow = injector.process_fault("app-slow", "web").unwrap();
    assert_eq!(
        slow,
        ProcessFault {
            after: secs(1),
            effect: ProcessEffect::Crash { exit_code: 1 }
        }
    );
    assert_eq!(
        injector.process_fault("app-slow", "web").unwrap().after,
        secs(3)
    );

    let log = injector.log();
    assert_eq!(log.len(), 4);
    assert_eq!(
        log[0],
        FiredFault::Process {
            rule: 0,
            container: "worker".into(),
            pod: "batch-2".into(),
            start: 2,
            fault: second,
        }
    );
    assert!(matches!(
        log[2],
        FiredFault::Process {
            rule: 2,
            start: 1,
            ..
        }
    ));
    assert!(matches!(
        log[3],
        FiredFault::Process {
            rule: 1,
            start: 3,
            ..
        }
    ));
}

#[test]
fn an_injector_is_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<FaultInjector>();
    let injector = std::sync::Arc::new(injector(
        "[[call]]\nmethod = \"ListContainers\"\ntimes = 10\ncode = \"Unavailable\"\n",
    ));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let injector = injector.clone();
            std::thread::spawn(move || {
                (0..25)
                    .filter(|_| {
                        injector
                            .check(&CallSite::new("ListContainers"))
                            .error
                            .is_some()
                    })
                    .count()
            })
        })
        .collect();
    let failed: usize = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .sum();
    assert_eq!(failed, 10);
}
