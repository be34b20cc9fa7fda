//! The researcher in classic mode: for one plan step it asks the model for search queries,
//! runs them at once, fetches the best new pages at once, registers each fetched page as a
//! numbered source, and has the model write the step's observation citing those numbers.
//! Citations are then enforced against the [`SourceRegistry`], so the observation can only
//! cite pages this run actually fetched.
//!
//! The step machinery both modes share lives here too: the step's context and outcome, the
//! search and crawl tools with their events, the observation call and citation enforcement.
//! [`super::react`] drives the same tools from a model-led loop.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{clean, Agent, AgentError};
use crate::citations::sources::SnippetNote;
use crate::citations::sources::{CitationAudit, SourceRegistry};
use crate::events::sink::EventBus;
use crate::events::ResearchEvent;
use crate::llm::{LlmRequest, LlmRouter, Message};
use crate::research::config::{ProfileResearcher, ResearcherAgent};
use crate::research::prompts::{RESEARCHER_OBSERVATION_SYSTEM, RESEARCHER_QUERIES_SYSTEM};
use crate::search::{dedup, SearchConfig, SearchError, SearchHit, SearchProvider, SearchQuery};
use crate::tools::Toolset;
use crate::web::{FetchError, FetchedPage, Fetcher};

use super::planner::PlanStep;

/// The tool names `tool_call` / `tool_result` events (and the ReAct model) use, as in the
/// original.
pub(super) const WEB_SEARCH: &str = "web_search";
pub(super) const WEB_CRAWL: &str = "web_crawl";
/// `tool_result.resultPreview` carries at most this many characters.
const RESULT_PREVIEW_CHARS: usize = 200;
/// `step_completed.observationSummary` carries at most this many characters.
const SUMMARY_CHARS: usize = 500;
/// The line that opens an observation written without any fetched page, so the reflector,
/// the synthesizer and a reader all see that nothing in it is backed by a source.
pub const UNVERIFIED_NOTICE: &str = "> Unverified: no page could be fetched for this step; \
these notes come from search snippets only and cite no source.";

/// Everything one step's research needs: the services, the run's registry and event bus,
/// and the limits of the depth (`limits`) and of the researcher agent (`settings`).
#[derive(Clone, Copy)]
pub struct StepContext<'a> {
    pub router: &'a LlmRouter,
    pub search: &'a dyn SearchProvider,
    /// Supplies the query defaults (freshness, country); the hit count is `settings`'.
    pub search_config: &'a SearchConfig,
    pub fetcher: &'a Fetcher,
    /// The configured private sources and MCP tools (empty: web only).
    pub tools: &'a Toolset,
    pub sources: &'a SourceRegistry,
    pub events: &'a EventBus,
    /// The user's research query.
    pub query: &'a str,
    /// The depth's researcher: its mode, and per step `max_search_queries`,
    /// `max_urls_to_crawl` and (ReAct) `max_tool_calls`.
    pub limits: &'a ProfileResearcher,
    /// `max_search_results`, `page_contents_limit`, `content_preview_length`,
    /// `max_previous_observations`.
    pub settings: &'a ResearcherAgent,
    /// Observations of the steps already run, oldest first.
    pub previous_observations: &'a [String],
}

/// What one step found.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// Markdown; every `[n]` in it names a source in the registry.
    pub observation: String,
    /// The registry numbers the observation cites, ascending.
    pub sources: Vec<u32>,
    /// The registry numbers of the pages this step fetched, ascending (cited or not).
    pub fetched: Vec<u32>,
    /// Sources the run has registered once this step is done, earlier steps' included.
    pub sources_total: u32,
    /// What citation enforcement changed in the model's text.
    pub audit: CitationAudit,
    /// The queries that were searched.
    pub queries: Vec<String>,
    /// Hits chosen for fetching whose page could not be fetched: weak notes, never cited.
    pub unfetched: Vec<SnippetNote>,
    pub searches_failed: u32,
    pub fetches_failed: u32,
}

