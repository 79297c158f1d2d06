//! The plan as written: one struct per TOML table, and loading from text or a file.

use super::builder::PlanBuilder;
use super::validate::FaultPlanError;
use crius::error::ErrorKind;
use std::path::Path;
use std::time::Duration;

/// Failures to inject into the simulated node; see the [module documentation](super).
///
/// [`FaultPlan::from_toml_str`] and [`FaultPlan::load`] validate what they parse; a plan built
/// in code is validated by [`FaultInjector::new`](super::FaultInjector::new).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed of the pseudo-random draws made for `probability` rules.
    #[serde(default)]
    pub seed: u64,
    /// The `[[call]]` rules, in file order.
    #[serde(default, rename = "call")]
    pub calls: Vec<CallRule>,
    /// The `[[process]]` rules, in file order.
    #[serde(default, rename = "process")]
    pub processes: Vec<ProcessRule>,
}

/// A `[[call]]` rule: makes matching CRI calls fail and/or take longer.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRule {
    /// CRI method name, e.g. `PullImage` (one of [`CRI_METHODS`](super::CRI_METHODS)).
    pub method: String,
    /// Glob over the image reference of the call.
    pub image: Option<String>,
    /// Glob over the container name of the call.
    pub container: Option<String>,
    /// Glob over the pod name of the call.
    pub pod: Option<String>,
    /// Fire on the Nth matching call only (from 1).
    pub nth: Option<u64>,
    /// Fire on the first N matching calls.
    pub times: Option<u64>,
    /// Fire on every matching call after the first N.
    pub after: Option<u64>,
    /// Fire on each matching call with this probability (0 to 1), drawn from the seeded stream.
    pub probability: Option<f64>,
    /// Fail the call with this code.
    #[serde(default, deserialize_with = "de::grpc_code")]
    pub code: Option<ErrorKind>,
    /// The failure's message; `injected fault: <method>` when absent.
    pub message: Option<String>,
    /// Delay the call by this much virtual time.
    #[serde(default, deserialize_with = "de::optional_duration")]
    pub latency: Option<Duration>,
}

impl CallRule {
    /// A rule for `method` that matches every call and has no effect yet.
    pub fn new(method: impl Into<String>) -> Self {
        CallRule {
            method: method.into(),
            image: None,
            container: None,
            pod: None,
            nth: None,
            times: None,
            after: None,
            probability: None,
            code: None,
            message: None,
            latency: None,
        }
    }

    /// The message of the injected failure.
    pub fn error_message(&self) -> String {
        match &self.message {
            Some(message) => message.clone(),
            None => format!("injected fault: {}", self.method),
        }
    }
}

/// A `[[process]]` rule: makes the process of a matching container die some time after it
/// starts.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRule {
    /// Glob over the container name.
    pub container: String,
    /// Glob over the pod name.
    pub pod: Option<String>,
    /// How long after the start the process dies.
    #[serde(deserialize_with = "de::duration")]
    pub after: Duration,
    /// How it dies.
    pub effect: ProcessEffectKind,
    /// Exit code of a crash (0 to 255, default 1); only with `effect = "crash"`.
    pub exit_code: Option<i32>,
    /// Fire on the Nth matching start only (from 1).
    pub nth: Option<u64>,
    /// Fire on the first N matching starts.
    pub times: Option<u64>,
}

impl ProcessRule {
    /// A rule that kills every start of matching containers `after` their start.
    pub fn new(container: impl Into<String>, after: Duration, effect: ProcessEffectKind) -> Self {
        ProcessRule {
            container: container.into(),
            pod: None,
            after,
            effect,
            exit_code: None,
            nth: None,
            times: None,
        }
    }
}

/// The `effect` of a `[[process]]` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessEffectKind {
    /// `"oom"`: the OOM killer ends the process.
    Oom,
    /// `"crash"`: the process exits with `exit_code`.
    Crash,
}

impl FaultPlan {
    /// Starts building a plan in code.
    pub fn builder() -> PlanBuilder {
        PlanBuilder::default()
    }

    /// Parses and validates a plan from TOML text.
    pub fn from_toml_str(text: &str) -> Result<FaultPlan, FaultPlanError> {
        parse(text, None)
    }

    /// Reads, parses and validates the plan in the TOML file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<FaultPlan, FaultPlanError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| FaultPlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        parse(&text, Some(path))
    }
}

fn parse(text: &str, path: Option<&Path>) -> Result<FaultPlan, FaultPlanError> {
    let plan: FaultPlan = toml::from_str(text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        let before = text.get(..offset).unwrap_or(text);
        FaultPlanError::Parse {
            path: path.map(Path::to_path_buf),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
            message: err.message().to_owned(),
        }
    })?;
    plan.validate().map_err(|err| err.in_file(path))?;
    Ok(plan)
}

/// Deserialisers for the fields whose TOML form is a string with a syntax of its own.
mod de {
    use crius::error::ErrorKind;
    use serde::de::{Deserialize, Deserializer, Error};
    use std::time::Duration;

    pub(super) fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(de)?;
        humantime::parse_duration(&text)
            .map_err(|err| D::Error::custom(format!("invalid duration {text:?}: {err}")))
    }

    pub(super) fn optional_duration<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<Option<Duration>, D::Error> {
        duration(de).map(Some)
    }

    pub(super) fn grpc_code<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<Option<ErrorKind>, D::Error> {
        let name = String::deserialize(de)?;
        match ErrorKind::from_grpc_name(&name) {
            Some(kind) => Ok(Some(kind)),
            None => {
                let known: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.grpc_name()).collect();
                Err(D::Error::custom(format!(
                    "unknown gRPC code {name:?}, expected one of {}",
                    known.join(", ")
                )))
            }
        }
    }
}
