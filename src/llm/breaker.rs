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
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
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
                    *state = State::HalfOpen;
                    Admission::Probe
                } else {
                    Admission::Rejected {
                        retry_in: until - now,
                    }
                }
            }
            // One probe at a time; others wait for its verdict.
            State::HalfOpen => Admission::Rejected {
                retry_in: Duration::ZERO,
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
        let b = CircuitBreaker::new(2, Duration::from_millis(0));
        assert_eq!(b.admit(), Admission::Allowed);
        b.failure();
        assert_eq!(b.admit(), Admission::Allowed);
        b.failure();
        assert_eq!(b.admit(), Admission::Probe, "cooldown of 0 elapses at once");
        assert!(
            matches!(b.admit(), Admission::Rejected { .. }),
            "only one probe"
        );
        b.success();
        assert_eq!(b.admit(), Admission::Allowed);
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