impl StepOutcome {
    /// The `step_completed` event: the first 500 characters of the observation and, as
    /// in the original, the number of sources the run has so far.
    pub fn to_completed_event(&self, step_index: u32, step_id: &str) -> ResearchEvent {
        ResearchEvent::StepCompleted {
            step_index,
            step_id: step_id.to_string(),
            observation_summary: prefix(&self.observation, SUMMARY_CHARS).to_string(),
            sources_found: self.sources_total,
        }
    }
}

/// Research one plan step in classic mode and return its observation.
///
/// Emits a `tool_call` and a `tool_result` for every search and every fetch while it runs.
/// A failed search or fetch is logged and skipped; when every search fails the step fails
/// with [`AgentError::Search`]. When searches worked but no page could be fetched, the
/// observation is written from the snippets, opens with [`UNVERIFIED_NOTICE`] and cites
/// nothing.
pub async fn research_step(
    ctx: &StepContext<'_>,
    step: &PlanStep,
) -> Result<StepOutcome, AgentError> {
    let calls = AtomicU32::new(0);

    let queries = generate_queries(ctx, step).await?;
    let (web, private) = futures::join!(
        search_all(ctx, &queries, &calls),
        super::private::query_all(ctx, &queries, &calls)
    );
    let (hits, searches_failed) = match web {
        Ok(found) => found,
        // The private sources answered: the step goes on from them.
        Err(AgentError::Search { failed, .. }) if !private.is_empty() => (Vec::new(), failed),
        Err(e) => return Err(e),
    };

    let max_urls = ctx.limits.max_urls_to_crawl as usize;
    let chosen: Vec<SearchHit> = dedup::dedup(hits)
        .into_iter()
        // A page an earlier step fetched is already a numbered source; fetching it again
        // would spend the step's budget on nothing new.
        .filter(|h| ctx.sources.number_of(h.url.as_str()).is_none())
        .take(max_urls)
        .collect();

    let urls: Vec<String> = chosen.iter().map(|hit| hit.url.to_string()).collect();
    let fetched = fetch_pages(ctx, &urls, &calls).await;
    let mut pages = private;
    let mut unfetched = Vec::new();
    for (hit, result) in chosen.iter().zip(fetched) {
        match result {
            // Two hits can redirect to one page; the model should see it once.
            Ok(page) if pages.iter().any(|p: &NumberedPage| p.number == page.number) => {}
            Ok(page) => pages.push(page),
            Err(e) => unfetched.push(SnippetNote {
                url: hit.url.to_string(),
                title: hit.title.clone(),
                snippet: hit.snippet.clone(),
                reason: e.to_string(),
            }),
        }
    }

    let draft = write_observation(ctx, step, &pages, &unfetched).await?;
    conclude(
        ctx,
        &draft,
        &pages,
        StepLog {
            queries,
            unfetched,
            searches_failed,
        },
    )
}

/// What a step did besides fetching pages, for its [`StepOutcome`].
pub(super) struct StepLog {
    pub queries: Vec<String>,
    pub unfetched: Vec<SnippetNote>,
    pub searches_failed: u32,
}

/// Turn the model's draft into the step's outcome: citations enforced, and the
/// [`UNVERIFIED_NOTICE`] in front when the step fetched no page.
pub(super) fn conclude(
    ctx: &StepContext<'_>,
    draft: &str,
    pages: &[NumberedPage],
    log: StepLog,
) -> Result<StepOutcome, AgentError> {
    // With no fetched page, an empty registry drops every citation, including numbers of
    // earlier steps' sources the model may have copied from previous observations: nothing
    // in a snippet-only observation is backed by a page.
    let (text, audit) = if pages.is_empty() {
        SourceRegistry::default().enforce(draft)
    } else {
        ctx.sources.enforce(draft)
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(AgentError::Unusable {
            agent: Agent::Researcher,
            reason: "the observation is empty once unsupported citations are removed".into(),
        });
    }
    let observation = if pages.is_empty() {
        format!("{UNVERIFIED_NOTICE}\n\n{text}")
    } else {
        text.to_string()
    };
    let sources: BTreeSet<u32> = ctx.sources.cited(&observation);
    let fetched: BTreeSet<u32> = pages.iter().map(|p| p.number).collect();
    Ok(StepOutcome {
        observation,
        sources: sources.into_iter().collect(),
        fetched: fetched.into_iter().collect(),
        sources_total: u32::try_from(ctx.sources.all().len()).unwrap_or(u32::MAX),
        audit,
        queries: log.queries,
        fetches_failed: u32::try_from(log.unfetched.len()).unwrap_or(u32::MAX),
        unfetched: log.unfetched,
        searches_failed: log.searches_failed,
    })
}

