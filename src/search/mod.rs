//! Web search: the [`SearchProvider`] trait the research engine uses, Brave, SearXNG and
//! Wikipedia behind it, and the post-processing every provider shares (URL de-duplication,
//! then the domain filter).
//!
//! [`select`] decides which provider a command uses (`search.provider: auto` takes the one
//! that is set up, and Wikipedia, which needs no key, when none is); [`from_config`] and
//! [`provider`] build it already wrapped in that post-processing, so callers get hits that
//! are unique by normalized URL and allowed by the domain filter.

pub mod brave;
mod config;
pub mod dedup;
mod error;
pub mod filter;
mod http;
pub mod searxng;
pub mod wikipedia;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::env::Env;

pub use brave::BraveSearch;
pub use config::{
    ApiKey, BraveConfig, DomainFilterConfig, DomainFilterMode, ProviderSetting, SearchConfig,
    SearxngConfig, WikipediaConfig, BRAVE_DEFAULT_BASE_URL, WIKIPEDIA_DEFAULT_USER_AGENT,
};
pub use error::SearchError;
pub use filter::DomainFilter;
pub use searxng::SearxngSearch;
pub use wikipedia::WikipediaSearch;

/// The environment variable holding the Brave subscription token.
pub const BRAVE_API_KEY_VAR: &str = "BRAVE_API_KEY";

/// What to set or pass to pick a provider, for hints. `dra search --provider` accepts
/// `--search-provider` too, so the flag named here works for both commands.
const CHOOSE_ANOTHER: &str =
    "or choose another provider with --search-provider or search.provider (wikipedia needs no key)";

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

/// `provider.search(query)` in a `web_search` span (MLflow `TOOL`): the query in, the
/// number of hits and their titles out, an `ERROR` status when it failed. The research
/// stages search through this, so each search shows in a run's trace.
pub async fn search_traced(
    provider: &dyn SearchProvider,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>, SearchError> {
    use crate::redact::scrub;
    use crate::text::{clip, json_preview, PREVIEW_CHARS};
    use tracing::Instrument as _;

    let span = tracing::info_span!(
        "web_search",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        "mlflow.spanType" = "TOOL",
        "mlflow.spanInputs" = json_preview(serde_json::json!({
            "query": scrub(&query.text),
            "count": query.count,
        }))
        .as_str(),
        "mlflow.spanOutputs" = tracing::field::Empty,
        search.provider = %provider.kind(),
    );
    let result = provider.search(query).instrument(span.clone()).await;
    match &result {
        Ok(hits) => {
            let titles: Vec<_> = hits.iter().map(|h| scrub(&h.title)).collect();
            let out = serde_json::json!({ "hits": hits.len(), "titles": titles });
            span.record("mlflow.spanOutputs", json_preview(out).as_str());
        }
        Err(e) => {
            let message = clip(&scrub(&e.to_string()), PREVIEW_CHARS);
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", message.as_str());
        }
    }
    result
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
    /// Wikipedia's own search (no key; `search.wikipedia.language` picks the wiki).
    Wikipedia,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::Brave => "brave",
            ProviderKind::Searxng => "searxng",
            ProviderKind::Wikipedia => "wikipedia",
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
    /// The provider's text excerpt (Brave `description`, SearXNG `content`, Wikipedia
    /// `snippet`) as plain text: tags removed, entities decoded.
    pub snippet: String,
    /// Human-readable age as the provider words it, e.g. "2 days ago" (Brave only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// Publication date as the provider gives it (ISO 8601 from Brave and SearXNG;
    /// Wikipedia articles have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Which provider returned it.
    pub provider: ProviderKind,
    /// For SearXNG, the upstream engine (e.g. `duckduckgo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Which provider a command uses, and how it came to be the one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Named outright: by a command-line flag or `search.provider`.
    Named(ProviderKind),
    /// `search.provider: auto` found it set up (a Brave key, else a SearXNG URL).
    Configured(ProviderKind),
    /// `search.provider: auto` found nothing set up: Wikipedia, which needs no key.
    KeylessDefault,
}

impl Selection {
    /// The provider to build.
    pub fn kind(self) -> ProviderKind {
        match self {
            Selection::Named(kind) | Selection::Configured(kind) => kind,
            Selection::KeylessDefault => ProviderKind::Wikipedia,
        }
    }

    /// The line a command prints on stderr before searching, when the user did not choose
    /// this provider and may not expect it.
    pub fn notice(self) -> Option<&'static str> {
        match self {
            Selection::KeylessDefault => Some(
                "no BRAVE_API_KEY or SEARXNG_URL: searching Wikipedia (keyless; --search-provider or search.provider picks another)",
            ),
            Selection::Named(_) | Selection::Configured(_) => None,
        }
    }
}

/// Decide the provider: `requested` (a command-line flag) if given, else `search.provider`,
/// and for `auto` Brave when it has a key, else SearXNG when it has a URL, else Wikipedia.
pub fn select(requested: Option<ProviderKind>, config: &SearchConfig, env: &Env) -> Selection {
    if let Some(kind) = requested.or(config.provider.fixed()) {
        return Selection::Named(kind);
    }
    if brave_key(config, env).is_some() {
        return Selection::Configured(ProviderKind::Brave);
    }
    if config.searxng.base_url.is_some() {
        return Selection::Configured(ProviderKind::Searxng);
    }
    Selection::KeylessDefault
}

