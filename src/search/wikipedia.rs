//! Wikipedia through the MediaWiki Action API's full-text search:
//! `GET /w/api.php?action=query&list=search&srsearch=..&format=json`. No key, so it is the
//! provider a newcomer gets when nothing else is set up.
//!
//! Hits point at the articles themselves (`{base}/wiki/Title_with_underscores`): the run
//! reads them through the normal fetch path, so a citation names the page that was read.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use serde::Deserialize;
use url::Url;

use super::http::Http;
use super::{
    plain_text, ProviderKind, SearchConfig, SearchError, SearchHit, SearchProvider, SearchQuery,
};

/// At most this many hits per query. The API allows 500 to anonymous clients; a research
/// query never wants more than `search.brave.default_result_count` (at most 50).
pub const MAX_COUNT: u32 = 50;

/// Requests for one query at most, when the wiki returns fewer hits per request than asked
/// and offers a continuation (a MediaWiki with a lower `$wgAPIMaxResultsLimit`).
const MAX_REQUESTS_PER_QUERY: usize = 3;

/// A Wikipedia (or other MediaWiki with Wikipedia's URL layout) search client.
#[derive(Debug)]
pub struct WikipediaSearch {
    http: Http,
    /// `{base}/wiki/`: article URLs are this plus the encoded title.
    articles: Url,
}

impl WikipediaSearch {
    /// A client for `config.wikipedia`: its language's Wikipedia, or its `base_url`.
    pub fn new(config: &SearchConfig) -> Result<WikipediaSearch, SearchError> {
        let wiki = &config.wikipedia;
        let root = wiki.root();
        let not_configured = |hint: String| SearchError::NotConfigured {
            provider: ProviderKind::Wikipedia,
            hint,
        };
        let agent = HeaderValue::from_str(wiki.user_agent.trim())
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                not_configured(
                    "search.wikipedia.user_agent must be a non-empty, printable ASCII string"
                        .into(),
                )
            })?;
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, agent);
        let http = Http::new(
            ProviderKind::Wikipedia,
            config,
            &root,
            "/w/api.php",
            wiki.requests_per_second,
            headers,
            // Wikimedia answers 403 to clients without a descriptive User-Agent.
            "Wikimedia refuses clients without a descriptive User-Agent; set search.wikipedia.user_agent to name your tool and a contact, e.g. \"my-dra/1.0 (you@example.com)\"".into(),
        )?;
        let articles = Url::parse(&format!("{root}/wiki/")).map_err(|_| {
            not_configured(format!(
                "search.wikipedia.base_url `{}` is not an http(s) URL",
                crate::redact::scrub(&root)
            ))
        })?;
        Ok(WikipediaSearch { http, articles })
    }

    /// The article URL of `title`, as the wiki links it: `/wiki/` and the title with
    /// spaces as underscores, percent-encoded as MediaWiki's `wfUrlencode` does.
    pub fn article_url(&self, title: &str) -> Option<Url> {
        article_url(&self.articles, title)
    }
}

#[async_trait::async_trait]
impl SearchProvider for WikipediaSearch {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Wikipedia
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        // Wikipedia has no recency or country filter: articles are kept current instead.
        if query.freshness.is_some() || query.country.is_some() {
            tracing::debug!("Wikipedia search ignores freshness and country");
        }
        let count = query.count.clamp(1, MAX_COUNT);
        let first = query.offset.saturating_mul(count);
        let mut results: Vec<SearchResult> = Vec::new();
        let mut continuation: BTreeMap<String, String> = BTreeMap::new();
        for _ in 0..MAX_REQUESTS_PER_QUERY {
            let wanted = count.saturating_sub(results.len() as u32);
            let mut params = vec![
                ("action", "query".to_string()),
                ("list", "search".to_string()),
                ("srsearch", query.text.clone()),
                ("srlimit", wanted.to_string()),
                // Articles only: not talk, user or project pages.
                ("srnamespace", "0".to_string()),
                ("srprop", "snippet".to_string()),
                // Lets the wiki search its "did you mean" suggestion when the query as
                // written finds nothing (model-written queries are often near misses).
                ("srenablerewrites", "1".to_string()),
                ("format", "json".to_string()),
                ("formatversion", "2".to_string()),
                ("utf8", "1".to_string()),
            ];
            // The continuation protocol: send back every `continue` value as received;
            // `sroffset` among them is where the next page starts.
            let offset = continuation
                .get("sroffset")
                .cloned()
                .unwrap_or_else(|| first.to_string());
            params.push(("sroffset", offset));
            for (k, v) in &continuation {
                if k != "sroffset" {
                    params.push((k.as_str(), v.clone()));
                }
            }
            let response: Response = self.http.get_json(&params).await?;
            if let Some(e) = response.error {
                return Err(SearchError::Rejected {
                    provider: ProviderKind::Wikipedia,
                    code: e.code,
                    message: e.info,
                });
            }
            let page = response.query.map(|q| q.search).unwrap_or_default();
            let got_any = !page.is_empty();
            results.extend(page);
            let next = response.continuation.map(Continuation::into_params);
            match next {
                Some(next) if got_any && results.len() < count as usize => continuation = next,
                _ => break,
            }
        }
        results.truncate(count as usize);
        Ok(hits(results, &self.articles, query))
    }
}

