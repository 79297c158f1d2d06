//! The running side of a plan: per-rule counters and random streams, consulted by the fakes.

use super::glob;
use super::plan::{CallRule, FaultPlan, ProcessEffectKind, ProcessRule};
use super::rng::SplitMix64;
use super::validate::FaultPlanError;
use crius::error::ErrorKind;
use parking_lot::Mutex;
use std::time::Duration;

/// A CRI call about to be served, as the fault rules see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallSite<'a> {
    /// CRI method name, e.g. `PullImage`.
    pub method: &'a str,
    /// Image reference the call is about, if any.
    pub image: Option<&'a str>,
    /// Name (from its metadata) of the container the call is about, if any.
    pub container: Option<&'a str>,
    /// Name (from its metadata) of the pod the call is about, if any.
    pub pod: Option<&'a str>,
}

impl<'a> CallSite<'a> {
    /// A call of `method` about nothing in particular.
    pub fn new(method: &'a str) -> Self {
        CallSite {
            method,
            ..CallSite::default()
        }
    }

    /// The same call, about this image reference.
    pub fn image(self, image: &'a str) -> Self {
        CallSite {
            image: Some(image),
            ..self
        }
    }

    /// The same call, about the container with this name.
    pub fn container(self, container: &'a str) -> Self {
        CallSite {
            container: Some(container),
            ..self
        }
    }

    /// The same call, about the pod with this name.
    pub fn pod(self, pod: &'a str) -> Self {
        CallSite {
            pod: Some(pod),
            ..self
        }
    }
}

/// What to do to one call: wait `latency` of virtual time, then fail with `error` if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injection {
    /// The failure to answer with instead of serving the call.
    pub error: Option<(ErrorKind, String)>,
    /// Extra virtual time the call takes (before failing or being served).
    pub latency: Option<Duration>,
}

impl Injection {
    /// Whether the call proceeds untouched.
    pub fn is_none(&self) -> bool {
        self.error.is_none() && self.latency.is_none()
    }
}

/// How an injected process death looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEffect {
    /// Killed by the OOM killer: exit code 137, OOM-killed flag set.
    Oom,
    /// Exited on its own with this code.
    Crash {
        /// The exit code.
        exit_code: i32,
    },
}

impl ProcessEffect {
    /// The exit code the container reports.
    pub fn exit_code(self) -> i32 {
        match self {
            ProcessEffect::Oom => 137,
            ProcessEffect::Crash { exit_code } => exit_code,
        }
    }

    /// Whether the container reports being OOM-killed.
    pub fn is_oom(self) -> bool {
        matches!(self, ProcessEffect::Oom)
    }
}

/// A container process's scheduled death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessFault {
    /// Virtual time after the start at which the process dies.
    pub after: Duration,
    /// How it dies.
    pub effect: ProcessEffect,
}

/// One injection, as recorded by [`FaultInjector::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiredFault {
    /// A `[[call]]` rule fired and contributed to a call's [`Injection`].
    Call {
        /// Position of the rule in `[[call]]`, from 0.
        rule: usize,
        /// The CRI method called.
        method: String,
        /// Which of the calls this rule matched it was, from 1.
        call: u64,
        /// The failure this rule decided, if it did (an earlier rule may have decided it).
        error: Option<ErrorKind>,
        /// The latency this rule added.
        latency: Option<Duration>,
    },
    /// A `[[process]]` rule scheduled a container's death.
    Process {
        /// Position of the rule in `[[process]]`, from 0.
        rule: usize,
        /// The container's name.
        container: String,
        /// The pod's name.
        pod: String,
        /// Which of the starts this rule matched it was, from 1.
        start: u64,
        /// The death scheduled.
        fault: ProcessFault,
    },
}

/// When a rule fires, given how many calls or starts it has matched.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Every,
    Nth(u64),
    Times(u64),
    After(u64),
    Probability(f64),
}

impl Trigger {
    fn of_call(rule: &CallRule) -> Trigger {
        match (rule.nth, rule.times, rule.after, rule.probability) {
            (Some(n), ..) => Trigger::Nth(n),
            (_, Some(n), ..) => Trigger::Times(n),
            (_, _, Some(n), _) => Trigger::After(n),
            (.., Some(p)) => Trigger::Probability(p),
            _ => Trigger::Every,
        }
    }

    fn of_process(rule: &ProcessRule) -> Trigger {
        match (rule.nth, rule.times) {
            (Some(n), _) => Trigger::Nth(n),
            (_, Some(n)) => Trigger::Times(n),
            _ => Trigger::Every,
        }
    }

    /// Whether the `count`th match fires; draws from `rng` only for probabilities.
    fn fires(self, count: u64, rng: &mut SplitMix64) -> bool {
        match self {
            Trigger::Every => true,
            Trigger::Nth(n) => count == n,
            Trigger::Times(n) => count <= n,
            Trigger::After(n) => count > n,
            Trigger::Probability(p) => rng.next_unit() < p,
        }
    }
}

