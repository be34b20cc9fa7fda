//! The `search` configuration section. The Python original's keys
//! (`brave.{requests_per_second, default_result_count, freshness}`,
//! `domain_filter.{mode, include_domains, exclude_domains, log_filtered}`) keep their meaning;
//! the rest is dra's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Freshness, ProviderKind};

/// Brave's documented API host.
pub const BRAVE_DEFAULT_BASE_URL: &str = "https://api.search.brave.com";

/// Which provider answers searches, and how each is reached.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SearchConfig {
    /// The provider `from_config` builds: `brave` (default) or `searxng`.
    pub provider: ProviderKind,
    /// Limit for one HTTP request, connection included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries after a 429, a 5xx or a network error (0 = try once).
    pub retries: u32,
    /// First backoff delay; it doubles per retry. A server's `Retry-After` takes precedence.
    #[serde(with = "humantime_serde")]
    pub retry_delay: Duration,
    /// The longest `Retry-After` we wait out; a longer one fails at once as rate limited.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
    pub brave: BraveConfig,
    pub searxng: SearxngConfig,
    pub domain_filter: DomainFilterConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Brave,
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            brave: BraveConfig::default(),
            searxng: SearxngConfig::default(),
            domain_filter: DomainFilterConfig::default(),
        }
    }
}

/// Brave Search API settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BraveConfig {
    /// API root; env `BRAVE_BASE_URL` overrides it (tests point it at a fake).
    pub base_url: String,
    /// The subscription token; env `BRAVE_API_KEY` overrides it. Printed redacted.
    pub api_key: Option<ApiKey>,
    /// Calls per second across the whole process; calls wait for their turn instead of failing.
    pub requests_per_second: f64,
    /// Results per query when the caller does not say (for every provider).
    pub default_result_count: u32,
    /// Default recency filter for every provider: pd, pw, pm or py; empty for none.
    pub freshness: Option<Freshness>,
    /// Two-letter country code results are biased to (Brave's `country`), e.g. `us`.
    #[serde(deserialize_with = "opt_string")]
    pub country: Option<String>,
}

impl Default for BraveConfig {
    fn default() -> Self {
        Self {
            base_url: BRAVE_DEFAULT_BASE_URL.into(),
            api_key: None,
            requests_per_second: 1.0,
            default_result_count: 10,
            freshness: Some(Freshness::PastMonth),
            country: None,
        }
    }
}

/// SearXNG (self-hosted metasearch) settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SearxngConfig {
    /// The instance's root URL; env `SEARXNG_URL` overrides it. Its JSON output format must
    /// be enabled (`search.formats: [html, json]` in the instance's settings.yml).
    #[serde(deserialize_with = "opt_string")]
    pub base_url: Option<String>,
    /// Calls per second to the instance.
    pub requests_per_second: f64,
    /// SearXNG `language`, e.g. `en` or `en-US`; unset lets the instance decide.
    #[serde(deserialize_with = "opt_string")]
    pub language: Option<String>,
    /// SearXNG `categories`, e.g. `general,news`; unset means the instance's default.
    #[serde(deserialize_with = "opt_string")]
    pub categories: Option<String>,
}

impl Default for SearxngConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            requests_per_second: 5.0,
            language: None,
            categories: None,
        }
    }
}

/// Which results survive, by the domain of their URL (the original's semantics).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DomainFilterConfig {
    pub mode: DomainFilterMode,
    /// Patterns like `*.gov`, `news.*`, `*.example.*`, `reuters.com`.
    pub include_domains: Vec<String>,
    pub exclude_domains: Vec<String>,
    /// Log each dropped URL at info level (debug otherwise).
    pub log_filtered: bool,
}

/// How include and exclude lists combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainFilterMode {
    /// Only domains matching `include_domains` pass (all pass while the list is empty).
    Include,
    /// Domains matching `exclude_domains` are dropped.
    #[default]
    Exclude,
    /// A domain must match `include_domains` (when non-empty) and not `exclude_domains`.
    Both,
}

use crate::config::opt_string;
/// API keys are the configuration's one secret type.
pub use crate::config::Secret as ApiKey;
