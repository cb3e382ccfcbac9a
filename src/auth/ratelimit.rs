//! A fixed-window counter of failures per client (IP), for logins and failed API authentication.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limit,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `client` may try again, if it is currently blocked.
    pub fn blocked_for(&self, client: &str) -> Option<u64> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (start, n) = counts.get(client)?;
        let elapsed = start.elapsed();
        if *n >= self.limit && elapsed < self.window {
            Some((self.window - elapsed).as_secs().max(1))
        } else {
            None
        }
    }

    pub fn record_failure(&self, client: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = counts
            .entry(client.to_string())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// Count an attempt before it is evaluated (so concurrent attempts cannot race past the
    /// limit): Err(seconds to wait) when the client is blocked, else the attempt is counted.
    pub fn begin_attempt(&self, client: &str) -> Result<(), u64> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = counts
            .entry(client.to_string())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        if entry.1 >= self.limit {
            return Err((self.window - entry.0.elapsed()).as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// A counted attempt succeeded: take back that one count only. Failures of other attempts
    /// from the same client (another account's guesses) stay counted.
    pub fn refund(&self, client: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = counts.get_mut(client) {
            e.1 = e.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let l = FailureLimiter::new(3, Duration::from_millis(200));
        for _ in 0..2 {
            l.record_failure("a");
        }
        assert!(l.blocked_for("a").is_none());
        l.record_failure("a");
        assert!(l.blocked_for("a").is_some());
        assert!(l.blocked_for("b").is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.blocked_for("a").is_none());
    }

    #[test]
    fn attempts_are_counted_before_they_are_evaluated_and_a_success_refunds_only_itself() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        // Three attempts in flight at once: the fourth is refused before any is evaluated.
        for _ in 0..3 {
            assert!(l.begin_attempt("ip").is_ok());
        }
        assert!(l.begin_attempt("ip").is_err());
        // One of them succeeded (own account): only that one is taken back.
        l.refund("ip");
        assert!(l.begin_attempt("ip").is_ok());
        assert!(l.begin_attempt("ip").is_err());
        assert!(l.begin_attempt("other").is_ok());
    }
}