/// The parts of the API's answer dra reads (`query.search[]`, `continue`, `error`).
#[derive(Debug, Deserialize)]
pub struct Response {
    /// Absent when the request failed (then `error` says why).
    #[serde(default)]
    pub query: Option<QueryBlock>,
    /// Present when more results follow.
    #[serde(default, rename = "continue")]
    pub continuation: Option<Continuation>,
    /// A request the API understood and refused (bad parameter, unknown action).
    #[serde(default)]
    pub error: Option<ApiError>,
}

/// The API's `query` block.
#[derive(Debug, Deserialize)]
pub struct QueryBlock {
    #[serde(default)]
    pub search: Vec<SearchResult>,
}

/// One of `query.search[]`.
#[derive(Debug, Deserialize)]
pub struct SearchResult {
    pub title: String,
    /// HTML: matched words in `<span class="searchmatch">`, text entity-escaped.
    #[serde(default)]
    pub snippet: String,
}

/// The API's `continue` object: opaque values to send back with the next request.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Continuation(pub BTreeMap<String, serde_json::Value>);

impl Continuation {
    fn into_params(self) -> BTreeMap<String, String> {
        self.0
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    }
}

/// The API's `error` object.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    /// Human-readable (formatversion 2 calls it `info`, as 1 did).
    #[serde(default)]
    pub info: String,
}

/// Turn search results into ranked hits at their article URLs; results whose title
/// makes no URL are skipped.
pub fn hits(results: Vec<SearchResult>, articles: &Url, query: &SearchQuery) -> Vec<SearchHit> {
    results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let url = article_url(articles, &r.title).or_else(|| {
                tracing::debug!(title = %r.title, "Wikipedia result skipped: no article URL");
                None
            })?;
            Some(SearchHit {
                rank: query.rank_of(i),
                title: r.title.trim().to_string(),
                url,
                snippet: plain_text(&r.snippet),
                age: None,
                published: None,
                provider: ProviderKind::Wikipedia,
                engine: None,
            })
        })
        .collect()
}

/// What MediaWiki's `wfUrlencode` leaves unescaped in a title: ASCII letters and digits,
/// `-_.~` (RFC 3986 unreserved) and `;@$!*(),/:` (which read better and are safe in a path).
const TITLE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b';')
    .remove(b'@')
    .remove(b'$')
    .remove(b'!')
    .remove(b'*')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':');

/// `articles` + the title as MediaWiki links it. `None` for an empty title, or one with a
/// `.` or `..` segment, which MediaWiki forbids and a URL would resolve out of `/wiki/`.
fn article_url(articles: &Url, title: &str) -> Option<Url> {
    let title = title.trim();
    if title.is_empty() || title.split('/').any(|seg| seg == "." || seg == "..") {
        return None;
    }
    let underscored = title.replace(' ', "_");
    let path = utf8_percent_encode(&underscored, TITLE);
    // Appended, not `join`ed: a relative reference such as `Mission:_Impossible` would
    // parse as a URL with the scheme `mission`.
    Url::parse(&format!("{articles}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn articles() -> Url {
        Url::parse("https://en.wikipedia.org/wiki/").unwrap()
    }

    #[test]
    fn article_urls_are_the_wikis_own() {
        let url = |t: &str| article_url(&articles(), t).map(|u| u.to_string());
        assert_eq!(
            url("River delta").as_deref(),
            Some("https://en.wikipedia.org/wiki/River_delta")
        );
        assert_eq!(
            url("C++").as_deref(),
            Some("https://en.wikipedia.org/wiki/C%2B%2B")
        );
        assert_eq!(
            url("Zürich").as_deref(),
            Some("https://en.wikipedia.org/wiki/Z%C3%BCrich")
        );
        assert_eq!(
            url("AC/DC").as_deref(),
            Some("https://en.wikipedia.org/wiki/AC/DC"),
            "a slash stays a slash, as on the wiki"
        );
        assert_eq!(
            url("Who's Afraid of Virginia Woolf? (film)").as_deref(),
            Some("https://en.wikipedia.org/wiki/Who%27s_Afraid_of_Virginia_Woolf%3F_(film)")
        );
        assert_eq!(
            url("100% & more #1").as_deref(),
            Some("https://en.wikipedia.org/wiki/100%25_%26_more_%231"),
            "no query, fragment or stray escape"
        );
        assert_eq!(
            url("Mission: Impossible").as_deref(),
            Some("https://en.wikipedia.org/wiki/Mission:_Impossible"),
            "a colon is not a scheme"
        );
        assert_eq!(url("  "), None);
        assert_eq!(url("../Main Page"), None);
        assert_eq!(url("A/./B"), None);
    }

    #[test]
    fn a_root_with_a_path_keeps_it() {
        let base = Url::parse("http://127.0.0.1:8080/mirror/wiki/").unwrap();
        assert_eq!(
            article_url(&base, "River delta").unwrap().as_str(),
            "http://127.0.0.1:8080/mirror/wiki/River_delta"
        );
    }
}
