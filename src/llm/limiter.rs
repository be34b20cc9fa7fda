//! Tokens-per-minute limiting per endpoint: callers wait for capacity instead of failing.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A token bucket refilled at `tokens_per_minute`, holding `burst_window` worth of tokens.
#[derive(Debug)]
pub struct TpmLimiter {
    limiter: DefaultDirectRateLimiter,
    capacity: NonZeroU32,
}

impl TpmLimiter {
    pub fn new(tokens_per_minute: u32, burst_window: Duration) -> TpmLimiter {
        let tpm = tokens_per_minute.max(1);
        let per_token = Duration::from_secs_f64(60.0 / f64::from(tpm));
        let burst = (f64::from(tpm) * burst_window.as_secs_f64() / 60.0).round() as u32;
        let capacity = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(per_token)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(capacity);
        TpmLimiter {
            limiter: RateLimiter::direct(quota),
            capacity,
        }
    }

    /// Wait until `tokens` may be spent. A request larger than the bucket waits for a full
    /// bucket rather than failing.
    pub async fn acquire(&self, tokens: u32) {
        let n = NonZeroU32::new(tokens.clamp(1, self.capacity.get())).unwrap_or(NonZeroU32::MIN);
        // n ≤ capacity, so this cannot report insufficient capacity.
        let _ = self.limiter.until_n_ready(n).await;
    }
}
