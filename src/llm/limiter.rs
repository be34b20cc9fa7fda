//! Tokens-per-minute limiting per endpoint: callers wait for capacity instead of failing.
//!
//! A call's size is known only once its answer arrives, so a call reserves an estimate
//! (its prompt plus the endpoint's usual completion, [`CompletionEstimate`]) and settles
//! with the real usage afterwards: the unused part goes back to the bucket, an overshoot is
//! charged and the next callers wait for it. Reserving `max_tokens` instead made every call
//! of a tier with a large output budget wait for a near-full bucket.
//!
//! The bucket is our own rather than governor's (used elsewhere in dra for request rates):
//! governor's GCRA state only moves forward, so it can neither take tokens back nor charge
//! more after the fact, and settling needs both.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket refilled at `tokens_per_minute`, holding `burst_window` worth of tokens.
/// Its level may go below zero when a call used more than it reserved: that debt is paid
/// by the next callers' waits.
#[derive(Debug)]
pub struct TpmLimiter {
    tokens_per_second: f64,
    capacity: u32,
    bucket: Mutex<Bucket>,
    /// Waiters take their turn in arrival order (tokio's mutex is fair), so a large
    /// reservation is not starved by a stream of small ones.
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// Tokens taken from a [`TpmLimiter`] for one call. [`Reservation::settle`] corrects the
/// charge to the call's real usage; dropped unsettled, the reserved amount stays charged.
#[derive(Debug)]
pub struct Reservation<'a> {
    limiter: &'a TpmLimiter,
    tokens: u32,
}

