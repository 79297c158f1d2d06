//! The checks a parsed plan must pass, and the errors of loading one.

use super::plan::{CallRule, FaultPlan, ProcessEffectKind, ProcessRule};
use std::fmt;
use std::path::{Path, PathBuf};

/// Every method of the CRI v1 `RuntimeService` and `ImageService`: the valid `method` values.
pub const CRI_METHODS: [&str; 41] = [
    "Version",
    "RunPodSandbox",
    "StopPodSandbox",
    "RemovePodSandbox",
    "PodSandboxStatus",
    "ListPodSandbox",
    "StreamPodSandboxes",
    "CreateContainer",
    "StartContainer",
    "StopContainer",
    "RemoveContainer",
    "ListContainers",
    "StreamContainers",
    "ContainerStatus",
    "UpdateContainerResources",
    "ReopenContainerLog",
    "ExecSync",
    "Exec",
    "Attach",
    "PortForward",
    "ContainerStats",
    "ListContainerStats",
    "StreamContainerStats",
    "PodSandboxStats",
    "ListPodSandboxStats",
    "StreamPodSandboxStats",
    "UpdateRuntimeConfig",
    "Status",
    "CheckpointContainer",
    "GetContainerEvents",
    "ListMetricDescriptors",
    "ListPodSandboxMetrics",
    "StreamPodSandboxMetrics",
    "RuntimeConfig",
    "UpdatePodSandboxResources",
    "ListImages",
    "StreamImages",
    "ImageStatus",
    "PullImage",
    "RemoveImage",
    "ImageFsInfo",
];

/// Which list of rules an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSection {
    /// The `[[call]]` rules.
    Call,
    /// The `[[process]]` rules.
    Process,
}

impl fmt::Display for RuleSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleSection::Call => "call",
            RuleSection::Process => "process",
        })
    }
}

/// Why a fault plan could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FaultPlanError {
    /// The file could not be read.
    #[error("cannot read fault plan {}: {source}", .path.display())]
    Read {
        /// The plan file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The text is not TOML, or not shaped like a plan (unknown key, bad code or duration...).
    #[error("{}:{line}:{column}: {message}", origin(.path))]
    Parse {
        /// The plan file, if it came from one.
        path: Option<PathBuf>,
        /// Line of the offending text, from 1.
        line: usize,
        /// Column of the offending text, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A rule parsed but makes no sense.
    #[error("{}: {section}[{index}].{field}: {problem}", origin(.path))]
    Rule {
        /// The plan file, if it came from one.
        path: Option<PathBuf>,
        /// `[[call]]` or `[[process]]`.
        section: RuleSection,
        /// Position of the rule in its section, from 0.
        index: usize,
        /// The offending key.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

fn origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "fault plan".to_owned(),
    }
}

impl FaultPlanError {
    /// Attaches the file the plan came from.
    pub(super) fn in_file(self, file: Option<&Path>) -> FaultPlanError {
        match self {
            FaultPlanError::Rule {
                section,
                index,
                field,
                problem,
                ..
            } => FaultPlanError::Rule {
                path: file.map(Path::to_path_buf),
                section,
                index,
                field,
                problem,
            },
            other => other,
        }
    }
}

/// A rule's failed check: the key and the problem.
type Check = Result<(), (&'static str, String)>;

impl FaultPlan {
    /// Checks every rule; the error names the first offending rule and key.
    pub fn validate(&self) -> Result<(), FaultPlanError> {
        let calls = self.calls.iter().map(check_call).enumerate();
        let processes = self.processes.iter().map(check_process).enumerate();
        let results = calls
            .map(|(index, result)| (RuleSection::Call, index, result))
            .chain(processes.map(|(index, result)| (RuleSection::Process, index, result)));
        for (section, index, result) in results {
            if let Err((field, problem)) = result {
                return Err(FaultPlanError::Rule {
                    path: None,
                    section,
                    index,
                    field,
                    problem,
                });
            }
        }
        Ok(())
    }
}

fn check_call(rule: &CallRule) -> Check {
    check_method(&rule.method)?;
    check_glob("image", rule.image.as_deref())?;
    check_glob("container", rule.container.as_deref())?;
    check_glob("pod", rule.pod.as_deref())?;
    check_one_trigger(&[
        ("nth", rule.nth.is_some()),
        ("times", rule.times.is_some()),
        ("after", rule.after.is_some()),
        ("probability", rule.probability.is_some()),
    ])?;
    check_at_least_one("nth", rule.nth)?;
    check_at_least_one("times", rule.times)?;
    if let Some(p) = rule.probability
        && !(0.0..=1.0).contains(&p)
    {
        return Err(("probability", format!("{p} is not between 0 and 1")));
    }
    if rule.code.is_none() && rule.latency.is_none() {
        return Err((
            "code",
            "the rule has no effect: set `code`, `latency` or both".into(),
        ));
    }
    if rule.code.is_none() && rule.message.is_some() {
        return Err(("message", "a message needs a `code`".into()));
    }
    Ok(())
}

fn check_process(rule: &ProcessRule) -> Check {
    check_glob("container", Some(&rule.container))?;
    check_glob("pod", rule.pod.as_deref())?;
    check_one_trigger(&[("nth", rule.nth.is_some()), ("times", rule.times.is_some())])?;
    check_at_least_one("nth", rule.nth)?;
    check_at_least_one("times", rule.times)?;
    match (rule.effect, rule.exit_code) {
        (ProcessEffectKind::Oom, Some(_)) => Err((
            "exit_code",
            "an OOM kill always exits with 137; `exit_code` is for `effect = \"crash\"`".into(),
        )),
        (ProcessEffectKind::Crash, Some(code)) if !(0..=255).contains(&code) => {
            Err(("exit_code", format!("{code} is not between 0 and 255")))
        }
        _ => Ok(()),
    }
}

fn check_method(method: &str) -> Check {
    if CRI_METHODS.contains(&method) {
        return Ok(());
    }
    let hint = CRI_METHODS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(method))
        .map(|known| format!(" (did you mean {known:?}?)"))
        .unwrap_or_default();
    Err(("method", format!("unknown CRI method {method:?}{hint}")))
}

fn check_glob(field: &'static str, glob: Option<&str>) -> Check {
    match glob {
        Some("") => Err((field, "the pattern is empty".into())),
        _ => Ok(()),
    }
}

fn check_one_trigger(present: &[(&'static str, bool)]) -> Check {
    let mut set = present
        .iter()
        .filter(|(_, is_set)| *is_set)
        .map(|(name, _)| *name);
    match (set.next(), set.next()) {
        (Some(first), Some(second)) => Err((
            second,
            format!("conflicts with `{first}`: a rule has at most one trigger"),
        )),
        _ => Ok(()),
    }
}

fn check_at_least_one(field: &'static str, value: Option<u64>) -> Check {
    match value {
        Some(0) => Err((field, "must be at least 1".into())),
        _ => Ok(()),
    }
}
