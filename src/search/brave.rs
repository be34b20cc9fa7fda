//! The Brave Search web API: `GET /res/v1/web/search` with an `X-Subscription-Token`.

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::http::Http;
use super::{
    plain_text, ApiKey, ProviderKind, SearchConfig, SearchError, SearchHit, SearchProvider,
    SearchQuery, BRAVE_API_KEY_VAR,
};

/// Brave accepts at most this many results per request.
pub const MAX_COUNT: u32 = 20;

/// A Brave Search client. The key lives only inside the client's default headers, marked
/// sensitive so it never shows in debug output.
#[derive(Debug)]
pub struct BraveSearch {
    http: Http,
}

impl BraveSearch {
    /// A client for `config.brave`, authenticating with `key`.
    pub fn new(config: &SearchConfig, key: ApiKey) -> Result<BraveSearch, SearchError> {
        let mut token = HeaderValue::from_str(key.expose()).map_err(|_| {
            SearchError::NotConfigured {
                provider: ProviderKind::Brave,
                hint: format!(
                    "the API key contains characters an HTTP header cannot carry; check {BRAVE_API_KEY_VAR}"
                ),
            }
        })?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-subscription-token", token);
        let http = Http::new(
            ProviderKind::Brave,
            config,
            &config.brave.base_url,
            "/res/v1/web/search",
            config.brave.requests_per_second,
            headers,
            format!("the API key was not accepted; set {BRAVE_API_KEY_VAR} to a valid Brave Search subscription token"),
        )?;
        Ok(BraveSearch { http })
    }
}

#[async_trait::async_trait]
impl SearchProvider for BraveSearch {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Brave
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        let mut params = vec![
            ("q", query.text.clone()),
            ("count", query.count.clamp(1, MAX_COUNT).to_string()),
            ("offset", query.offset.to_string()),
        ];
        if let Some(f) = query.freshness {
            params.push(("freshness", f.brave_code().to_string()));
        }
        if let Some(c) = &query.country {
            params.push(("country", c.clone()));
        }
        let response: Response = self.http.get_json(&params).await?;
        Ok(hits(response, query))
    }
}

/// The parts of Brave's response dra reads (`web.results[]`); everything else is ignored.
#[derive(Debug, Deserialize)]
pub struct Response {
    /// Absent when Brave found no web results.
    #[serde(default)]
    pub web: Option<WebResults>,
}

/// Brave's `web` block.
#[derive(Debug, Deserialize)]
pub struct WebResults {
    #[serde(default)]
    pub results: Vec<WebResult>,
}

/// One of Brave's `web.results[]`.
#[derive(Debug, Deserialize)]
pub struct WebResult {
    #[serde(default)]
    pub title: String,
    pub url: String,
    /// The excerpt, with `<strong>` around the matched words.
    #[serde(default)]
    pub description: String,
    /// Human-readable, e.g. "2 days ago" or "August 12, 2024".
    #[serde(default)]
    pub age: Option<String>,
    /// ISO 8601 publication time, e.g. "2024-08-12T10:00:00".
    #[serde(default)]
    pub page_age: Option<String>,
}

/// Turn a decoded response into ranked hits; results without a usable URL are skipped.
pub fn hits(response: Response, query: &SearchQuery) -> Vec<SearchHit> {
    let results = response.web.map(|w| w.results).unwrap_or_default();
    results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let url = url::Url::parse(&r.url)
                .map_err(
                    |e| tracing::debug!(url = %r.url, error = %e, "Brave result skipped: bad URL"),
                )
                .ok()?;
            Some(SearchHit {
                rank: query.rank_of(i),
                title: plain_text(&r.title),
                url,
                snippet: plain_text(&r.description),
                age: r.age.filter(|s| !s.is_empty()),
                published: r.page_age.filter(|s| !s.is_empty()),
                provider: ProviderKind::Brave,
                engine: None,
            })
        })
        .collect()
}