impl TpmLimiter {
    /// A full bucket of `burst_window` worth of `tokens_per_minute` (at least one token).
    pub fn new(tokens_per_minute: u32, burst_window: Duration) -> TpmLimiter {
        let tpm = f64::from(tokens_per_minute.max(1));
        let capacity = (tpm * burst_window.as_secs_f64() / 60.0)
            .round()
            .clamp(1.0, f64::from(u32::MAX)) as u32;
        TpmLimiter {
            tokens_per_second: tpm / 60.0,
            capacity,
            bucket: Mutex::new(Bucket {
                level: f64::from(capacity),
                at: Instant::now(),
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// The most tokens the bucket holds.
    #[cfg(test)]
    fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Wait until `tokens` may be spent, and take them. A request larger than the bucket
    /// waits for a full bucket rather than failing (and its settlement charges the rest).
    pub async fn acquire(&self, tokens: u32) -> Reservation<'_> {
        let tokens = tokens.clamp(1, self.capacity);
        let wanted = f64::from(tokens);
        let _turn = self.queue.lock().await;
        loop {
            let wait = {
                let mut bucket = self.lock();
                self.refill(&mut bucket);
                // A hair of slack: the refill after sleeping exactly the computed wait can
                // fall short by a rounding error.
                if bucket.level + 1e-6 >= wanted {
                    bucket.level -= wanted;
                    return Reservation {
                        limiter: self,
                        tokens,
                    };
                }
                (wanted - bucket.level) / self.tokens_per_second
            };
            tokio::time::sleep(Duration::from_secs_f64(wait.max(1e-3))).await;
        }
    }

    /// Empty the bucket (keeping any debt): the server said 429, so this process's
    /// accounting was optimistic and the next callers should wait for a refill.
    pub fn drain(&self) {
        let mut bucket = self.lock();
        self.refill(&mut bucket);
        bucket.level = bucket.level.min(0.0);
    }

    fn refill(&self, bucket: &mut Bucket) {
        let now = Instant::now();
        let earned = now.duration_since(bucket.at).as_secs_f64() * self.tokens_per_second;
        bucket.level = (bucket.level + earned).min(f64::from(self.capacity));
        bucket.at = now;
    }

    /// Give back `reserved - used` (negative: charge the overshoot).
    fn adjust(&self, reserved: u32, used: u64) {
        let mut bucket = self.lock();
        self.refill(&mut bucket);
        bucket.level =
            (bucket.level + f64::from(reserved) - used as f64).min(f64::from(self.capacity));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // Every update leaves the bucket consistent, so a poisoned lock is still usable.
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reservation<'_> {
    /// The tokens taken from the bucket.
    #[cfg(test)]
    fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Correct the charge to `used` tokens: refund what was reserved and not used, or
    /// charge what was used beyond the reservation.
    pub fn settle(self, used: u64) {
        self.limiter.adjust(self.tokens, used);
    }
}

/// An endpoint's usual completion size: what a call reserves for its answer before it is
/// known. A running average of the real completions, starting at [`CompletionEstimate::INITIAL`],
/// never above the request's `max_tokens`.
#[derive(Debug)]
pub struct CompletionEstimate {
    /// `None` until the first answer arrives.
    average: Mutex<Option<f64>>,
}

impl Default for CompletionEstimate {
    fn default() -> Self {
        CompletionEstimate {
            average: Mutex::new(None),
        }
    }
}

impl CompletionEstimate {
    /// The estimate before any answer was seen: a modest answer, so the first calls of a
    /// run are not held back by an output budget they rarely use.
    pub const INITIAL: u32 = 1_000;
    /// The weight of the newest answer in the running average.
    const WEIGHT: f64 = 0.3;

    /// The tokens to reserve for the answer of a call allowed `max_tokens`.
    pub fn tokens(&self, max_tokens: u32) -> u32 {
        let average = self.lock().unwrap_or(f64::from(Self::INITIAL));
        (average.round() as u32).clamp(1, max_tokens.max(1))
    }

    /// Learn from an answer of `completion_tokens`.
    pub fn observe(&self, completion_tokens: u64) {
        let seen = completion_tokens as f64;
        let mut average = self.lock();
        *average = Some(match *average {
            Some(a) => a + Self::WEIGHT * (seen - a),
            None => seen,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<f64>> {
        self.average.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 6,000 tokens a minute is 100 a second; a 10 s window holds 1,000.
    fn limiter() -> TpmLimiter {
        TpmLimiter::new(6_000, Duration::from_secs(10))
    }

    /// How long (on the paused clock) reserving `reserve` and settling `used` waited.
    async fn waited(l: &TpmLimiter, reserve: u32, used: u64) -> Duration {
        let started = Instant::now();
        l.acquire(reserve).await.settle(used);
        Instant::now() - started
    }

    /// `d` is `expected`, give or take the timer's millisecond.
    fn about(d: Duration, expected: Duration) -> bool {
        d >= expected && d <= expected + Duration::from_millis(5)
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_serves_its_capacity_at_once_then_waits_for_refill() {
        let l = limiter();
        assert_eq!(l.capacity(), 1_000);
        for _ in 0..10 {
            assert_eq!(waited(&l, 100, 100).await, Duration::ZERO);
        }
        let d = waited(&l, 300, 300).await;
        assert!(about(d, Duration::from_secs(3)), "waited {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn settling_refunds_what_a_call_did_not_use() {
        let l = limiter();
        // Unsettled, eleven reservations of 500 would need 4,500 tokens of refill (45 s);
        // what they used (550) fits the bucket.
        for _ in 0..11 {
            assert_eq!(waited(&l, 500, 50).await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn settling_charges_an_overshoot_to_the_next_caller() {
        let l = limiter();
        // Reserved 100, used 2,100: the bucket is at -1,100, so 100 more takes 12 s.
        assert_eq!(waited(&l, 100, 2_100).await, Duration::ZERO);
        let d = waited(&l, 100, 100).await;
        assert!(about(d, Duration::from_secs(12)), "waited {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_larger_than_the_bucket_waits_for_a_full_one() {
        let l = limiter();
        l.acquire(1_000).await.settle(1_000);
        let started = Instant::now();
        let r = l.acquire(5_000).await;
        assert_eq!(r.tokens(), 1_000);
        let d = Instant::now() - started;
        assert!(about(d, Duration::from_secs(10)), "waited {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unsettled_reservation_stays_charged() {
        let l = limiter();
        let _unsettled = l.acquire(1_000).await;
        let d = waited(&l, 500, 500).await;
        assert!(about(d, Duration::from_secs(5)), "waited {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn draining_makes_the_next_caller_wait_for_a_refill() {
        let l = limiter();
        l.drain();
        let d = waited(&l, 200, 200).await;
        assert!(about(d, Duration::from_secs(2)), "waited {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let l = std::sync::Arc::new(limiter());
        l.acquire(1_000).await.settle(1_000);
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let spawn = |tokens: u32, name: &'static str| {
            let (l, order) = (l.clone(), order.clone());
            tokio::spawn(async move {
                l.acquire(tokens).await.settle(u64::from(tokens));
                order.lock().unwrap().push(name);
            })
        };
        let big = spawn(800, "big");
        tokio::task::yield_now().await;
        let small = spawn(10, "small");
        big.await.unwrap();
        small.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["big", "small"]);
    }

    #[test]
    fn the_completion_estimate_starts_modest_learns_and_respects_max_tokens() {
        let e = CompletionEstimate::default();
        assert_eq!(e.tokens(8_000), CompletionEstimate::INITIAL);
        assert_eq!(e.tokens(200), 200, "never above max_tokens");
        e.observe(100);
        assert_eq!(
            e.tokens(8_000),
            100,
            "the first answer replaces the default"
        );
        e.observe(1_100);
        assert_eq!(e.tokens(8_000), 400, "then a running average");
        assert_eq!(e.tokens(0), 1);
    }
}
