//! Per-user request rate limits: research submissions 10 a minute, everything else 60,
//! each user counted on their own (governor's keyed GCRA limiters). Over the limit a
//! request gets 429 with `Retry-After`, in the original's error shape.

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;

use super::{AppState, User};

/// Requests a user may make per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub research_per_minute: u32,
    pub other_per_minute: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            research_per_minute: 10,
            other_per_minute: 60,
        }
    }
}

/// The two keyed limiters.
pub struct RateLimits {
    research: DefaultKeyedRateLimiter<String>,
    other: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    pub fn new(rates: Rates) -> RateLimits {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        RateLimits {
            research: DefaultKeyedRateLimiter::keyed(quota(rates.research_per_minute)),
            other: DefaultKeyedRateLimiter::keyed(quota(rates.other_per_minute)),
        }
    }

    /// `Ok` if `user` may make a request of this kind now, else how long to wait.
    pub fn check(&self, user: &str, research: bool) -> Result<(), Duration> {
        let limiter = if research {
            &self.research
        } else {
            &self.other
        };
        limiter
            .check_key(&user.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Whether a request starts research (the expensive kind).
fn is_research(req: &ServiceRequest) -> bool {
    let path = req.path();
    let in_chat = path.starts_with("/api/v1/chats/");
    match *req.method() {
        Method::POST => {
            path.starts_with("/api/v1/research/jobs")
                || path == "/api/v1/agent/query"
                || path == "/v1/research"
                || (in_chat && (path.ends_with("/messages") || path.ends_with("/regenerate")))
        }
        // Editing a question researches it again.
        Method::PATCH => in_chat && path.contains("/messages/"),
        _ => false,
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
                if let Err(wait) = limits.check(&user.id, is_research(&req)) {
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

    #[test]
    fn each_user_has_their_own_budget_per_kind() {
        let limits = RateLimits::new(Rates {
            research_per_minute: 2,
            other_per_minute: 3,
        });
        assert!(limits.check("ada", true).is_ok());
        assert!(limits.check("ada", true).is_ok());
        let wait = limits.check("ada", true).unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // Other kinds and other users are counted apart.
        assert!(limits.check("ada", false).is_ok());
        assert!(limits.check("bob", true).is_ok());
    }
}
