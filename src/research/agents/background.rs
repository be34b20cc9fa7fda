//! The background investigator: before planning, one quick search for the question as
//! asked, so the planner knows the landscape (names, dates, the vocabulary of the field).
//! No model call: the snippets are the context. Search hits here are context only; they are
//! not fetched and never become citable sources.

use crate::research::config::BackgroundAgent;
use crate::search::{SearchConfig, SearchError, SearchHit, SearchProvider, SearchQuery};

/// What the planner gets.
#[derive(Debug, Clone, Default)]
pub struct Background {
    /// Markdown list of the hits: title, URL, snippet.
    pub context: String,
    pub hits: Vec<SearchHit>,
}

/// Search the question and keep the best `max_total_results` hits as context.
pub async fn investigate(
    search: &dyn SearchProvider,
    query: &str,
    limits: &BackgroundAgent,
    search_config: &SearchConfig,
) -> Result<Background, SearchError> {
    let mut q = SearchQuery::new(query, search_config);
    q.count = limits
        .max_results_per_query
        .max(limits.max_total_results)
        .clamp(1, 20);
    let mut hits = crate::search::search_traced(search, &q).await?;
    hits.truncate(limits.max_total_results as usize);
    let context = hits
        .iter()
        .map(|h| {
            let snippet = h.snippet.trim();
            format!(
                "- {} ({}): {}",
                h.title.trim(),
                h.url,
                crate::text::clip(snippet, 300)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Background { context, hits })
}
