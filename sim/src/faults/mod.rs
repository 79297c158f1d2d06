//! Fault plans: the failures the simulated node injects into its fake backends.
//!
//! A [`FaultPlan`] is written in TOML (or built in code with [`FaultPlan::builder`]) and
//! turned into a [`FaultInjector`], which the fakes consult:
//!
//! - before serving a CRI call, [`FaultInjector::check`] says whether the call fails (with an
//!   [`ErrorKind`](crius::error::ErrorKind) and a message) and how much virtual time it takes
//!   first;
//! - when a container starts, [`FaultInjector::process_fault`] says whether, and when, its
//!   process dies (killed by the OOM killer, or crashing with an exit code).
//!
//! Architecture invariant: injections depend only on the plan and on the sequence of calls.
//! `probability` rules draw from a seeded pseudo-random stream of their own, advanced only by
//! the calls that rule matches, so calls it does not match never shift its sequence.
//!
//! # The file format
//!
//! Top-level `seed` (default 0), `[[call]]` rules and `[[process]]` rules; unknown keys are
//! errors. Rules are numbered from 0 in the order they appear, and errors and the
//! [`FaultInjector::log`] name them that way (`call[2]`).
//!
//! `[[call]]`: `method` (a CRI method name, see [`CRI_METHODS`]); optional matchers `image`,
//! `container`, `pod` (globs with `*` and `?`, matched against the image reference, container
//! name and pod name of the call; a call that lacks the attribute does not match); at most one
//! of `nth = N` (only the Nth matching call, from 1), `times = N` (the first N), `after = N`
//! (every one after the first N), `probability = p` (each with probability p), every
//! matching call otherwise; effects, at least one: `code` (a gRPC code name such as
//! `"Unavailable"`) with an optional `message` (default `"injected fault: <method>"`), and
//! `latency` (a duration such as `"250ms"` or `"2s"`). When several rules fire on one call the
//! first one with a `code` decides the error, and all latencies add up.
//!
//! `[[process]]`: `container` glob, optional `pod` glob, `after` (a duration since the start),
//! `effect = "oom"` (exit code 137, OOM-killed) or `effect = "crash"` with `exit_code`
//! (default 1), and at most one of `nth` / `times` counted over matching container starts.
//! When several rules fire on one start, the earliest death wins (then the lower rule number).
//!
//! This is `fixtures/fault-plans/example.toml`:
//!
//! ```toml
//! # Seeds the draws of `probability` rules: the same plan and the same calls
//! # give exactly the same faults.
//! seed = 42
//!
//! # The second pull of any nginx image fails as if the registry were down.
//! [[call]]
//! method = "PullImage"
//! image = "*nginx*"
//! nth = 2
//! code = "Unavailable"
//! message = "registry unavailable"
//!
//! # Every StartContainer takes 250ms longer.
//! [[call]]
//! method = "StartContainer"
//! latency = "250ms"
//!
//! # The first 3 sandboxes of pods named web-* hang for 2s, then time out.
//! [[call]]
//! method = "RunPodSandbox"
//! pod = "web-*"
//! times = 3
//! code = "DeadlineExceeded"
//! latency = "2s"
//!
//! # One ExecSync in ten into containers named db* fails.
//! [[call]]
//! method = "ExecSync"
//! container = "db*"
//! probability = 0.1
//! code = "Unknown"
//!
//! # Every RemoveContainer after the first 4 fails with the default message.
//! [[call]]
//! method = "RemoveContainer"
//! after = 4
//! code = "NotFound"
//!
//! # Containers named app* are killed by the OOM killer 3s after every start.
//! [[process]]
//! container = "app*"
//! after = "3s"
//! effect = "oom"
//!
//! # The first two starts of "worker" in pods batch-? crash with exit code 2 after 1s.
//! [[process]]
//! container = "worker"
//! pod = "batch-?"
//! after = "1s"
//! effect = "crash"
//! exit_code = 2
//! times = 2
//! ```
//!
//! The same plan in code:
//!
//! ```
//! use crius::error::ErrorKind;
//! use crius_sim::faults::{FaultInjector, FaultPlan};
//! use std::time::Duration;
//!
//! let plan = FaultPlan::builder()
//!     .seed(42)
//!     .call("PullImage").image("*nginx*").nth(2)
//!     .code(ErrorKind::Unavailable).message("registry unavailable").done()
//!     .latency("StartContainer", Duration::from_millis(250))
//!     .call("RunPodSandbox").pod("web-*").times(3)
//!     .code(ErrorKind::DeadlineExceeded).latency(Duration::from_secs(2)).done()
//!     .call("ExecSync").container("db*").probability(0.1).code(ErrorKind::Unknown).done()
//!     .call("RemoveContainer").after(4).code(ErrorKind::NotFound).done()
//!     .oom("app*", Duration::from_secs(3))
//!     .process("worker", Duration::from_secs(1)).pod("batch-?").times(2).crash(2).done()
//!     .build();
//! let injector = FaultInjector::new(plan)?;
//! # Ok::<(), crius_sim::faults::FaultPlanError>(())
//! ```

mod builder;
mod glob;
mod injector;
mod plan;
mod rng;
mod validate;

#[cfg(test)]
mod tests;

pub use builder::{CallRuleBuilder, PlanBuilder, ProcessRuleBuilder};
pub use injector::{CallSite, FaultInjector, FiredFault, Injection, ProcessEffect, ProcessFault};
pub use plan::{CallRule, FaultPlan, ProcessEffectKind, ProcessRule};
pub use validate::{CRI_METHODS, FaultPlanError, RuleSection};
