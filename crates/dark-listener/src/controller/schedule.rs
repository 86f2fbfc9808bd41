//! Timing decisions of the session keeper, kept free of clocks and I/O so they can be tested:
//! capped exponential backoff with jitter for an unreachable controller, and when to refresh
//! an API session.

use std::time::Duration;

use rand_core::{OsRng, RngCore};

/// Capped exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min(max, initial * 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and never exceeding `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_millis() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            OsRng.next_u64() % (spread + 1)
        };
        half + Duration::from_millis(jitter)
    }

    /// The ceiling the next delay is drawn under.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// When to refresh an API session that has `remaining` time left: after a random 1/2…5/6 of
/// it, like the Go and C SDKs, but never sooner than `floor` (itself capped to half of what
/// remains, so a short session is still refreshed before it ends).
pub fn refresh_delay(remaining: Duration, floor: Duration) -> Duration {
    // 1/2 + r * (5/6 - 1/2) = (3 + 2r) / 6, r in [0, 1]
    let r = (OsRng.next_u64() % 1001) as f64 / 1000.0;
    let delay = remaining.mul_f64((3.0 + 2.0 * r) / 6.0);
    delay.max(floor.min(remaining / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = b.ceiling();
            let d = b.next_delay();
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d:?} outside {ceiling:?}"
            );
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn backoff_survives_huge_attempt_counts() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(60));
        }
    }

    #[test]
    fn refresh_between_half_and_five_sixths() {
        let remaining = Duration::from_secs(1800);
        for _ in 0..200 {
            let d = refresh_delay(remaining, Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(900) && d <= Duration::from_secs(1500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn refresh_floor_applies_but_stays_before_expiry() {
        let d = refresh_delay(Duration::from_secs(12), Duration::from_secs(30));
        assert!(
            d >= Duration::from_secs(6) && d <= Duration::from_secs(10),
            "{d:?}"
        );
        let d = refresh_delay(Duration::from_secs(100), Duration::from_secs(90));
        assert!(
            d >= Duration::from_secs(50) && d <= Duration::from_secs(84),
            "{d:?}"
        );
        assert_eq!(
            refresh_delay(Duration::ZERO, Duration::from_secs(5)),
            Duration::ZERO
        );
    }
}
