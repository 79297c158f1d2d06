//! Stream requests waiting for their client, under single-use tokens.
//!
//! As in kubelet's CRI streaming server: a token is random, can be used once, lives one minute,
//! and at most [`MAX_IN_FLIGHT`] requests wait at a time (beyond that the RPC is
//! ResourceExhausted, so kubelet retries later).

use crate::backend::{Clock, IdSource};
use crate::error::ErrorKind;
use crate::model::Timestamp;
use crate::runtime::{Error, StreamRequest};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a token stays valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How many requests may wait for their client at once.
pub const MAX_IN_FLIGHT: usize = 1000;

/// Waiting requests by token.
pub struct RequestCache {
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    entries: Mutex<HashMap<String, (Timestamp, StreamRequest)>>,
}

impl RequestCache {
    /// An empty cache; tokens come from `ids`, expiry times from `clock`.
    pub fn new(clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> RequestCache {
        RequestCache {
            clock,
            ids,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `request` and returns its token; ResourceExhausted when [`MAX_IN_FLIGHT`]
    /// unexpired requests wait already.
    pub fn insert(&self, request: StreamRequest) -> Result<String, Error> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        entries.retain(|_, (expires, _)| *expires > now);
        if entries.len() >= MAX_IN_FLIGHT {
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "{MAX_IN_FLIGHT} stream requests are already waiting for their client; retry later"
                ),
            ));
        }
        let token = loop {
            let token = self.ids.new_id();
            if !entries.contains_key(&token) {
                break token;
            }
        };
        let ttl = i64::try_from(TOKEN_TTL.as_nanos()).unwrap_or(i64::MAX);
        entries.insert(token.clone(), (now.saturating_add(ttl), request));
        Ok(token)
    }

    /// Takes the request of `token`, if it is known and has not expired; the token is then
    /// gone.
    pub fn consume(&self, token: &str) -> Option<StreamRequest> {
        let now = self.clock.now();
        let (expires, request) = self.entries.lock().remove(token)?;
        (expires > now).then_some(request)
    }

    /// How many requests wait.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ids::RandomIds;
    use crate::runtime::PortForwardRequest;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct TestClock(AtomicI64);

    #[async_trait::async_trait]
    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            self.0.load(Ordering::SeqCst)
        }
        async fn sleep(&self, _duration: Duration) {}
    }

    fn request() -> StreamRequest {
        StreamRequest::PortForward(PortForwardRequest {
            sandbox_id: "pod".into(),
            ports: vec![80],
        })
    }

    #[test]
    fn tokens_are_single_use_and_expire_after_a_minute() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let cache = RequestCache::new(clock.clone(), Arc::new(RandomIds));
        let a = cache.insert(request()).unwrap();
        let b = cache.insert(request()).unwrap();
        assert_ne!(a, b);
        assert_eq!(cache.consume(&a), Some(request()));
        assert_eq!(cache.consume(&a), None);
        clock.0.store(60_000_000_000, Ordering::SeqCst);
        assert_eq!(cache.consume(&b), None);
    }

    #[test]
    fn at_most_a_thousand_wait_and_expired_ones_make_room() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let cache = RequestCache::new(clock.clone(), Arc::new(RandomIds));
        for _ in 0..MAX_IN_FLIGHT {
            cache.insert(request()).unwrap();
        }
        let refused = cache.insert(request()).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ResourceExhausted);
        clock.0.store(61_000_000_000, Ordering::SeqCst);
        cache.insert(request()).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
