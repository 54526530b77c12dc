//! Exponential back-off with full jitter, shared by every retrying call (token, assignments, Rego
//! downloads, reports).
//!
//! Full jitter (a uniform wait in `[0, min(cap, base·2^n)]`) spreads retries from many clusters so a
//! recovering dataplane is not hit in lock-step; the cap keeps a long outage from growing waits
//! beyond what an operator expects. A server's `Retry-After` overrides the computed wait.

use std::time::Duration;

use rand::Rng;

/// Retry parameters; `attempts` counts the first try too.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    pub fn new(attempts: u32, base: Duration, cap: Duration) -> Self {
        Self { attempts: attempts.max(1), base, cap }
    }

    /// The jittered wait before retry number `retry` (0 = the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        if ceiling.is_zero() {
            return ceiling;
        }
        let millis = ceiling.as_millis().max(1) as u64;
        // Never wait less than a tenth of the ceiling: pure zero waits would hammer the server.
        Duration::from_millis(rand::rng().random_range(millis / 10..=millis))
    }

    /// The un-jittered ceiling for retry number `retry`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `retry`, honouring a server-supplied `Retry-After` (capped).
    pub fn delay_with_hint(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(hint) => hint.min(self.cap),
            None => self.delay(retry),
        }
    }
}

/// Parses a `Retry-After` header value given in seconds (the HTTP-date form is not used by ARM).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    v.parse::<u64>()
        .map(Duration::from_secs)
        .ok()
        .or_else(|| v.parse::<f64>().ok().filter(|s| *s >= 0.0).map(Duration::from_secs_f64))
}

/// What a retry loop needs to know about an error.
pub trait Retryable {
    /// Whether trying again could succeed (throttling, 5xx, transport faults).
    fn is_retryable(&self) -> bool;
    /// A server-requested wait (429/503 `Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Runs `attempt` until it succeeds, fails permanently, or `policy.attempts` are used up; returns the
/// last error then. `on_retry` sees each retryable failure (for logs and metrics).
pub async fn retry<T, E, F, Fut>(
    policy: RetryPolicy,
    mut attempt: F,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && n + 1 < policy.attempts => {
                let wait = policy.delay_with_hint(n, e.retry_after());
                on_retry(&e, wait);
                tokio::time::sleep(wait).await;
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let p = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
        assert_eq!(p.ceiling(3), Duration::from_millis(800));
        assert_eq!(p.ceiling(30), Duration::from_secs(1));
        for n in 0..10 {
            let d = p.delay(n);
            assert!(d <= p.ceiling(n) && d >= p.ceiling(n) / 10, "{d:?}");
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_secs(3));
        assert_eq!(p.delay_with_hint(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(p.delay_with_hint(0, Some(Duration::from_secs(60))), Duration::from_secs(3));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