/// What the model is asked for in the first call.
#[derive(Debug, Deserialize, JsonSchema)]
struct QueriesAnswer {
    /// Web search queries, most important first. Required, so an answer without them is
    /// re-asked rather than silently searched by the step title.
    queries: Vec<String>,
}

/// A page fetched and registered for this step, its text cut to `page_contents_limit`.
pub(super) struct NumberedPage {
    pub number: u32,
    pub url: String,
    pub title: Option<String>,
    pub text: String,
}

/// Ask for the step's search queries: cleaned, de-duplicated, at most the depth's limit.
/// A step the model gives no usable query for is searched by its title, so a sloppy
/// answer costs precision rather than the whole step.
async fn generate_queries(
    ctx: &StepContext<'_>,
    step: &PlanStep,
) -> Result<Vec<String>, AgentError> {
    let agent = Agent::Researcher;
    let max = ctx.limits.max_search_queries.max(1) as usize;
    let system = format!(
        "{RESEARCHER_QUERIES_SYSTEM}\n\n## Limit\nWrite at most {max} {}.",
        if max == 1 { "query" } else { "queries" }
    );
    let messages = vec![
        Message::system(system),
        Message::user(step_message(ctx, step)),
    ];
    let answer = ctx
        .router
        .complete_json::<QueriesAnswer>(agent.tier(ctx.router), messages)
        .await
        .map_err(AgentError::llm(agent))?
        .value;
    let mut seen = BTreeSet::new();
    let mut queries: Vec<String> = answer
        .queries
        .iter()
        .map(|q| clean(q))
        .filter(|q| !q.is_empty() && seen.insert(q.to_lowercase()))
        .take(max)
        .collect();
    if queries.is_empty() {
        tracing::warn!(step = %step.id, "no usable search query from the model; searching the step title");
        let title = clean(&step.title);
        queries.push(if title.is_empty() {
            clean(ctx.query)
        } else {
            title
        });
    }
    Ok(queries)
}

/// Run every query at once. Returns the hits of the searches that worked (in query order)
/// and how many failed; fails only when all of them did.
async fn search_all(
    ctx: &StepContext<'_>,
    queries: &[String],
    calls: &AtomicU32,
) -> Result<(Vec<SearchHit>, u32), AgentError> {
    let results = join_all(queries.iter().map(|q| search_one(ctx, q, calls))).await;
    let mut hits = Vec::new();
    let mut failed = 0u32;
    let mut last_error = None;
    for result in results {
        match result {
            Ok(h) => hits.extend(h),
            Err(e) => {
                failed += 1;
                last_error = Some(e);
            }
        }
    }
    match last_error {
        Some(source) if failed as usize == queries.len() => Err(AgentError::Search {
            agent: Agent::Researcher,
            failed,
            source,
        }),
        _ => Ok((hits, failed)),
    }
}

/// Run one web search between its `tool_call` and `tool_result` events.
pub(super) async fn search_one(
    ctx: &StepContext<'_>,
    text: &str,
    calls: &AtomicU32,
) -> Result<Vec<SearchHit>, SearchError> {
    let mut query = SearchQuery::new(text, ctx.search_config);
    query.count = ctx.settings.max_search_results.max(1);
    ctx.events.emit(tool_call(
        WEB_SEARCH,
        [("query", json!(text)), ("count", json!(query.count))],
        calls,
    ));
    let result = crate::search::search_traced(ctx.search, &query).await;
    let preview = match &result {
        Ok(hits) => {
            let titles: Vec<&str> = hits.iter().map(|h| h.title.as_str()).collect();
            format!("{} results: {}", hits.len(), titles.join("; "))
        }
        Err(e) => {
            tracing::warn!(query = %text, error = %e, "web search failed; skipping it");
            format!("search failed: {e}")
        }
    };
    ctx.events
        .emit(tool_result(WEB_SEARCH, &preview, ctx.sources));
    result
}

