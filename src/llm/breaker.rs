//! A per-endpoint circuit breaker: after repeated failures an endpoint cools down, then
//! one probe request decides whether it is back.
//!
//! Hand-written (about 60 lines): the crates for this (failsafe, circuitbreaker-rs) are
//! unmaintained or pull in their own retry and time abstractions that fight backon.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether a request may go to the endpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed circuit: go ahead.
    Allowed,
    /// The cooldown is over: this request is the probe.
    Probe,
    /// Open circuit: skip the endpoint for this long.
    Rejected { retry_in: Duration },
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out since this moment.
    HalfOpen {
        since: Instant,
    },
}

/// Thread-safe breaker state for one endpoint.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Ask before sending a request.
    pub fn admit(&self) -> Admission {
        let Ok(mut state) = self.state.lock() else {
            return Admission::Allowed;
        };
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen { since: now };
                    Admission::Probe
                } else {
                    Admission::Rejected {
                        retry_in: until - now,
                    }
                }
            }
            // A probe whose caller gave up (its future was dropped) never reports back:
            // after another cooldown, let a new probe go.
            State::HalfOpen { since } if since.elapsed() >= self.cooldown => {
                *state = State::HalfOpen {
                    since: Instant::now(),
                };
                Admission::Probe
            }
            // One probe at a time; others wait for its verdict.
            State::HalfOpen { since } => Admission::Rejected {
                retry_in: self.cooldown.saturating_sub(since.elapsed()),
            },
        }
    }

    /// Record a successful call.
    pub fn success(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::Closed { failures: 0 };
        }
    }

    /// Record a failed call (after its retries).
    pub fn failure(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes_once() {
        let b = CircuitBreaker::new(2, Duration::from_millis(50));
        assert_eq!(b.admit(), Admission::Allowed);
        b.failure();
        assert_eq!(b.admit(), Admission::Allowed);
        b.failure();
        assert!(matches!(b.admit(), Admission::Rejected { .. }), "open");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit(), Admission::Probe, "cooldown elapsed");
        assert!(
            matches!(b.admit(), Admission::Rejected { .. }),
            "only one probe"
        );
        b.success();
        assert_eq!(b.admit(), Admission::Allowed);
    }

    #[test]
    fn an_abandoned_probe_does_not_lock_the_endpoint_out() {
        let b = CircuitBreaker::new(1, Duration::from_millis(30));
        b.failure();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Probe);
        // The probe's caller vanished; no success or failure is ever recorded.
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit(), Admission::Probe);
    }

    #[test]
    fn failed_probe_reopens() {
        let b = CircuitBreaker::new(1, Duration::from_secs(60));
        b.failure();
        assert!(
            matches!(b.admit(), Admission::Rejected { retry_in } if retry_in > Duration::from_secs(50))
        );
    }
}
