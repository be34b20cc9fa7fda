//! A SearXNG instance's JSON API: `GET /search?q=..&format=json&pageno=..`. No key.

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::http::Http;
use super::{
    plain_text, ProviderKind, SearchConfig, SearchError, SearchHit, SearchProvider, SearchQuery,
};

/// A SearXNG client.
#[derive(Debug)]
pub struct SearxngSearch {
    http: Http,
    language: Option<String>,
    categories: Option<String>,
}

impl SearxngSearch {
    /// A client for the instance at `base_url`.
    pub fn new(config: &SearchConfig, base_url: &str) -> Result<SearxngSearch, SearchError> {
        let http = Http::new(
            ProviderKind::Searxng,
            config,
            base_url,
            "/search",
            config.searxng.requests_per_second,
            HeaderMap::new(),
            // SearXNG answers 403 when its JSON output format is disabled (the default).
            "the instance refused the request; enable its JSON output (`search.formats: [html, json]` in settings.yml) and check SEARXNG_URL".into(),
        )?;
        Ok(SearxngSearch {
            http,
            language: config.searxng.language.clone(),
            categories: config.searxng.categories.clone(),
        })
    }
}

#[async_trait::async_trait]
impl SearchProvider for SearxngSearch {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Searxng
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        // SearXNG pages have no settable size; `offset` counts pages as with Brave.
        let mut params = vec![
            ("q", query.text.clone()),
            ("format", "json".to_string()),
            ("pageno", query.offset.saturating_add(1).to_string()),
        ];
        if let Some(f) = query.freshness {
            params.push(("time_range", f.searxng_time_range().to_string()));
        }
        if let Some(l) = &self.language {
            params.push(("language", l.clone()));
        }
        if let Some(c) = &self.categories {
            params.push(("categories", c.clone()));
        }
        let response: Response = self.http.get_json(&params).await?;
        Ok(hits(response, query))
    }
}

/// The parts of SearXNG's JSON dra reads.
#[derive(Debug, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub results: Vec<SearxResult>,
}

/// One of SearXNG's `results[]`.
#[derive(Debug, Deserialize)]
pub struct SearxResult {
    #[serde(default)]
    pub title: String,
    pub url: String,
    #[serde(default)]
    pub content: Option<String>,
    /// ISO 8601, or null.
    #[serde(default, rename = "publishedDate")]
    pub published_date: Option<String>,
    /// The upstream engine that ranked it first.
    #[serde(default)]
    pub engine: Option<String>,
}

/// Turn a decoded response into at most `query.count` ranked hits.
pub fn hits(response: Response, query: &SearchQuery) -> Vec<SearchHit> {
    response
        .results
        .into_iter()
        .filter_map(|r| {
            let url = url::Url::parse(&r.url)
                .map_err(|e| tracing::debug!(url = %r.url, error = %e, "SearXNG result skipped: bad URL"))
                .ok()?;
            Some((r, url))
        })
        .take(query.count as usize)
        .enumerate()
        .map(|(i, (r, url))| SearchHit {
            rank: query.rank_of(i),
            title: plain_text(&r.title),
            url,
            snippet: r.content.as_deref().map(plain_text).unwrap_or_default(),
            age: None,
            published: r.published_date.filter(|s| !s.is_empty()),
            provider: ProviderKind::Searxng,
            engine: r.engine.filter(|s| !s.is_empty()),
        })
        .collect()
}