/// Fetch `urls` at once, each as [`fetch_one`], and wait for them only as long as the step
/// allows: until all have answered, `settings.straggler_wait` after half of them (rounded
/// up) have been fetched, or `settings.fetch_deadline` after the start, whichever comes
/// first. One slow site then costs the step a bounded wait, not its whole timeout (and
/// whatever retries the fetcher would make). Results come in `urls` order; a page not
/// waited for is [`FetchError::Abandoned`] (its download is cancelled) with its
/// `tool_result` event, so it is recorded as a failed fetch like any other.
pub(super) async fn fetch_pages(
    ctx: &StepContext<'_>,
    urls: &[String],
    calls: &AtomicU32,
) -> Vec<Result<NumberedPage, FetchError>> {
    let started = Instant::now();
    let mut until = started + ctx.settings.fetch_deadline;
    let enough = urls.len().div_ceil(2);
    let mut results: Vec<Option<Result<NumberedPage, FetchError>>> =
        urls.iter().map(|_| None).collect();
    let mut pending: FuturesUnordered<_> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| async move { (i, fetch_one(ctx, url, calls).await) })
        .collect();
    let mut fetched = 0;
    while !pending.is_empty() {
        tokio::select! {
            Some((i, result)) = pending.next() => {
                if result.is_ok() {
                    fetched += 1;
                    if fetched == enough {
                        until = until.min(Instant::now() + ctx.settings.straggler_wait);
                    }
                }
                results[i] = Some(result);
            }
            () = tokio::time::sleep_until(until) => break,
        }
    }
    // Dropping the futures cancels the downloads still running.
    drop(pending);
    let waited = started.elapsed();
    results
        .into_iter()
        .zip(urls)
        .map(|(result, url)| {
            result.unwrap_or_else(|| {
                let e = FetchError::Abandoned {
                    url: url.clone(),
                    after: waited,
                };
                tracing::warn!(url, error = %e, "page too slow; the step goes on without it");
                ctx.events.emit(tool_result(
                    WEB_CRAWL,
                    &format!("fetch failed: {e}"),
                    ctx.sources,
                ));
                Err(e)
            })
        })
        .collect()
}

/// Fetch one page and register it as a source, between its `tool_call` and `tool_result`
/// events.
pub(super) async fn fetch_one(
    ctx: &StepContext<'_>,
    url: &str,
    calls: &AtomicU32,
) -> Result<NumberedPage, FetchError> {
    ctx.events
        .emit(tool_call(WEB_CRAWL, [("url", json!(url))], calls));
    let result = ctx
        .fetcher
        .fetch(url)
        .await
        .map(|page| register(ctx, &page));
    let preview = match &result {
        Ok(p) => format!(
            "[{}] {}: {}",
            p.number,
            p.title.as_deref().unwrap_or(&p.url),
            p.text
        ),
        Err(e) => {
            tracing::warn!(url, error = %e, "fetch failed; keeping only the search snippet");
            format!("fetch failed: {e}")
        }
    };
    ctx.events
        .emit(tool_result(WEB_CRAWL, &preview, ctx.sources));
    result
}

fn register(ctx: &StepContext<'_>, page: &FetchedPage) -> NumberedPage {
    NumberedPage {
        number: ctx.sources.register(page),
        url: page.final_url.to_string(),
        title: page.title.clone(),
        text: prefix(&page.text, ctx.settings.page_contents_limit as usize).to_string(),
    }
}

