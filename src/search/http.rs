//! The HTTP call every provider shares: wait for the rate limiter, GET, map the status to a
//! [`SearchError`], decode JSON, and retry transient failures with backoff (honouring
//! `Retry-After`).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::{ProviderKind, SearchConfig, SearchError};

/// One provider's connection: client, endpoint, limiter and retry policy.
#[derive(Debug)]
pub(super) struct Http {
    provider: ProviderKind,
    client: reqwest::Client,
    endpoint: Url,
    limiter: DefaultDirectRateLimiter,
    retry: ExponentialBuilder,
    max_retry_after: Duration,
    timeout: Duration,
    /// What a 401/403 means for this provider and what to do about it.
    refused_hint: String,
}

impl Http {
    /// A connection to `base` + `path`, sending `headers` on every request and allowing at
    /// most `requests_per_second` requests (retries included). A `User-Agent` in `headers`
    /// replaces dra's default one.
    pub(super) fn new(
        provider: ProviderKind,
        config: &SearchConfig,
        base: &str,
        path: &str,
        requests_per_second: f64,
        mut headers: HeaderMap,
        refused_hint: String,
    ) -> Result<Http, SearchError> {
        let not_configured = |hint: String| SearchError::NotConfigured { provider, hint };
        let endpoint = Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                not_configured(format!(
                    "search.{provider}.base_url `{}` is not an http(s) URL",
                    crate::redact::scrub(base)
                ))
            })?;
        // A burst of one: with 5 per second, calls are 200 ms apart rather than five at once.
        let quota = Duration::try_from_secs_f64(1.0 / requests_per_second)
            .ok()
            .filter(|p| !p.is_zero())
            .and_then(Quota::with_period)
            .ok_or_else(|| {
                not_configured(format!(
                    "search.{provider}.requests_per_second must be greater than 0, got {requests_per_second}"
                ))
            })?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if !headers.contains_key(USER_AGENT) {
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("dra/", env!("CARGO_PKG_VERSION"))),
            );
        }
        let mut client = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .default_headers(headers);
        if crate::web::is_loopback(&endpoint) {
            // A self-hosted provider on this machine (SearXNG): a proxy cannot reach it.
            client = client.no_proxy();
        }
        let client = client
            .build()
            .map_err(|e| not_configured(format!("cannot build an HTTP client: {e}")))?;
        Ok(Http {
            provider,
            client,
            endpoint,
            limiter: DefaultDirectRateLimiter::direct(quota),
            retry: ExponentialBuilder::default()
                .with_min_delay(config.retry_delay)
                .with_max_delay(config.retry_delay.saturating_mul(16))
                .with_max_times(config.retries as usize)
                .with_jitter(),
            max_retry_after: config.max_retry_after,
            timeout: config.timeout,
            refused_hint,
        })
    }

    /// GET the endpoint with `params`, decoded as `T`, retrying transient failures.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        params: &[(&str, String)],
    ) -> Result<T, SearchError> {
        let max_retry_after = self.max_retry_after;
        (|| self.once(params))
            .retry(self.retry)
            .when(SearchError::is_transient)
            .adjust(move |e, backoff| {
                // `None` means the retries are used up: stop whatever the server says.
                let backoff = backoff?;
                match e.retry_after() {
                    Some(wait) if wait > max_retry_after => None,
                    Some(wait) => Some(wait),
                    None => Some(backoff),
                }
            })
            .notify(|e, after| {
                tracing::warn!(error = %e, retry_in = ?after, "search request failed; retrying")
            })
            .await
    }

    async fn once<T: DeserializeOwned>(&self, params: &[(&str, String)]) -> Result<T, SearchError> {
        self.limiter.until_ready().await;
        let provider = self.provider;
        tracing::debug!(%provider, endpoint = %self.endpoint, "search request");
        let network = |e: reqwest::Error| SearchError::Network {
            provider,
            base_url: self.endpoint.origin().ascii_serialization(),
            message: if e.is_timeout() {
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.timeout)
                )
            } else {
                error_chain(&e.without_url())
            },
        };
        let resp = self
            .client
            .get(self.endpoint.clone())
            .query(params)
            .send()
            .await
            .map_err(network)?;
        let status = resp.status();
        let retry_after = resp.headers().get(RETRY_AFTER).and_then(parse_retry_after);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no Content-Type")
            .to_string();
        let body = resp.bytes().await.map_err(network)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| SearchError::Decode {
                provider,
                message: undecodable(&e, &content_type, &body),
            });
        }
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SearchError::Unauthorized {
                provider,
                status,
                hint: self.refused_hint.clone(),
            },
            StatusCode::TOO_MANY_REQUESTS => SearchError::RateLimited {
                provider,
                retry_after,
            },
            _ => SearchError::Status {
                provider,
                status,
                message: error_message(status, &body),
            },
        })
    }
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Why a successful answer could not be read, with what it was instead: a serde error
/// alone ("expected value at line 1 column 1") does not say that the server sent HTML.
fn undecodable(e: &serde_json::Error, content_type: &str, body: &[u8]) -> String {
    // Bytes, decoded lossily: a character cut at 1024 becomes U+FFFD, never a panic.
    let head = &body[..body.len().min(1024)];
    let text = String::from_utf8_lossy(head);
    let start = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let start: String = start.chars().take(80).collect();
    format!(
        "{e}; the body ({content_type}) starts {:?}",
        crate::redact::scrub(&start)
    )
}

/// The most useful line of an error body: Brave's `error.detail`, MediaWiki's
/// `error.info`, SearXNG's text, else the status reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let detail = json.as_ref().and_then(|j| {
        j.pointer("/error/detail")
            .or_else(|| j.pointer("/error/info"))
            .or_else(|| j.pointer("/message"))
            .or_else(|| j.pointer("/error"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    let text = detail.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let text: String = text.chars().take(300).collect();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no details")
            .to_string();
    }
    crate::redact::scrub(&text).into_owned()
}

/// reqwest's own message is often just "error sending request"; the cause says why.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
