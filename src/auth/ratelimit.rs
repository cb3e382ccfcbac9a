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

    pub fn reset(&self, client: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(client);
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
        l.record_failure("a");
        l.record_failure("a");
        l.reset("a");
        assert!(l.blocked_for("a").is_none());
    }
}
