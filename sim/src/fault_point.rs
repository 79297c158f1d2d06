//! Where a fake consults the fault plan: one call per backend operation, adding the planned
//! latency in virtual time and returning the planned error, if any.

use crate::faults::{CallSite, FaultInjector, ProcessFault};
use crius::backend::Clock;
use crius::error::ErrorKind;
use std::sync::Arc;

/// A fault injector and the clock its latencies pass on.
#[derive(Clone)]
pub struct FaultPoint {
    injector: Arc<FaultInjector>,
    clock: Arc<dyn Clock>,
}

impl FaultPoint {
    /// Consults `injector`, sleeping on `clock`.
    pub fn new(injector: Arc<FaultInjector>, clock: Arc<dyn Clock>) -> FaultPoint {
        FaultPoint { injector, clock }
    }

    /// Enters a fault point: waits out any planned latency, then returns the planned error.
    pub async fn enter(&self, site: CallSite<'_>) -> Option<(ErrorKind, String)> {
        let injection = self.injector.check(&site);
        if let Some(latency) = injection.latency {
            self.clock.sleep(latency).await;
        }
        injection.error
    }

    /// The planned fate of a container that starts now, if any.
    pub fn process_fault(&self, container: &str, pod: &str) -> Option<ProcessFault> {
        self.injector.process_fault(container, pod)
    }

    /// The injector, for inspection.
    pub fn injector(&self) -> &Arc<FaultInjector> {
        &self.injector
    }
}
