//! 7b's external search: queries for a fact, the search and fetches within the run's
//! budgets, and the best windows of the pages fetched.

use std::sync::Arc;

use futures::future::join_all;

use super::fact::{Candidate, Holder};
use super::job::{seconds, Job};
use super::text::{strip_markers, STOPWORDS};
use super::{RetrievalError, Web};
use crate::citations::claims;
use crate::citations::evidence::{self, Limits, SourceText};
use crate::search::SearchQuery;
use crate::web::FetchedPage;

/// Windows of fetched pages judged per external search.
const EXTERNAL_TOP_K: usize = 3;

impl Job<'_> {
    /// One search and the fetches of its unregistered hits, at once. Failures are recorded
    /// and skipped.
    pub(super) async fn search_and_fetch(&self, web: Web<'_>, text: &str) -> Vec<Arc<FetchedPage>> {
        let settings = self.settings();
        let urls = settings.max_external_urls_per_search.max(1);
        let mut query = SearchQuery::new(text, web.search_config);
        // Hits the run already fetched are skipped, so ask for a few more than are fetched.
        query.count = urls.saturating_mul(2).clamp(1, 20);
        let limit = seconds(settings.search_timeout_seconds);
        let hits =
            match tokio::time::timeout(limit, crate::search::search_traced(web.search, &query))
                .await
            {
                Ok(Ok(hits)) => hits,
                Ok(Err(e)) => {
                    self.problem(RetrievalError::Search {
                        query: text.into(),
                        error: e.to_string(),
                    });
                    return Vec::new();
                }
                Err(_) => {
                    self.problem(RetrievalError::Timeout {
                        step: format!("search {text:?}"),
                        after: limit,
                    });
                    return Vec::new();
                }
            };
        let chosen: Vec<String> = hits
            .into_iter()
            .map(|h| h.url.to_string())
            .filter(|u| self.r.registry.number_of(u).is_none())
            .take(urls as usize)
            .collect();
        let crawl = seconds(settings.crawl_timeout_seconds);
        let fetched = join_all(
            chosen
                .iter()
                .map(|u| tokio::time::timeout(crawl, web.fetcher.fetch(u))),
        )
        .await;
        let mut pages: Vec<Arc<FetchedPage>> = Vec::new();
        for (url, result) in chosen.iter().zip(fetched) {
            match result {
                Ok(Ok(page)) if page.text.trim().is_empty() => {}
                Ok(Ok(page)) if pages.iter().any(|p| p.final_url == page.final_url) => {}
                Ok(Ok(page)) => pages.push(page),
                Ok(Err(e)) => self.problem(RetrievalError::Fetch {
                    url: url.clone(),
                    error: e.to_string(),
                }),
                Err(_) => self.problem(RetrievalError::Timeout {
                    step: format!("fetching {url}"),
                    after: crawl,
                }),
            }
        }
        pages
    }
}

/// The `attempt`-th query for a fact: the fact itself, then its key terms (numbers,
/// capitalised words and the longest other words); `None` when there is no such query.
pub(super) fn search_query(fact: &str, attempt: usize) -> Option<String> {
    let plain = strip_markers(fact);
    let plain = plain.trim_end_matches(claims::STOPS).trim();
    if plain.is_empty() {
        return None;
    }
    match attempt {
        0 => Some(plain.to_string()),
        1 => {
            let mut words: Vec<(usize, &str)> = plain
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '%'))
                .filter(|w| !w.is_empty() && !STOPWORDS.contains(&w.to_lowercase().as_str()))
                .enumerate()
                .collect();
            let key = |w: &str| {
                let strong = w.chars().any(|c| c.is_ascii_digit())
                    || w.chars().next().is_some_and(char::is_uppercase);
                (strong, w.chars().count())
            };
            words.sort_by_key(|w| std::cmp::Reverse(key(w.1)));
            words.truncate(6);
            words.sort_by_key(|(i, _)| *i);
            let q: Vec<&str> = words.into_iter().map(|(_, w)| w).collect();
            (!q.is_empty()).then(|| q.join(" "))
        }
        _ => None,
    }
}

/// The best windows of freshly fetched pages for the fact, their offsets into each page's
/// own text.
pub(super) fn external_candidates(pages: &[Arc<FetchedPage>], fact: &str) -> Vec<Candidate> {
    let texts: Vec<SourceText> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| SourceText {
            number: u32::try_from(i).unwrap_or(u32::MAX),
            text: Arc::from(p.text.as_str()),
        })
        .collect();
    let limits = Limits {
        max_spans: EXTERNAL_TOP_K,
        max_spans_per_source: 2,
        ..Limits::default()
    };
    evidence::select(&texts, &[fact], &limits)
        .into_iter()
        .filter_map(|span| {
            let page = pages.get(span.source_number() as usize)?;
            Some(Candidate {
                holder: Holder::Fetched(page.clone()),
                bytes: span.bytes(),
                chars: span.char_range(),
                quote: span.text().to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_the_fact_then_its_key_terms() {
        let fact = "The Helios wind farm in Portugal produced 1.2 TWh in 2023 [4].";
        assert_eq!(
            search_query(fact, 0).as_deref(),
            Some("The Helios wind farm in Portugal produced 1.2 TWh in 2023")
        );
        let second = search_query(fact, 1).unwrap();
        assert!(
            second.contains("Helios") && second.contains("2023") && second.contains("1.2"),
            "{second}"
        );
        assert!(
            !second.contains("The ") && !second.contains(" in "),
            "{second}"
        );
        assert_eq!(search_query(fact, 2), None);
        assert_eq!(search_query(" [3]", 0), None);
    }
}
