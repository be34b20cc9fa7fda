//! Per-user request rate limits (the `rate_limits:` section; ours, the original has none):
//! research submissions and everything else, each user counted on their own (governor's
//! keyed GCRA limiters, a burst of a whole minute's allowance). Over a limit a request gets
//! 429 with `Retry-After`, in the original's error shape.
//!
//! The defaults are sized so the original's React frontend never meets them: a tab polls
//! several times a second (active jobs every 5 s, the chat's active job every 3 s, each
//! answer's claims every 3 s until they exist, reconnection events every 2 s, job events
//! every second, a dropped event stream every 2 s), about 350 requests a minute at worst,
//! and a user may have several tabs open. They stop a runaway client, not a person.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AppState, User};

/// The `rate_limits:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitsConfig {
    /// `false` turns both limits off.
    pub enabled: bool,
    /// Requests a user may make per minute, research submissions aside (reads, polls,
    /// edits of chats and preferences, event streams opened).
    pub requests_per_minute: u32,
    /// Research a user may start per minute: new jobs, questions sent, edited or
    /// regenerated, agent queries.
    pub research_per_minute: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            enabled: true,
            // Three tabs of the original's frontend polling at their busiest (~1,050 a
            // minute) stay under it.
            requests_per_minute: 1200,
            // Running research is bounded by `jobs.max_concurrent_per_user`; this only
            // stops a client that submits in a loop.
            research_per_minute: 30,
        }
    }
}

impl RateLimitsConfig {
    /// Values out of range, as (key under `rate_limits`, value, what is allowed).
    pub fn problems(&self) -> Vec<(&'static str, String, String)> {
        let mut problems = Vec::new();
        for (key, value, max) in [
            ("requests_per_minute", self.requests_per_minute, 1_000_000),
            ("research_per_minute", self.research_per_minute, 10_000),
        ] {
            if !(1..=max).contains(&value) {
                problems.push((
                    key,
                    value.to_string(),
                    format!(
                        "must be between 1 and {max} (to turn the limits off, set rate_limits.enabled: false)"
                    ),
                ));
            }
        }
        problems
    }
}

/// The limiters' clock: monotonic time, or (tests) time that moves only when told to.
#[derive(Debug, Clone)]
pub enum LimitClock {
    /// Time since the limits were made.
    Real(Instant),
    /// Nanoseconds advanced by [`LimitClock::advance`].
    Manual(Arc<AtomicU64>),
}

impl LimitClock {
    /// A clock that stands still until advanced, so a test can play minutes of traffic
    /// in a second.
    pub fn manual() -> LimitClock {
        LimitClock::Manual(Arc::new(AtomicU64::new(0)))
    }

    /// Moves a manual clock on; a real one ignores it.
    pub fn advance(&self, by: Duration) {
        if let LimitClock::Manual(nanos) = self {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            nanos.fetch_add(by, Ordering::Relaxed);
        }
    }
}

impl Clock for LimitClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        match self {
            LimitClock::Real(start) => start.elapsed(),
            LimitClock::Manual(nanos) => Duration::from_nanos(nanos.load(Ordering::Relaxed)),
        }
    }
}

type KeyedLimiter =
    RateLimiter<String, DashMapStateStore<String>, LimitClock, NoOpMiddleware<Duration>>;

/// The two keyed limiters.
pub struct RateLimits {
    research: KeyedLimiter,
    other: KeyedLimiter,
    clock: LimitClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    /// The limits `config` asks for; `None` when they are turned off.
    pub fn from_config(config: &RateLimitsConfig) -> Option<RateLimits> {
        config
            .enabled
            .then(|| RateLimits::with_clock(config, LimitClock::Real(Instant::now())))
    }

    /// Limits on `clock` (a manual one in tests), whether or not `config` enables them.
    pub fn with_clock(config: &RateLimitsConfig, clock: LimitClock) -> RateLimits {
        // Validation keeps both at 1 or more; a hand-built config with 0 gets 1.
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        RateLimits {
            research: RateLimiter::dashmap_with_clock(
                quota(config.research_per_minute),
                clock.clone(),
            ),
            other: RateLimiter::dashmap_with_clock(
                quota(config.requests_per_minute),
                clock.clone(),
            ),
            clock,
        }
    }

    /// `Ok` if `user` may make a request of this kind now, else how long to wait.
    pub fn check(&self, user: &str, kind: Kind) -> Result<(), Duration> {
        let limiter = match kind {
            Kind::Research => &self.research,
            Kind::Other => &self.other,
        };
        limiter
            .check_key(&user.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Which budget a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// It starts research (the expensive kind).
    Research,
    Other,
}

/// Whether a request starts research.
fn kind_of(req: &ServiceRequest) -> Kind {
    let path = req.path();
    let in_chat = path.starts_with("/api/v1/chats/");
    let research = match *req.method() {
        Method::POST => {
            path.starts_with("/api/v1/research/jobs")
                || path == "/api/v1/agent/query"
                || path == "/v1/research"
                || super::responses_agent::PATHS.contains(&path)
                || (in_chat && (path.ends_with("/messages") || path.ends_with("/regenerate")))
        }
        // Editing a question researches it again.
        Method::PATCH => in_chat && path.contains("/messages/"),
        _ => false,
    };
    if research {
        Kind::Research
    } else {
        Kind::Other
    }
}

/// The middleware: counts the request against its user; health checks and the UI's files
/// are never limited and requests without an identity are left for the route to refuse.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path();
    let exempt =
        path == "/health" || path.ends_with("/health") || !super::static_files::is_api_path(path);
    if !exempt {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            if let (Some(limits), Ok(user)) = (
                state.limits.as_ref(),
                User::of(req.request(), &state.identity),
            ) {
                if let Err(wait) = limits.check(&user.id, kind_of(&req)) {
                    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    let response = HttpResponse::TooManyRequests()
                        .insert_header(("Retry-After", seconds.max(1).to_string()))
                        .json(json!({
                            "code": "RATE_LIMITED",
                            "message": "Rate limit exceeded",
                            "details": {"retry_after": seconds.max(1)},
                        }));
                    return Ok(req.into_response(response));
                }
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(research: u32, other: u32) -> RateLimitsConfig {
        RateLimitsConfig {
            enabled: true,
            requests_per_minute: other,
            research_per_minute: research,
        }
    }

    #[test]
    fn each_user_has_their_own_budget_per_kind_refilled_over_the_minute() {
        let clock = LimitClock::manual();
        let limits = RateLimits::with_clock(&config(2, 3), clock.clone());
        assert!(limits.check("ada", Kind::Research).is_ok());
        assert!(limits.check("ada", Kind::Research).is_ok());
        let wait = limits.check("ada", Kind::Research).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30), "one of 2 a minute");
        // Other kinds and other users are counted apart.
        assert!(limits.check("ada", Kind::Other).is_ok());
        assert!(limits.check("bob", Kind::Research).is_ok());
        clock.advance(Duration::from_secs(30));
        assert!(limits.check("ada", Kind::Research).is_ok());
    }

    #[test]
    fn the_section_is_on_by_default_and_zero_is_out_of_range() {
        let defaults = RateLimitsConfig::default();
        assert!(defaults.problems().is_empty());
        assert!(RateLimits::from_config(&defaults).is_some());
        let off = RateLimitsConfig {
            enabled: false,
            ..defaults
        };
        assert!(RateLimits::from_config(&off).is_none());
        let keys: Vec<&str> = config(0, 0).problems().iter().map(|p| p.0).collect();
        assert_eq!(keys, ["requests_per_minute", "research_per_minute"]);
    }
}
