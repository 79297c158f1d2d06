//! The virtual clock: runs at a speed factor from a chosen start time, or stands still until a
//! test steps it.

use async_trait::async_trait;
use crius::backend::Clock;
use crius::model::Timestamp;
use parking_lot::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Virtual time = `origin` + real time elapsed since `started` × `speed`.
    Scaled {
        origin: Timestamp,
        started: Instant,
        speed: f64,
    },
    /// Virtual time moves only through [`VirtualClock::advance`].
    Stepped { now: Timestamp },
}

/// A clock for the simulated node.
#[derive(Debug)]
pub struct VirtualClock {
    mode: Mutex<Mode>,
    advanced: Notify,
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

impl VirtualClock {
    /// A clock that starts at `origin` and runs `speed` times as fast as real time.
    /// `speed` must be positive and finite.
    pub fn scaled(origin: Timestamp, speed: f64) -> VirtualClock {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        VirtualClock {
            mode: Mutex::new(Mode::Scaled {
                origin,
                started: Instant::now(),
                speed,
            }),
            advanced: Notify::new(),
        }
    }

    /// A clock that stands at `origin` until [`VirtualClock::advance`] moves it.
    pub fn stepped(origin: Timestamp) -> VirtualClock {
        VirtualClock {
            mode: Mutex::new(Mode::Stepped { now: origin }),
            advanced: Notify::new(),
        }
    }

    /// Moves the clock forward by `by`; on a scaled clock, shifts its origin forward.
    pub fn advance(&self, by: Duration) {
        let mut mode = self.mode.lock();
        match &mut *mode {
            Mode::Scaled { origin, .. } => *origin = origin.saturating_add(nanos(by)),
            Mode::Stepped { now } => *now = now.saturating_add(nanos(by)),
        }
        drop(mode);
        self.advanced.notify_waiters();
    }

    /// The speed factor (`None` for a stepped clock).
    pub fn speed(&self) -> Option<f64> {
        match *self.mode.lock() {
            Mode::Scaled { speed, .. } => Some(speed),
            Mode::Stepped { .. } => None,
        }
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        match *self.mode.lock() {
            Mode::Scaled {
                origin,
                started,
                speed,
            } => origin.saturating_add((started.elapsed().as_nanos() as f64 * speed) as i64),
            Mode::Stepped { now } => now,
        }
    }

    async fn sleep(&self, duration: Duration) {
        let deadline = self.now().saturating_add(nanos(duration));
        loop {
            let notified = self.advanced.notified();
            let now = self.now();
            if now >= deadline {
                return;
            }
            match self.speed() {
                Some(speed) => {
                    let remaining = Duration::from_nanos((deadline - now) as u64).div_f64(speed);
                    tokio::select! {
                        _ = tokio::time::sleep(remaining) => {}
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn stepped_clock_wakes_sleepers_only_when_advanced_far_enough() {
        let clock = Arc::new(VirtualClock::stepped(1_000));
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(2));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(clock.now(), 1_000 + 5_000_000_000);
    }

    #[tokio::test]
    async fn scaled_clock_runs_faster_than_real_time() {
        let clock = VirtualClock::scaled(0, 1000.0);
        let real = Instant::now();
        clock.sleep(Duration::from_secs(2)).await;
        assert!(real.elapsed() < Duration::from_secs(1));
        assert!(clock.now() >= 2_000_000_000);
    }
}