/// The observation call: the observation, in markdown, from the fetched pages (or, when
/// there are none, from the snippets). Classic mode's second call, and ReAct mode's last
/// when its budget runs out.
pub(super) async fn write_observation(
    ctx: &StepContext<'_>,
    step: &PlanStep,
    pages: &[NumberedPage],
    unfetched: &[SnippetNote],
) -> Result<String, AgentError> {
    let agent = Agent::Researcher;
    let mut text = step_message(ctx, step);
    text.push_str("\n## Fetched pages\n");
    if pages.is_empty() {
        text.push_str("(none could be fetched: write only what the snippets suggest, as unverified, and cite nothing)\n");
    }
    for p in pages {
        text.push_str(&format!(
            "\n### [{}] {}\nURL: {}\n\n{}\n",
            p.number,
            p.title.as_deref().unwrap_or("(untitled)"),
            p.url,
            p.text.trim()
        ));
    }
    if !unfetched.is_empty() {
        text.push_str(
            "\n## Search snippets of pages that could not be fetched (unverified; do not cite)\n",
        );
        for n in unfetched {
            text.push_str(&format!("- {}: {}\n", n.title, n.snippet));
        }
    }
    let request = LlmRequest {
        messages: vec![
            Message::system(RESEARCHER_OBSERVATION_SYSTEM),
            Message::user(text),
        ],
        ..LlmRequest::default()
    };
    let answer = ctx
        .router
        .complete(agent.tier(ctx.router), request)
        .await
        .map_err(AgentError::llm(agent))?;
    Ok(answer.content)
}

/// The step, the query and the latest previous observations: how every researcher call
/// opens.
pub(super) fn step_message(ctx: &StepContext<'_>, step: &PlanStep) -> String {
    let mut text = format!(
        "## Research query\n{}\n\n## Step {}: {}\n{}\n",
        ctx.query.trim(),
        step.id,
        step.title.trim(),
        step.description.trim()
    );
    let keep = ctx.settings.max_previous_observations as usize;
    let previous =
        &ctx.previous_observations[ctx.previous_observations.len().saturating_sub(keep)..];
    if !previous.is_empty() {
        text.push_str("\n## Previous findings\n");
        for o in previous {
            text.push_str(prefix(
                o.trim(),
                ctx.settings.content_preview_length as usize,
            ));
            text.push_str("\n\n");
        }
    }
    text
}

pub(super) fn tool_call<const N: usize>(
    name: &str,
    args: [(&str, Value); N],
    calls: &AtomicU32,
) -> ResearchEvent {
    let tool_args: Map<String, Value> = args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    ResearchEvent::ToolCall {
        tool_name: name.to_string(),
        tool_args,
        call_number: calls.fetch_add(1, Ordering::SeqCst) + 1,
    }
}

pub(super) fn tool_result(name: &str, preview: &str, sources: &SourceRegistry) -> ResearchEvent {
    ResearchEvent::ToolResult {
        tool_name: name.to_string(),
        result_preview: prefix(&clean(preview), RESULT_PREVIEW_CHARS).to_string(),
        sources_crawled: u32::try_from(sources.all().len()).unwrap_or(u32::MAX),
    }
}

/// The first `chars` characters of `text` (never splitting a character).
pub(super) fn prefix(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_counts_characters_not_bytes() {
        assert_eq!(prefix("café au lait", 4), "café");
        assert_eq!(prefix("abc", 10), "abc");
        assert_eq!(prefix("", 3), "");
    }

    #[test]
    fn completed_event_summarises_the_observation() {
        let outcome = StepOutcome {
            observation: "é".repeat(600),
            sources: vec![1, 3],
            fetched: vec![3],
            sources_total: 4,
            audit: CitationAudit::default(),
            queries: vec!["q".into()],
            unfetched: Vec::new(),
            searches_failed: 0,
            fetches_failed: 0,
        };
        match outcome.to_completed_event(2, "step-3") {
            ResearchEvent::StepCompleted {
                step_index,
                step_id,
                observation_summary,
                sources_found,
            } => {
                assert_eq!(
                    (step_index, step_id.as_str(), sources_found),
                    (2, "step-3", 4)
                );
                assert_eq!(observation_summary.chars().count(), 500);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}
