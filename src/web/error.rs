//! Why a page could not be fetched or read. Callers match on the variant to decide whether
//! to skip the source, try another, or fail the run.

use std::time::Duration;

use url::Url;

use super::BlockReason;

/// A failed fetch. Cheap to clone, so one outcome can be shared by every task that asked
/// for the same page.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The text is not an absolute http(s) URL.
    #[error("`{url}` is not a fetchable URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Connecting, or waiting for data, took longer than the configured timeout.
    #[error("{url}: timed out after {}", humantime::format_duration(*after))]
    Timeout { url: Url, after: Duration },
    /// The body is larger than `web.max_body_bytes`; reading stopped at the cap.
    #[error("{url}: body larger than {limit} bytes (web.max_body_bytes)")]
    TooLarge { url: Url, limit: u64 },
    /// The server answered with a non-success status (after retries when transient).
    #[error("{url}: HTTP {status}")]
    HttpStatus { url: Url, status: u16 },
    /// The body is neither HTML, plain text nor PDF.
    #[error(
        "{url}: unsupported content type `{content_type}` (dra reads HTML, plain text and PDF)"
    )]
    UnsupportedType { url: Url, content_type: String },
    /// The page has no readable text, e.g. it is rendered by JavaScript.
    #[error("{url}: no readable text on the page (it may need JavaScript to render)")]
    EmptyContent { url: Url },
    /// More redirects than `web.max_redirects`.
    #[error("{url}: more than {limit} redirects (web.max_redirects)")]
    TooManyRedirects { url: Url, limit: u32 },
    /// DNS, connection, TLS or protocol failure.
    #[error("{url}: cannot fetch: {message}")]
    Network { url: Url, message: String },
    /// The address guard refused the URL, a redirect hop or the address a host resolves
    /// to (see `web.allowed_hosts`). Never retried.
    #[error("{url}: blocked: {reason}")]
    Blocked { url: Url, reason: Box<BlockReason> },
    /// The body could not be decoded (a broken PDF, an unreadable document).
    #[error("{url}: cannot read the content: {message}")]
    Decode { url: Url, message: String },
    /// The page was still loading when its caller stopped waiting (a research step's
    /// `agents.researcher.fetch_deadline` or `straggler_wait`) and went on without it.
    #[error("{url}: still loading after {}; not waited for", humantime::format_duration(*after))]
    Abandoned { url: String, after: Duration },
}

impl FetchError {
    /// Why the address guard refused the fetch, when it did.
    pub fn block_reason(&self) -> Option<&BlockReason> {
        match self {
            FetchError::Blocked { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: connection failures, timeouts,
    /// and HTTP 429/500/502/503/504. (500 is included because overloaded sites and CDNs
    /// often return it for a moment; 501 and other 5xx are final.) The fetcher itself
    /// retries all of these but timeouts (see `web.retries`).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Network { .. } | FetchError::Timeout { .. } => true,
            FetchError::HttpStatus { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// The HTTP client could not be built (e.g. the TLS backend failed to initialise, or a
/// proxy variable holds an invalid URL).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for fetching pages: {0}")]
pub struct ClientError(pub String);
