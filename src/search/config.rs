//! The `search` configuration section. The Python original's keys
//! (`brave.{requests_per_second, default_result_count, freshness}`,
//! `domain_filter.{mode, include_domains, exclude_domains, log_filtered}`) keep their meaning;
//! the rest is dra's (`provider: auto` and the `wikipedia` section among it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Freshness, ProviderKind};

/// Brave's documented API host.
pub const BRAVE_DEFAULT_BASE_URL: &str = "https://api.search.brave.com";

/// The User-Agent sent to Wikipedia unless `search.wikipedia.user_agent` says otherwise.
/// Wikimedia's User-Agent policy refuses anonymous clients and asks for one that names the
/// tool (and, for heavy use, a contact: operators add theirs through the setting).
pub const WIKIPEDIA_DEFAULT_USER_AGENT: &str = concat!(
    "dra/",
    env!("CARGO_PKG_VERSION"),
    " (deep-research agent; keyless Wikipedia search) reqwest/0.12"
);

/// Which provider answers searches, and how each is reached.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SearchConfig {
    /// The provider `from_config` builds: `auto` (default: Brave when it has a key, else
    /// SearXNG when it has a URL, else Wikipedia), or one named outright.
    pub provider: ProviderSetting,
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
    pub wikipedia: WikipediaConfig,
    pub domain_filter: DomainFilterConfig,
}

/// What `search.provider` says: a provider, or `auto` to take the one that is set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSetting {
    /// Brave when a key is set, else SearXNG when a URL is set, else Wikipedia (no key).
    #[default]
    Auto,
    Brave,
    Searxng,
    Wikipedia,
}

impl ProviderSetting {
    /// The provider named outright; `None` for `auto`.
    pub fn fixed(self) -> Option<ProviderKind> {
        match self {
            ProviderSetting::Auto => None,
            ProviderSetting::Brave => Some(ProviderKind::Brave),
            ProviderSetting::Searxng => Some(ProviderKind::Searxng),
            ProviderSetting::Wikipedia => Some(ProviderKind::Wikipedia),
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            provider: ProviderSetting::Auto,
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            brave: BraveConfig::default(),
            searxng: SearxngConfig::default(),
            wikipedia: WikipediaConfig::default(),
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

/// Wikipedia (the MediaWiki Action API's full-text search) settings. No key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct WikipediaConfig {
    /// Which Wikipedia: the language subdomain, e.g. `en`, `de`, `simple`
    /// (`https://{language}.wikipedia.org`).
    pub language: String,
    /// The wiki's root URL, overriding `language`; env `WIKIPEDIA_BASE_URL` overrides it
    /// (tests point it at a fake). The API is at `{base_url}/w/api.php` and articles at
    /// `{base_url}/wiki/{Title}`, Wikipedia's layout.
    #[serde(deserialize_with = "opt_string")]
    pub base_url: Option<String>,
    /// Calls per second to the API. Wikimedia sets no hard limit for reads but asks
    /// clients to go one request at a time.
    pub requests_per_second: f64,
    /// Sent with every API request; Wikimedia refuses requests without a descriptive one.
    pub user_agent: String,
}

impl WikipediaConfig {
    /// The wiki's root URL, without a trailing slash: `base_url`, else the language's
    /// Wikipedia.
    pub fn root(&self) -> String {
        match &self.base_url {
            Some(base) => base.trim_end_matches('/').to_string(),
            None => format!("https://{}.wikipedia.org", self.language),
        }
    }
}

impl Default for WikipediaConfig {
    fn default() -> Self {
        Self {
            language: "en".into(),
            base_url: None,
            requests_per_second: 5.0,
            user_agent: WIKIPEDIA_DEFAULT_USER_AGENT.into(),
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

use crate::env::opt_string;
/// API keys are the configuration's one secret type.
pub use crate::env::Secret as ApiKey;
