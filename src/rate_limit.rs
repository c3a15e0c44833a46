//! The rate limit per client: `SIFT_RATE_LIMIT` requests a second on the API, off by
//! default, never for the admin key.
//!
//! A client is its API key when it presents one (hashed: keys never sit in memory
//! maps or logs as they are), else its address (the TCP peer; `X-Forwarded-For` is not
//! trusted, since any client can set it). With Redis, the count is shared by every
//! replica: one counter per client and second (`INCR` + expiry, in one script), so a
//! client can't multiply its limit by the number of replicas. Without Redis, or while
//! Redis fails (its calls are bounded and behind the breaker, as for the cache), each
//! process counts alone with governor's GCRA, which also allows the configured burst.
//! Degrading to per-process is the right side to fail on: a rate limit must not turn
//! a Redis outage into refused requests.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::cache::redis::RedisCache;

/// The settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests a second per client.
    pub per_second: NonZeroU32,
    /// Requests a client may send at once before the rate applies (per process).
    pub burst: NonZeroU32,
}

/// What a check decided, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the client may send again (when refused), or until the window
    /// resets.
    pub reset_secs: u64,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    local: DefaultKeyedRateLimiter<[u8; 16]>,
    clock: DefaultClock,
    /// Shared counters, when Redis is configured.
    redis: Option<Arc<RedisCache>>,
    /// `<prefix>:<version>:rate:`
    key_prefix: String,
    /// Checks since the local state was last pruned of idle clients.
    checks: AtomicU64,
}

/// The identity of a client in the counters: a digest, so neither a key nor an
/// address is kept as it was given.
fn client_id(api_key: Option<&str>, address: Option<SocketAddr>) -> [u8; 16] {
    let mut digest = Sha256::new();
    match (api_key, address) {
        (Some(key), _) => {
            digest.update(b"key:");
            digest.update(key.as_bytes());
        }
        (None, Some(address)) => {
            digest.update(b"ip:");
            digest.update(address.ip().to_string().as_bytes());
        }
        (None, None) => digest.update(b"unknown"),
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.finalize()[..16]);
    id
}

impl RateLimiter {
    pub fn new(
        config: RateLimitConfig,
        redis: Option<Arc<RedisCache>>,
        key_prefix: &str,
    ) -> RateLimiter {
        let quota = Quota::per_second(config.per_second).allow_burst(config.burst);
        RateLimiter {
            config,
            local: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            redis,
            key_prefix: format!("{key_prefix}:rate:"),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts a request of the client and decides.
    pub async fn check(&self, api_key: Option<&str>, address: Option<SocketAddr>) -> Decision {
        let id = client_id(api_key, address);
        let limit = self.config.per_second.get();
        if let Some(redis) = &self.redis {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let window = now.as_secs();
            let key = format!("{}{}:{window}", self.key_prefix, hex::encode(id));
            if let Some(count) = redis.count_in_window(&key, Duration::from_secs(2)).await {
                let count = u32::try_from(count).unwrap_or(u32::MAX);
                return Decision {
                    allowed: count <= limit,
                    limit,
                    remaining: limit.saturating_sub(count),
                    reset_secs: 1,
                };
            }
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 0 {
            self.local.retain_recent();
        }
        match self.local.check_key(&id) {
            Ok(()) => Decision {
                allowed: true,
                limit,
                // GCRA keeps no count; what is left of the burst is not known cheaply.
                remaining: limit.saturating_sub(1),
                reset_secs: 1,
            },
            Err(not_until) => Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset_secs: not_until
                    .wait_time_from(self.clock.now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(
            RateLimitConfig {
                per_second: NonZeroU32::new(per_second).expect("non-zero"),
                burst: NonZeroU32::new(burst).expect("non-zero"),
            },
            None,
            "unit",
        )
    }

    #[tokio::test]
    async fn a_client_past_its_burst_is_refused_and_others_are_not() {
        let limiter = limiter(1, 3);
        let a: SocketAddr = "10.0.0.1:5000".parse().expect("address");
        let b: SocketAddr = "10.0.0.2:5000".parse().expect("address");
        for _ in 0..3 {
            assert!(limiter.check(None, Some(a)).await.allowed);
        }
        let refused = limiter.check(None, Some(a)).await;
        assert!(!refused.allowed);
        assert!(refused.reset_secs >= 1);
        assert!(
            limiter.check(None, Some(b)).await.allowed,
            "another address"
        );
        assert!(
            limiter.check(Some("k"), Some(a)).await.allowed,
            "a key counts apart"
        );
    }

    #[test]
    fn the_port_does_not_make_another_client() {
        let a: SocketAddr = "10.0.0.1:5000".parse().expect("address");
        let b: SocketAddr = "10.0.0.1:6000".parse().expect("address");
        assert_eq!(client_id(None, Some(a)), client_id(None, Some(b)));
        assert_ne!(client_id(Some("x"), Some(a)), client_id(None, Some(a)));
    }
}
