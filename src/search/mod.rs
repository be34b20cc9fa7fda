//! Web search: the [`SearchProvider`] trait the research engine uses, Brave and SearXNG
//! behind it, and the post-processing every provider shares (URL de-duplication, then the
//! domain filter).
//!
//! [`from_config`] builds the configured provider already wrapped in that post-processing,
//! so callers get hits that are unique by normalized URL and allowed by the domain filter.

pub mod brave;
mod config;
pub mod dedup;
mod error;
pub mod filter;
mod http;
pub mod searxng;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{AppConfig, Env};

pub use brave::BraveSearch;
pub use config::{
    ApiKey, BraveConfig, DomainFilterConfig, DomainFilterMode, SearchConfig, SearxngConfig,
    BRAVE_DEFAULT_BASE_URL,
};
pub use error::SearchError;
pub use filter::DomainFilter;
pub use searxng::SearxngSearch;

/// The environment variable holding the Brave subscription token.
pub const BRAVE_API_KEY_VAR: &str = "BRAVE_API_KEY";

/// A search engine: one query in, ranked hits out.
///
/// Object-safe so the engine holds an `Arc<dyn SearchProvider>` and tests substitute fakes.
#[async_trait::async_trait]
pub trait SearchProvider: Send + Sync + fmt::Debug {
    /// Which provider this is (for logs and hit provenance).
    fn kind(&self) -> ProviderKind;

    /// Run one query. Hits are in the provider's order with `rank` set.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError>;
}

/// The search backends dra can talk to.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Brave Search API (needs `BRAVE_API_KEY`).
    #[default]
    Brave,
    /// A SearXNG instance (needs `SEARXNG_URL`).
    Searxng,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::Brave => "brave",
            ProviderKind::Searxng => "searxng",
        })
    }
}

/// How recent results must be, in Brave's vocabulary (the original's `freshness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Freshness {
    /// Past day.
    #[serde(rename = "pd")]
    #[value(name = "pd")]
    PastDay,
    /// Past week.
    #[serde(rename = "pw")]
    #[value(name = "pw")]
    PastWeek,
    /// Past month.
    #[serde(rename = "pm")]
    #[value(name = "pm")]
    PastMonth,
    /// Past year.
    #[serde(rename = "py")]
    #[value(name = "py")]
    PastYear,
}

impl Freshness {
    /// Brave's parameter value.
    pub fn brave_code(self) -> &'static str {
        match self {
            Freshness::PastDay => "pd",
            Freshness::PastWeek => "pw",
            Freshness::PastMonth => "pm",
            Freshness::PastYear => "py",
        }
    }

    /// SearXNG's `time_range` value.
    pub fn searxng_time_range(self) -> &'static str {
        match self {
            Freshness::PastDay => "day",
            Freshness::PastWeek => "week",
            Freshness::PastMonth => "month",
            Freshness::PastYear => "year",
        }
    }
}

/// One query as the engine asks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    /// Hits wanted (Brave allows at most 20 per request; more is clamped).
    pub count: u32,
    /// Zero-based page: skip `offset * count` results (Brave allows at most 9).
    pub offset: u32,
    pub freshness: Option<Freshness>,
    /// Two-letter country code to bias results to.
    pub country: Option<String>,
}

impl SearchQuery {
    /// A query with the configured defaults (`search.brave.default_result_count`,
    /// `freshness`, `country`).
    pub fn new(text: impl Into<String>, config: &SearchConfig) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            count: config.brave.default_result_count,
            offset: 0,
            freshness: config.brave.freshness,
            country: config.brave.country.clone(),
        }
    }

    /// The 1-based rank of the `index`-th hit of this page.
    fn rank_of(&self, index: usize) -> u32 {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.offset
            .saturating_mul(self.count)
            .saturating_add(index)
            .saturating_add(1)
    }
}

/// One result, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// 1-based position in the provider's ranking, pages included; kept through dedup and
    /// filtering so gaps show what was dropped.
    pub rank: u32,
    pub title: String,
    /// The URL as the provider gave it, minus tracking parameters (dedup compares a normalized
    /// form; fetches and citations use this one).
    pub url: url::Url,
    /// The provider's text excerpt (Brave `description`, SearXNG `content`), HTML tags removed.
    pub snippet: String,
    /// Human-readable age as the provider words it, e.g. "2 days ago" (Brave only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// Publication date as the provider gives it (ISO 8601 for both providers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Which provider returned it.
    pub provider: ProviderKind,
    /// For SearXNG, the upstream engine (e.g. `duckduckgo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Build the configured provider (`search.provider`), wrapped so its hits are de-duplicated
/// and domain-filtered. Says what to set when the key or URL is missing.
pub fn from_config(config: &AppConfig, env: &Env) -> Result<Arc<dyn SearchProvider>, SearchError> {
    provider(config.search.provider, config, env)
}

/// Like [`from_config`] for an explicitly chosen provider (`dra search --provider`).
pub fn provider(
    kind: ProviderKind,
    config: &AppConfig,
    env: &Env,
) -> Result<Arc<dyn SearchProvider>, SearchError> {
    let search = &config.search;
    let inner: Arc<dyn SearchProvider> = match kind {
        ProviderKind::Brave => {
            // The config loader already applied BRAVE_API_KEY; the env fallback covers
            // configurations built in code.
            let key = search
                .brave
                .api_key
                .clone()
                .and_then(ApiKey::non_empty)
                .or_else(|| {
                    env.get(BRAVE_API_KEY_VAR)
                        .map(|k| ApiKey::new(k))
                        .and_then(ApiKey::non_empty)
                })
                .ok_or_else(|| SearchError::NotConfigured {
                    provider: ProviderKind::Brave,
                    hint: format!(
                        "no API key: set {BRAVE_API_KEY_VAR} (or search.brave.api_key), or choose another provider with search.provider / --provider"
                    ),
                })?;
            Arc::new(BraveSearch::new(search, key)?)
        }
        ProviderKind::Searxng => {
            let base = search.searxng.base_url.as_deref().ok_or_else(|| {
                SearchError::NotConfigured {
                    provider: ProviderKind::Searxng,
                    hint: "no instance URL: set SEARXNG_URL (or search.searxng.base_url), e.g. http://localhost:8888".into(),
                }
            })?;
            Arc::new(SearxngSearch::new(search, base)?)
        }
    };
    Ok(Arc::new(Refined {
        inner,
        filter: DomainFilter::new(&search.domain_filter),
    }))
}

/// A provider whose hits are de-duplicated by normalized URL (best rank wins), then passed
/// through the domain filter.
#[derive(Debug)]
pub struct Refined {
    inner: Arc<dyn SearchProvider>,
    filter: DomainFilter,
}

impl Refined {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn SearchProvider>, filter: DomainFilter) -> Refined {
        Refined { inner, filter }
    }
}

#[async_trait::async_trait]
impl SearchProvider for Refined {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        let hits = self.inner.search(query).await?;
        let found = hits.len();
        let unique = dedup::dedup(hits);
        let unique_count = unique.len();
        let kept = self.filter.apply(unique);
        tracing::debug!(
            provider = %self.kind(),
            found,
            duplicates = found - unique_count,
            filtered = unique_count - kept.len(),
            kept = kept.len(),
            "search results"
        );
        Ok(kept)
    }
}

/// Provider text with HTML tags removed and the common entities decoded (Brave wraps the
/// matched words in `<strong>`).
fn plain_text(html: &str) -> String {
    static TAG: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"<[^>]*>").ok());
    let stripped = match TAG.as_ref() {
        Some(re) => re.replace_all(html, ""),
        None => html.into(),
    };
    stripped
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
