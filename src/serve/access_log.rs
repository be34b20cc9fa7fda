//! Request ids and the access log.
//!
//! Every response carries an `X-Request-Id`: the caller's (the proxy's) when it sent a
//! sane one, else a fresh one, so a log line and a user's report can be matched. Every
//! request then leaves one `tracing` event, target `dra::access`, with fields a log
//! pipeline can filter on (`LOG_FORMAT=json` makes them JSON keys): `request_id`,
//! `method`, `path` (no query string: queries carry users' search terms), `route` (the
//! matched pattern, so `/api/v1/chats/{chat_id}` groups every chat), `status`,
//! `duration_ms` (until the response head: an event stream would otherwise log hours
//! later) and `client` (the proxy's `X-Forwarded-For` first).
//!
//! Hand-written rather than actix-web's `Logger` (one preformatted string) or
//! tracing-actix-web (spans, which would need span-close events for every span in the
//! process to show up as lines).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: assign the request id, run the request, set the header, log one event.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let path = req.path().to_string();
    let client = client_ip(&req).unwrap_or_default();
    let mut result = next.call(req).await;
    let duration_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let (status, route) = match &mut result {
        Ok(response) => {
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(HEADER, value);
            }
            (
                response.status().as_u16(),
                response.request().match_pattern().unwrap_or_default(),
            )
        }
        Err(e) => (e.as_response_error().status_code().as_u16(), String::new()),
    };
    tracing::info!(
        target: "dra::access",
        request_id = %id,
        method = %method,
        path = %path,
        route = %route,
        status,
        duration_ms,
        client = %client,
        "{method} {path} {status}"
    );
    result
}

/// The client's address: the proxy's `Forwarded`/`X-Forwarded-For` when present (the
/// Databricks Apps proxy sets it, and identity trusts the same proxy), else the peer's,
/// without its port.
pub fn client_ip(req: &ServiceRequest) -> Option<String> {
    let info = req.connection_info();
    let addr = info.realip_remote_addr()?;
    Some(match addr.parse::<std::net::SocketAddr>() {
        Ok(socket) => socket.ip().to_string(),
        Err(_) => addr.to_string(),
    })
}

/// Whether a caller's request id is safe to echo and log.
fn sane(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::sane;

    #[test]
    fn only_short_plain_ids_are_taken_from_callers() {
        assert!(sane("req-1.a_B"));
        assert!(!sane(""));
        assert!(!sane("a b"));
        assert!(!sane("x\r\nSet-Cookie: y"));
        assert!(!sane(&"a".repeat(129)));
    }
}