/// Build the provider [`select`] picks from the configuration alone, wrapped so its hits
/// are de-duplicated and domain-filtered. Says what to set when a key or URL is missing.
pub fn from_config(
    config: &SearchConfig,
    env: &Env,
) -> Result<Arc<dyn SearchProvider>, SearchError> {
    provider(select(None, config, env).kind(), config, env)
}

/// Build `kind`, wrapped like [`from_config`]'s.
pub fn provider(
    kind: ProviderKind,
    search: &SearchConfig,
    env: &Env,
) -> Result<Arc<dyn SearchProvider>, SearchError> {
    let inner: Arc<dyn SearchProvider> = match kind {
        ProviderKind::Brave => {
            let key = brave_key(search, env).ok_or_else(|| SearchError::NotConfigured {
                provider: ProviderKind::Brave,
                hint: format!(
                    "no API key: set {BRAVE_API_KEY_VAR} (or search.brave.api_key), {CHOOSE_ANOTHER}"
                ),
            })?;
            Arc::new(BraveSearch::new(search, key)?)
        }
        ProviderKind::Searxng => {
            let base = search.searxng.base_url.as_deref().ok_or_else(|| {
                SearchError::NotConfigured {
                    provider: ProviderKind::Searxng,
                    hint: format!("no instance URL: set SEARXNG_URL (or search.searxng.base_url), e.g. http://localhost:8888, {CHOOSE_ANOTHER}"),
                }
            })?;
            Arc::new(SearxngSearch::new(search, base)?)
        }
        ProviderKind::Wikipedia => Arc::new(WikipediaSearch::new(search)?),
    };
    Ok(Arc::new(Refined {
        inner,
        filter: DomainFilter::new(&search.domain_filter),
    }))
}

/// The Brave key, from the configuration (where the loader put `BRAVE_API_KEY`) or, for
/// configurations built in code, the environment.
fn brave_key(search: &SearchConfig, env: &Env) -> Option<ApiKey> {
    search
        .brave
        .api_key
        .clone()
        .and_then(ApiKey::non_empty)
        .or_else(|| {
            env.get(BRAVE_API_KEY_VAR)
                .map(|k| ApiKey::new(k))
                .and_then(ApiKey::non_empty)
        })
}

/// A provider that cannot search, standing in for one that could not be built, for a run
/// that will not search (`dra research --mode simple` answers from the model alone).
/// A search anyway fails with the reason the real one could not be built.
#[derive(Debug)]
pub struct Unavailable {
    provider: ProviderKind,
    hint: String,
}

impl Unavailable {
    /// Stand in for the provider that failed to build with `error`.
    pub fn new(error: &SearchError) -> Unavailable {
        let hint = match error {
            SearchError::NotConfigured { hint, .. } => hint.clone(),
            other => other.to_string(),
        };
        Unavailable {
            provider: error.provider(),
            hint,
        }
    }
}

#[async_trait::async_trait]
impl SearchProvider for Unavailable {
    fn kind(&self) -> ProviderKind {
        self.provider
    }

    async fn search(&self, _query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        Err(SearchError::NotConfigured {
            provider: self.provider,
            hint: self.hint.clone(),
        })
    }
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

/// Provider text as plain text: tags removed, every entity decoded, whitespace collapsed.
/// Brave wraps matched words in `<strong>`, MediaWiki in `<span class="searchmatch">` and
/// escapes quotes as `&quot;` and `&#039;`; an HTML parser handles all of it.
fn plain_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return html.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let text = dom_query::Document::fragment(html).text();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_strips_highlighting_and_decodes_entities() {
        assert_eq!(
            plain_text(
                r#"A river <span class="searchmatch">delta</span> is a &quot;landform&quot; &amp; the river&#039;s mouth &lt;sea&gt;"#
            ),
            r#"A river delta is a "landform" & the river's mouth <sea>"#
        );
        assert_eq!(
            plain_text("<strong>Lakebase</strong>&nbsp;is\n  Postgres"),
            "Lakebase is Postgres"
        );
        assert_eq!(
            plain_text("Eins<span class=\"searchmatch\">tein</span>"),
            "Einstein"
        );
        assert_eq!(plain_text("plain   text"), "plain text");
        assert_eq!(plain_text(""), "");
    }

    #[test]
    fn auto_takes_what_is_set_up_and_falls_back_to_wikipedia() {
        let mut config = SearchConfig::default();
        let none = Env::new();
        assert_eq!(select(None, &config, &none), Selection::KeylessDefault);
        assert_eq!(select(None, &config, &none).kind(), ProviderKind::Wikipedia);
        assert!(select(None, &config, &none)
            .notice()
            .is_some_and(|n| n.contains("Wikipedia")));

        config.searxng.base_url = Some("http://localhost:8888".into());
        assert_eq!(
            select(None, &config, &none),
            Selection::Configured(ProviderKind::Searxng)
        );
        let key: Env = [(BRAVE_API_KEY_VAR.to_string(), "k".to_string())].into();
        assert_eq!(
            select(None, &config, &key),
            Selection::Configured(ProviderKind::Brave),
            "a Brave key wins over a SearXNG URL"
        );
        assert_eq!(
            select(Some(ProviderKind::Wikipedia), &config, &key),
            Selection::Named(ProviderKind::Wikipedia),
            "a flag wins over everything"
        );
        config.provider = ProviderSetting::Brave;
        assert_eq!(
            select(None, &config, &none),
            Selection::Named(ProviderKind::Brave),
            "named in the config, even without its key"
        );
        assert_eq!(select(None, &config, &none).notice(), None);
    }
}