/// A rule's progress: how often it matched, and its own random stream.
#[derive(Debug)]
struct RuleState {
    matched: u64,
    rng: SplitMix64,
}

#[derive(Debug)]
struct State {
    calls: Vec<RuleState>,
    processes: Vec<RuleState>,
    log: Vec<FiredFault>,
}

/// A validated plan at work; share it with `Arc` between the fakes.
#[derive(Debug)]
pub struct FaultInjector {
    plan: FaultPlan,
    state: Mutex<State>,
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector::none()
    }
}

impl FaultInjector {
    /// Validates `plan` and starts every rule's count from zero.
    pub fn new(plan: FaultPlan) -> Result<FaultInjector, FaultPlanError> {
        plan.validate()?;
        let streams = |count: usize| -> Vec<RuleState> {
            (0..count)
                .map(|index| RuleState {
                    matched: 0,
                    rng: SplitMix64::for_rule(plan.seed, index),
                })
                .collect()
        };
        let state = State {
            calls: streams(plan.calls.len()),
            processes: streams(plan.processes.len()),
            log: Vec::new(),
        };
        Ok(FaultInjector {
            plan,
            state: Mutex::new(state),
        })
    }

    /// An injector that never injects anything.
    pub fn none() -> FaultInjector {
        FaultInjector {
            plan: FaultPlan::default(),
            state: Mutex::new(State {
                calls: Vec::new(),
                processes: Vec::new(),
                log: Vec::new(),
            }),
        }
    }

    /// The plan this injector runs.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Decides what happens to a call; call it exactly once per CRI call served.
    ///
    /// Every rule that matches counts the call; among those that fire, the first with a `code`
    /// decides the error, and all their latencies add up.
    pub fn check(&self, site: &CallSite<'_>) -> Injection {
        let mut state = self.state.lock();
        let mut injection = Injection::default();
        for (index, rule) in self.plan.calls.iter().enumerate() {
            let matches = rule.method == site.method
                && glob::accepts(rule.image.as_deref(), site.image)
                && glob::accepts(rule.container.as_deref(), site.container)
                && glob::accepts(rule.pod.as_deref(), site.pod);
            if !matches {
                continue;
            }
            let rule_state = &mut state.calls[index];
            rule_state.matched += 1;
            let call = rule_state.matched;
            if !Trigger::of_call(rule).fires(call, &mut rule_state.rng) {
                continue;
            }
            let error = match (rule.code, &injection.error) {
                (Some(kind), None) => {
                    injection.error = Some((kind, rule.error_message()));
                    Some(kind)
                }
                _ => None,
            };
            if let Some(latency) = rule.latency {
                injection.latency = Some(injection.latency.unwrap_or_default() + latency);
            }
            if error.is_some() || rule.latency.is_some() {
                state.log.push(FiredFault::Call {
                    rule: index,
                    method: site.method.to_owned(),
                    call,
                    error,
                    latency: rule.latency,
                });
            }
        }
        injection
    }

    /// Decides whether a container that just started will die; call it exactly once per start.
    ///
    /// Every rule that matches counts the start; among those that fire, the earliest death
    /// wins (the lower rule on a tie).
    pub fn process_fault(&self, container: &str, pod: &str) -> Option<ProcessFault> {
        let mut state = self.state.lock();
        let mut chosen: Option<(usize, u64, ProcessFault)> = None;
        for (index, rule) in self.plan.processes.iter().enumerate() {
            if !glob::matches(&rule.container, container)
                || !glob::accepts(rule.pod.as_deref(), Some(pod))
            {
                continue;
            }
            let rule_state = &mut state.processes[index];
            rule_state.matched += 1;
            let start = rule_state.matched;
            if !Trigger::of_process(rule).fires(start, &mut rule_state.rng) {
                continue;
            }
            let effect = match rule.effect {
                ProcessEffectKind::Oom => ProcessEffect::Oom,
                ProcessEffectKind::Crash => ProcessEffect::Crash {
                    exit_code: rule.exit_code.unwrap_or(1),
                },
            };
            let fault = ProcessFault {
                after: rule.after,
                effect,
            };
            if chosen.is_none_or(|(_, _, best)| fault.after < best.after) {
                chosen = Some((index, start, fault));
            }
        }
        let (rule, start, fault) = chosen?;
        state.log.push(FiredFault::Process {
            rule,
            container: container.to_owned(),
            pod: pod.to_owned(),
            start,
            fault,
        });
        Some(fault)
    }

    /// Every injection so far, in order.
    pub fn log(&self) -> Vec<FiredFault> {
        self.state.lock().log.clone()
    }
}
