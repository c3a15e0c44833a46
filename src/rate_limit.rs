//! The rate limit per client: `SIFT_RATE_LIMIT` requests a second on the API, off by
//! default, never for the admin key.
//!
//! A client is its API key when it presents one (hashed: keys never sit in memory
//! maps or logs as they are), else its address: the TCP peer, or, when the peer is one
//! of `SIFT_TRUSTED_PROXIES`, the address those proxies say they got the request from
//! ([`client_address`]). `X-Forwarded-For` from any other peer is ignored, since any
//! client can set it. With Redis, the count is shared by every
//! replica: one counter per client and second (`INCR` + expiry, in one script), so a
//! client can't multiply its limit by the number of replicas. Without Redis, or while
//! Redis fails (its calls are bounded and behind the breaker, as for the cache), each
//! process counts alone with governor's GCRA, which also allows the configured burst.
//! Degrading to per-process is the right side to fail on: a rate limit must not turn
//! a Redis outage into refused requests.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
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

/// The address a request comes from: the TCP peer, unless the peer is a trusted proxy;
/// then `X-Forwarded-For` (every such header, in order, as one list) is read from the
/// right, each trusted proxy naming the hop before it, and the first address that is
/// not a trusted proxy is the client. An address a trusted proxy did not write (the
/// left of the list) is never reached while an untrusted one stands to its right, so a
/// client cannot choose its own address by sending the header. When every address is
/// a trusted proxy, or an entry does not parse, the last trusted hop read is the client.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let entries = forwarded_for.flat_map(|value| value.split(',')).rev();
    for entry in entries {
        let entry = entry.trim();
        let Some(address) = entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// The identity of a client in the counters: a digest, so neither a key nor an
/// address is kept as it was given.
fn client_id(api_key: Option<&str>, address: Option<IpAddr>) -> [u8; 16] {
    let mut digest = Sha256::new();
    match (api_key, address) {
        (Some(key), _) => {
            digest.update(b"key:");
            digest.update(key.as_bytes());
        }
        (None, Some(address)) => {
            digest.update(b"ip:");
            digest.update(address.to_string().as_bytes());
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
    pub async fn check(&self, api_key: Option<&str>, address: Option<IpAddr>) -> Decision {
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
        let a: IpAddr = "10.0.0.1".parse().expect("address");
        let b: IpAddr = "10.0.0.2".parse().expect("address");
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

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn a_key_and_an_address_are_different_clients() {
        let a = ip("10.0.0.1");
        assert_ne!(client_id(Some("x"), Some(a)), client_id(None, Some(a)));
        assert_ne!(
            client_id(None, Some(a)),
            client_id(None, Some(ip("10.0.0.2")))
        );
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies_and_only_as_far_as_they_go() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        let resolve = |peer: &str, headers: &[&str]| {
            client_address(ip(peer), headers.iter().copied(), &trusted)
        };
        // An untrusted peer is the client, whatever it says.
        assert_eq!(resolve("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        // Behind one proxy: the address it appended.
        assert_eq!(resolve("10.0.0.5", &["198.51.100.1"]), ip("198.51.100.1"));
        // A client's own header is left of the proxy's entry and never reached.
        assert_eq!(
            resolve("10.0.0.5", &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Two proxies, the second's entry in a second header line; spaces and ports.
        assert_eq!(
            resolve("::1", &["1.2.3.4, 198.51.100.1:4000", " 10.1.2.3 "]),
            ip("198.51.100.1")
        );
        // Only trusted hops: the farthest of them.
        assert_eq!(resolve("10.0.0.5", &["10.9.9.9"]), ip("10.9.9.9"));
        // No header, or one that does not parse: the last trusted hop.
        assert_eq!(resolve("10.0.0.5", &[]), ip("10.0.0.5"));
        assert_eq!(resolve("10.0.0.5", &["unknown"]), ip("10.0.0.5"));
        assert_eq!(resolve("10.0.0.5", &["garbage, 10.2.2.2"]), ip("10.2.2.2"));
        // No trusted proxies configured: the header is never read.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["198.51.100.1"].into_iter(), &[]),
            ip("10.0.0.5")
        );
    }
}
