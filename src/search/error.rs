//! What can go wrong while searching, typed so callers can decide (retry, skip a query, fail).

use std::time::Duration;

use reqwest::StatusCode;

use super::ProviderKind;

/// A failed search. Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The provider cannot be used as configured: no key, no base URL, a malformed URL.
    #[error("{provider} search is not configured: {hint}")]
    NotConfigured {
        provider: ProviderKind,
        /// What to set, e.g. "set BRAVE_API_KEY (or search.brave.api_key)".
        hint: String,
    },
    /// The provider refused our credentials (HTTP 401/403); retrying cannot help.
    #[error("{provider} refused the request (HTTP {status}): {hint}")]
    Unauthorized {
        provider: ProviderKind,
        status: StatusCode,
        hint: String,
    },
    /// Still rate limited (HTTP 429) after every retry, or asked to wait longer than we
    /// are willing to.
    #[error("{provider} is rate limiting us (HTTP 429){}; lower search.{provider}.requests_per_second or try again later", describe_retry_after(*retry_after))]
    RateLimited {
        provider: ProviderKind,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Any other non-success status.
    #[error("{provider} answered HTTP {status}: {message}")]
    Status {
        provider: ProviderKind,
        status: StatusCode,
        message: String,
    },
    /// The provider could not be reached, or the connection broke or timed out.
    #[error("cannot reach {provider} at {base_url}: {message}")]
    Network {
        provider: ProviderKind,
        base_url: String,
        message: String,
    },
    /// The provider understood the request and answered it with an error of its own, in
    /// a successful response (MediaWiki's `{"error": {"code", "info"}}`).
    #[error("{provider} rejected the query ({code}): {message}")]
    Rejected {
        provider: ProviderKind,
        code: String,
        message: String,
    },
    /// The provider answered with something that is not its documented JSON.
    #[error("{provider} sent a response dra cannot read: {message}")]
    Decode {
        provider: ProviderKind,
        message: String,
    },
}

impl SearchError {
    /// Whether the same request may succeed if sent again (429, 5xx, network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            SearchError::RateLimited { .. } | SearchError::Network { .. } => true,
            SearchError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }

    /// Which provider failed.
    pub fn provider(&self) -> ProviderKind {
        match self {
            SearchError::NotConfigured { provider, .. }
            | SearchError::Unauthorized { provider, .. }
            | SearchError::RateLimited { provider, .. }
            | SearchError::Status { provider, .. }
            | SearchError::Network { provider, .. }
            | SearchError::Rejected { provider, .. }
            | SearchError::Decode { provider, .. } => *provider,
        }
    }

    /// How long the server asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SearchError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn describe_retry_after(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!(
            "; the server asks to retry after {}",
            humantime::format_duration(d)
        ),
        None => String::new(),
    }
}
