//! Progress of one pull: counters the downloads bump, and a log line at a steady cadence.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of one pull.
#[derive(Debug)]
pub struct Progress {
    reference: String,
    started: Instant,
    bytes: AtomicU64,
    total_bytes: AtomicU64,
    layers_done: AtomicU64,
    layers_total: AtomicU64,
}

impl Progress {
    /// Counters for a pull of `reference`.
    pub fn new(reference: &str) -> Progress {
        Progress {
            reference: reference.to_string(),
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            layers_done: AtomicU64::new(0),
            layers_total: AtomicU64::new(0),
        }
    }

    /// The pull has `layers` layers of `bytes` compressed bytes in all.
    pub fn expect(&self, layers: u64, bytes: u64) {
        self.layers_total.store(layers, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
    }

    /// `n` more bytes arrived.
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// One more layer is in place.
    pub fn layer_done(&self) {
        self.layers_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes downloaded so far by this pull.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn log(&self, last_bytes: &mut u64, interval: Duration) {
        let bytes = self.bytes();
        let rate = (bytes.saturating_sub(*last_bytes)) as f64 / interval.as_secs_f64().max(0.001);
        *last_bytes = bytes;
        tracing::info!(
            reference = %self.reference,
            bytes,
            total_bytes = self.total_bytes.load(Ordering::Relaxed),
            layers_done = self.layers_done.load(Ordering::Relaxed),
            layers = self.layers_total.load(Ordering::Relaxed),
            rate_bytes_per_sec = rate as u64,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "pulling image"
        );
    }
}

/// Runs `work`, logging `progress` every `interval` until it finishes.
pub async fn logged<F: Future>(progress: &Progress, interval: Duration, work: F) -> F::Output {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last = 0;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticker.tick() => progress.log(&mut last, interval),
        }
    }
}
