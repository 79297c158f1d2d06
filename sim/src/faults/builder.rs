//! Fault plans in code, for tests: the same rules as the TOML format, said fluently.

use super::plan::{CallRule, FaultPlan, ProcessEffectKind, ProcessRule};
use crius::error::ErrorKind;
use std::time::Duration;

/// Builds a [`FaultPlan`]; start with [`FaultPlan::builder`].
///
/// Nothing is checked until the plan meets [`FaultInjector::new`](super::FaultInjector::new)
/// or [`FaultPlan::validate`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct PlanBuilder {
    plan: FaultPlan,
}

impl PlanBuilder {
    /// Sets the seed of the `probability` draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.plan.seed = seed;
        self
    }

    /// Starts a `[[call]]` rule for `method`; finish it with [`CallRuleBuilder::done`].
    pub fn call(self, method: &str) -> CallRuleBuilder {
        CallRuleBuilder {
            plan: self,
            rule: CallRule::new(method),
        }
    }

    /// Adds a rule delaying every `method` call by `latency`.
    pub fn latency(self, method: &str, latency: Duration) -> Self {
        self.call(method).latency(latency).done()
    }

    /// Starts a `[[process]]` rule killing containers matching `container`, `after` their start;
    /// it crashes them with exit code 1 unless told otherwise. Finish it with
    /// [`ProcessRuleBuilder::done`].
    pub fn process(self, container: &str, after: Duration) -> ProcessRuleBuilder {
        ProcessRuleBuilder {
            plan: self,
            rule: ProcessRule::new(container, after, ProcessEffectKind::Crash),
        }
    }

    /// Adds a rule having the OOM killer end every start of `container` `after` it.
    pub fn oom(self, container: &str, after: Duration) -> Self {
        self.process(container, after).oom().done()
    }

    /// Adds a rule crashing every start of `container` with `exit_code`, `after` it.
    pub fn crash(self, container: &str, after: Duration, exit_code: i32) -> Self {
        self.process(container, after).crash(exit_code).done()
    }

    /// The plan.
    pub fn build(self) -> FaultPlan {
        self.plan
    }
}

/// Builds one `[[call]]` rule; see [`PlanBuilder::call`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CallRuleBuilder {
    plan: PlanBuilder,
    rule: CallRule,
}

impl CallRuleBuilder {
    /// Only calls about an image whose reference matches this glob.
    pub fn image(mut self, glob: &str) -> Self {
        self.rule.image = Some(glob.to_owned());
        self
    }

    /// Only calls about a container whose name matches this glob.
    pub fn container(mut self, glob: &str) -> Self {
        self.rule.container = Some(glob.to_owned());
        self
    }

    /// Only calls about a pod whose name matches this glob.
    pub fn pod(mut self, glob: &str) -> Self {
        self.rule.pod = Some(glob.to_owned());
        self
    }

    /// Fires on the `n`th matching call only (from 1).
    pub fn nth(mut self, n: u64) -> Self {
        self.rule.nth = Some(n);
        self
    }

    /// Fires on the first `n` matching calls.
    pub fn times(mut self, n: u64) -> Self {
        self.rule.times = Some(n);
        self
    }

    /// Fires on every matching call after the first `n`.
    pub fn after(mut self, n: u64) -> Self {
        self.rule.after = Some(n);
        self
    }

    /// Fires on each matching call with probability `p`.
    pub fn probability(mut self, p: f64) -> Self {
        self.rule.probability = Some(p);
        self
    }

    /// Fails the call with `code`.
    pub fn code(mut self, code: ErrorKind) -> Self {
        self.rule.code = Some(code);
        self
    }

    /// The failure's message.
    pub fn message(mut self, message: &str) -> Self {
        self.rule.message = Some(message.to_owned());
        self
    }

    /// Delays the call by `latency`.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.rule.latency = Some(latency);
        self
    }

    /// Adds the rule to the plan.
    pub fn done(self) -> PlanBuilder {
        let CallRuleBuilder { mut plan, rule } = self;
        plan.plan.calls.push(rule);
        plan
    }
}

/// Builds one `[[process]]` rule; see [`PlanBuilder::process`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProcessRuleBuilder {
    plan: PlanBuilder,
    rule: ProcessRule,
}

impl ProcessRuleBuilder {
    /// Only containers in a pod whose name matches this glob.
    pub fn pod(mut self, glob: &str) -> Self {
        self.rule.pod = Some(glob.to_owned());
        self
    }

    /// Fires on the `n`th matching start only (from 1).
    pub fn nth(mut self, n: u64) -> Self {
        self.rule.nth = Some(n);
        self
    }

    /// Fires on the first `n` matching starts.
    pub fn times(mut self, n: u64) -> Self {
        self.rule.times = Some(n);
        self
    }

    /// The OOM killer ends the process.
    pub fn oom(mut self) -> Self {
        self.rule.effect = ProcessEffectKind::Oom;
        self.rule.exit_code = None;
        self
    }

    /// The process exits with `exit_code`.
    pub fn crash(mut self, exit_code: i32) -> Self {
        self.rule.effect = ProcessEffectKind::Crash;
        self.rule.exit_code = Some(exit_code);
        self
    }

    /// Adds the rule to the plan.
    pub fn done(self) -> PlanBuilder {
        let ProcessRuleBuilder { mut plan, rule } = self;
        plan.plan.processes.push(rule);
        plan
    }
}
