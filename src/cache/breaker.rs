//! A circuit breaker for the Redis calls of the shared cache.
//!
//! Redis is an optimisation, so a dead or slow Redis must cost almost nothing: every
//! call already has a short timeout, and after [`FAILURES_TO_OPEN`] failures in a row
//! the breaker opens and calls are skipped outright (the caches degrade to L1 and the
//! source). After the cool-down one call is let through as a probe; its success closes
//! the breaker, its failure opens it again.
//!
//! Written by hand: the state machine is twenty lines, and the crates that offer one
//! bring their own timers and futures wrappers that the timeout already covers.

use crate::sync;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 5;

/// What the breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// One probe call is in flight; its outcome decides.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `since`: when the probe was let through. A probe whose caller was cancelled
    /// never reports back, so after `probe_timeout` another probe may go.
    HalfOpen {
        since: Instant,
    },
}

#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
    cool_down: Duration,
    probe_timeout: Duration,
}

impl Breaker {
    /// A closed breaker that stays open for `cool_down` after opening; a probe that
    /// has not reported within `probe_timeout` is presumed lost.
    pub fn new(cool_down: Duration, probe_timeout: Duration) -> Breaker {
        Breaker {
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            cool_down,
            probe_timeout,
        }
    }

    /// Whether a call may go now. In the half-open state only the probe may.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut inner = sync::lock(&self.inner);
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now >= until => {
                *inner = Inner::HalfOpen { since: now };
                true
            }
            Inner::Open { .. } => false,
            Inner::HalfOpen { since } if now.duration_since(since) >= self.probe_timeout => {
                *inner = Inner::HalfOpen { since: now };
                true
            }
            Inner::HalfOpen { .. } => false,
        }
    }

    pub fn record_success(&self) {
        *sync::lock(&self.inner) = Inner::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now());
    }

    fn record_failure_at(&self, now: Instant) {
        {
            let mut inner = sync::lock(&self.inner);
            *inner = match *inner {
                Inner::Closed { failures } if failures + 1 < FAILURES_TO_OPEN => Inner::Closed {
                    failures: failures + 1,
                },
                _ => Inner::Open {
                    until: now + self.cool_down,
                },
            };
        }
    }

    pub fn state(&self) -> BreakerState {
        match *sync::lock(&self.inner) {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(Duration::from_secs(1), Duration::from_millis(100))
    }

    #[test]
    fn opens_after_failures_in_a_row_only() {
        let b = breaker();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.record_failure();
        }
        b.record_success();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.record_failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
    }

    #[test]
    fn lets_one_probe_through_after_the_cool_down() {
        let b = breaker();
        let start = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            b.record_failure_at(start);
        }
        assert!(!b.allow_at(start + Duration::from_millis(999)));
        let later = start + Duration::from_secs(1);
        assert!(b.allow_at(later), "the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow_at(later), "only one probe at a time");
        assert!(
            b.allow_at(later + Duration::from_millis(100)),
            "a lost probe is replaced"
        );
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let b = breaker();
        let start = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            b.record_failure_at(start);
        }
        let later = start + Duration::from_secs(1);
        assert!(b.allow_at(later));
        b.record_failure_at(later);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow_at(later + Duration::from_millis(500)));
    }
}
