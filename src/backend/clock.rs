//! Time, as the core sees it: the system clock in production, a virtual one in the simulation.

use crate::model::Timestamp;
use async_trait::async_trait;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time and of delays.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Nanoseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
    /// Waits for `duration` of this clock's time to pass.
    async fn sleep(&self, duration: Duration);
}

/// The host's wall clock with tokio timers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
