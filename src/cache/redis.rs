//! L2: the Redis cache shared by every replica.
//!
//! Every call is bounded by a short timeout and goes through a [`Breaker`], and every
//! failure is swallowed here (counted and logged at debug): to the caller a failing
//! Redis looks like a cache miss, never like an error.

use std::time::Duration;

use deadpool_redis::redis::{self, FromRedisValue};

use crate::cache::breaker::{Breaker, BreakerState};

/// How long the breaker stays open before a probe.
pub const BREAKER_COOL_DOWN: Duration = Duration::from_secs(1);

/// Sets `KEYS[1]` to `ARGV[2]` only if the invalidation counter `KEYS[2]` still
/// holds `ARGV[1]` (empty: the counter did not exist), the value the reader saw before
/// it read PostgreSQL. A write that committed in between has moved the counter, so a
/// read that started before a write cannot put back what the write replaced.
const FILL_IF_UNCHANGED: &str = r"
local counter = redis.call('GET', KEYS[2]) or ''
if counter ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// For each pair of keys (entry, invalidation counter): moves the counter (kept for
/// twice the entry TTL) and deletes the entry.
const INVALIDATE: &str = r"
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
  redis.call('DEL', KEYS[i])
end
return #KEYS / 2
";

/// Counts one more in `KEYS[1]` and gives the count; the first count sets the expiry
/// (`ARGV[1]` ms), so a window's counter goes by itself.
const COUNT_IN_WINDOW: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
";

pub struct RedisCache {
    pool: deadpool_redis::Pool,
    /// Bound on each call, pool wait included.
    timeout: Duration,
    /// Time to live of every entry written.
    ttl: Duration,
    breaker: Breaker,
}

impl RedisCache {
    pub fn new(pool: deadpool_redis::Pool, timeout: Duration, ttl: Duration) -> RedisCache {
        RedisCache {
            pool,
            timeout,
            ttl,
            breaker: Breaker::new(BREAKER_COOL_DOWN, timeout * 2),
        }
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one command; `None` when the breaker is open, the call failed or it took
    /// longer than the timeout.
    async fn run<T: FromRedisValue>(&self, operation: &'static str, cmd: redis::Cmd) -> Option<T> {
        if !self.breaker.allow() {
            metrics::counter!("cache_l2_skipped_total").increment(1);
            return None;
        }
        let call = async {
            let mut connection = self.pool.get().await.map_err(|e| e.to_string())?;
            cmd.query_async::<T>(&mut connection)
                .await
                .map_err(|e| e.to_string())
        };
        let outcome = tokio::time::timeout(self.timeout, call).await;
        let result = match outcome {
            Ok(Ok(value)) => {
                self.breaker.record_success();
                Some(value)
            }
            Ok(Err(error)) => {
                tracing::debug!(operation, %error, "cache: redis call failed");
                metrics::counter!("cache_l2_errors_total", "kind" => "error").increment(1);
                self.breaker.record_failure();
                None
            }
            Err(_) => {
                tracing::debug!(operation, "cache: redis call timed out");
                metrics::counter!("cache_l2_errors_total", "kind" => "timeout").increment(1);
                self.breaker.record_failure();
                None
            }
        };
        metrics::gauge!("cache_l2_breaker_open").set(match self.breaker.state() {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 0.5,
            BreakerState::Open => 1.0,
        });
        result
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.run::<Option<Vec<u8>>>("get", cmd).await.flatten()
    }

    pub async fn set(&self, key: &str, value: &[u8]) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value)
            .arg("PX")
            .arg(self.ttl.as_millis() as u64);
        let _: Option<()> = self.run("set", cmd).await;
    }

    /// An entry and the invalidation counter that guards it, in one round trip.
    pub async fn get_guarded(
        &self,
        key: &str,
        counter_key: &str,
    ) -> Option<(Option<Vec<u8>>, Option<String>)> {
        let mut cmd = redis::cmd("MGET");
        cmd.arg(key).arg(counter_key);
        let (value, counter): (Option<Vec<u8>>, Option<String>) = self.run("mget", cmd).await?;
        Some((value, counter))
    }

    /// Writes `value` unless the counter moved from `seen` since it was read.
    pub async fn fill_if_unchanged(
        &self,
        key: &str,
        counter_key: &str,
        seen: Option<&str>,
        value: &[u8],
    ) {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(FILL_IF_UNCHANGED)
            .arg(2)
            .arg(key)
            .arg(counter_key)
            .arg(seen.unwrap_or(""))
            .arg(value)
            .arg(self.ttl.as_millis() as u64);
        let _: Option<i64> = self.run("fill", cmd).await;
    }

    /// Deletes entries and moves their invalidation counters; `pairs` is (entry key,
    /// counter key). Returns whether Redis took it.
    pub async fn invalidate(&self, pairs: &[(String, String)]) -> bool {
        if pairs.is_empty() {
            return true;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INVALIDATE).arg(pairs.len() * 2);
        for (key, counter) in pairs {
            cmd.arg(key).arg(counter);
        }
        cmd.arg(self.ttl.as_millis() as u64 * 2);
        self.run::<i64>("invalidate", cmd).await.is_some()
    }

    /// One more in the counter `key`, which expires `ttl` after its first count; the
    /// count, or `None` when Redis did not answer (the rate limiter then counts alone).
    pub async fn count_in_window(&self, key: &str, ttl: Duration) -> Option<i64> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COUNT_IN_WINDOW)
            .arg(1)
            .arg(key)
            .arg(ttl.as_millis() as u64);
        self.run("rate", cmd).await
    }

    /// Publishes `message` on `channel`; the number of subscribers that got it.
    pub async fn publish(&self, channel: &str, message: &[u8]) -> Option<usize> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(message);
        self.run("publish", cmd).await
    }

    pub fn close(&self) {
        self.pool.close();
    }
}
