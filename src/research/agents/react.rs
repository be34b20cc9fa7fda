//! The researcher in ReAct mode: for one plan step the model drives the research itself,
//! calling `web_search` and `web_crawl` through native tool calling until it answers with
//! the step's observation or the step's budget is spent.
//!
//! The tools are classic mode's: the same events, the same [`SourceRegistry`] numbering and
//! the same citation enforcement at the end, so the run treats both modes alike. Only calls
//! that run emit `tool_call` / `tool_result`; a call refused for its budget or its arguments
//! is answered with an error message to the model and logged.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;

use super::private::{call_tool, format_hits as format_tool_hits, ToolHits};
use super::researcher::{
    conclude, fetch_pages, search_one, step_message, tool_call, tool_result, write_observation,
    NumberedPage, StepLog, WEB_CRAWL, WEB_SEARCH,
};
use super::{clean, Agent, AgentError, PlanStep, SnippetNote, StepContext, StepOutcome};
use crate::citations::sources::SourceRegistry;
use crate::llm::{LlmRequest, Message, ToolCall, ToolSpec};
use crate::research::config::ProfileResearcher;
use crate::research::prompts::{RESEARCHER_REACT_SYSTEM, WEB_CRAWL_TOOL, WEB_SEARCH_TOOL};
use crate::search::{SearchError, SearchHit};
use crate::tools::{ResearchTool, ToolError};
use crate::web::FetchError;

/// Research one plan step in ReAct mode and return its observation.
///
/// The model gets `web_search` and `web_crawl` and may make at most
/// `limits.max_tool_calls` calls, of which at most `max_search_queries` searches and
/// `max_urls_to_crawl` crawls. Calls of one turn run at once. An answer without tool calls
/// is the observation; when the budget is spent first, the model is asked once more,
/// without tools, to write it from the pages fetched. Failed tools are reported to the model
/// and the loop goes on; when every search failed and no page was fetched, the step fails
/// with [`AgentError::Search`], as in classic mode.
pub async fn research_step_react(
    ctx: &StepContext<'_>,
    step: &PlanStep,
) -> Result<StepOutcome, AgentError> {
    let agent = Agent::Researcher;
    let calls = AtomicU32::new(0);
    let mut budget = Budget::new(ctx.limits, !ctx.tools.is_empty());
    let mut found = Found::default();
    let mut messages = vec![
        Message::system(system_prompt(ctx)),
        Message::user(step_message(ctx, step)),
    ];
    let mut answer = None;
    while !budget.spent() {
        let request = LlmRequest {
            messages: messages.clone(),
            tools: tools(ctx),
            ..LlmRequest::default()
        };
        let reply = ctx
            .router
            .complete(agent.tier(ctx.router), request)
            .await
            .map_err(AgentError::llm(agent))?;
        if reply.tool_calls.is_empty() {
            answer = Some(reply.content);
            break;
        }
        // Admission runs in call order before anything starts, so which calls the budget
        // lets through does not depend on which finishes first.
        let actions: Vec<Action> = reply
            .tool_calls
            .iter()
            .map(|call| budget.admit(ctx, call))
            .collect();
        let ran = perform_all(ctx, actions, &calls).await;
        messages.push(Message::assistant_tool_calls(
            reply.content,
            reply.tool_calls.clone(),
        ));
        for (call, result) in reply.tool_calls.iter().zip(ran) {
            messages.push(Message::tool(
                call.id.clone(),
                found.record(result, ctx.sources),
            ));
        }
    }

    if found.pages.is_empty() && found.searches_ok == 0 {
        if let Some(source) = found.last_search_error.take() {
            return Err(AgentError::Search {
                agent,
                failed: found.searches_failed,
                source,
            });
        }
    }
    let draft = match answer {
        Some(text) if !text.trim().is_empty() => text,
        _ => {
            tracing::info!(step = %step.id, calls = budget.used, "no observation from the tool loop; asking for it from the pages");
            write_observation(ctx, step, &found.pages, &found.unfetched).await?
        }
    };
    conclude(
        ctx,
        &draft,
        &found.pages,
        StepLog {
            queries: found.queries,
            unfetched: found.unfetched,
            searches_failed: found.searches_failed,
        },
    )
}

/// The step's limits and what has been used of them.
struct Budget {
    max_calls: u32,
    max_searches: u32,
    max_crawls: u32,
    used: u32,
    searches: u32,
    crawls: u32,
    /// Configured tools can still be called once web searches and crawls are spent.
    has_tools: bool,
}

/// What one admitted tool call will do.
enum Action {
    Search(String),
    Crawl(String),
    /// A page the run already registered: answered from the registry, not fetched again.
    Known {
        url: String,
        number: u32,
    },
    /// A call of a configured tool (`search_<index>`, `retrieve_<assistant>`, MCP, …).
    Tool {
        tool: Arc<dyn ResearchTool>,
        arguments: serde_json::Value,
    },
    /// Not run; the message tells the model why.
    Refuse(String),
}

/// What a performed action produced.
enum Ran {
    Searched(String, Result<Vec<SearchHit>, SearchError>),
    Crawled(String, Result<NumberedPage, FetchError>),
    Known(u32),
    Tool(String, Result<ToolHits, ToolError>),
    Refused(String),
}

/// Everything the step's tool calls gathered.
#[derive(Default)]
struct Found {
    pages: Vec<NumberedPage>,
    unfetched: Vec<SnippetNote>,
    queries: Vec<String>,
    /// Hits by URL, so a page that cannot be fetched keeps its title and snippet.
    hits: HashMap<String, SearchHit>,
    searches_ok: u32,
    searches_failed: u32,
    last_search_error: Option<SearchError>,
}

#[derive(Deserialize)]
struct SearchArgs {
    query: String,
}

#[derive(Deserialize)]
struct CrawlArgs {
    url: String,
}

impl Budget {
    fn new(limits: &ProfileResearcher, has_tools: bool) -> Budget {
        Budget {
            max_calls: limits.max_tool_calls,
            max_searches: limits.max_search_queries,
            max_crawls: limits.max_urls_to_crawl,
            used: 0,
            searches: 0,
            crawls: 0,
            has_tools,
        }
    }

    /// No call could run any more.
    fn spent(&self) -> bool {
        self.used >= self.max_calls
            || (!self.has_tools
                && self.searches >= self.max_searches
                && self.crawls >= self.max_crawls)
    }

    /// Decide what `call` does. Every call the model makes counts against `max_calls`, even
    /// a refused one: a model that keeps sending bad calls must still reach the end.
    fn admit(&mut self, ctx: &StepContext<'_>, call: &ToolCall) -> Action {
        if self.used >= self.max_calls {
            return Action::Refuse(format!(
                "Error: not run; the step's budget of {} tool calls is spent. Answer with the observation now.",
                self.max_calls
            ));
        }
        self.used += 1;
        let name = call.function.name.as_str();
        let args = call.function.arguments.as_str();
        match name {
            WEB_SEARCH => {
                let query = match serde_json::from_str::<SearchArgs>(args) {
                    Ok(a) => clean(&a.query),
                    Err(e) => return malformed(name, args, &e, r#"{"query": "..."}"#),
                };
                if query.is_empty() {
                    return Action::Refuse("Error: the search query is empty.".into());
                }
                if self.searches >= self.max_searches {
                    return Action::Refuse(format!(
                        "Error: not run; this step's search budget ({}) is spent. Crawl the results you have or answer.",
                        self.max_searches
                    ));
                }
                self.searches += 1;
                Action::Search(query)
            }
            WEB_CRAWL => {
                let url = match serde_json::from_str::<CrawlArgs>(args) {
                    Ok(a) => a.url.trim().to_string(),
                    Err(e) => return malformed(name, args, &e, r#"{"url": "https://..."}"#),
                };
                if let Some(number) = ctx.sources.number_of(&url) {
                    return Action::Known { url, number };
                }
                if self.crawls >= self.max_crawls {
                    return Action::Refuse(format!(
                        "Error: not run; this step's crawl budget ({}) is spent. Answer from the pages you have.",
                        self.max_crawls
                    ));
                }
                self.crawls += 1;
                Action::Crawl(url)
            }
            other => match ctx.tools.get(other) {
                Some(tool) => match serde_json::from_str::<serde_json::Value>(args) {
                    Ok(arguments) if arguments.is_object() => Action::Tool {
                        tool: tool.clone(),
                        arguments,
                    },
                    Ok(_) => Action::Refuse(format!(
                        "Error: the arguments of {other} must be a JSON object."
                    )),
                    Err(e) => malformed(other, args, &e, "a JSON object"),
                },
                None => {
                    tracing::warn!(tool = other, "the model called an unknown tool");
                    let mut names = vec![WEB_SEARCH, WEB_CRAWL];
                    names.extend(ctx.tools.names());
                    Action::Refuse(format!(
                        "Error: there is no tool `{other}`; the tools are {}.",
                        names.join(", ")
                    ))
                }
            },
        }
    }
}

impl Found {
    /// Take in what a call produced and return the tool message the model reads.
    fn record(&mut self, ran: Ran, sources: &SourceRegistry) -> String {
        match ran {
            Ran::Searched(query, Ok(hits)) => {
                self.searches_ok += 1;
                let text = format_hits(&query, &hits, sources);
                for hit in hits {
                    self.hits.entry(hit.url.to_string()).or_insert(hit);
                }
                self.queries.push(query);
                text
            }
            Ran::Searched(query, Err(e)) => {
                self.searches_failed += 1;
                let text = format!("Error: the search for \"{query}\" failed: {e}");
                self.queries.push(query);
                self.last_search_error = Some(e);
                text
            }
            Ran::Crawled(_, Ok(page)) => {
                let text = format_page(&page);
                // Two URLs can redirect to one page; it is one source.
                if !self.pages.iter().any(|p| p.number == page.number) {
                    self.pages.push(page);
                }
                text
            }
            Ran::Crawled(url, Err(e)) => {
                let text = format!("Error: could not fetch {url}: {e}");
                let hit = self.hits.get(&url);
                self.unfetched.push(SnippetNote {
                    title: hit.map_or_else(|| url.clone(), |h| h.title.clone()),
                    snippet: hit.map(|h| h.snippet.clone()).unwrap_or_default(),
                    url,
                    reason: e.to_string(),
                });
                text
            }
            Ran::Known(number) => match self.pages.iter().find(|p| p.number == number) {
                Some(page) => format_page(page),
                // An earlier step's page: its text went into that step's observation,
                // which is among the previous findings.
                None => format!(
                    "Source [{number}] was already fetched by an earlier step; what it says is in the previous findings. It was not fetched again."
                ),
            },
            Ran::Tool(name, result) => {
                let text = format_tool_hits(&name, &result);
                if let Ok(hits) = result {
                    for page in hits.pages {
                        if !self.pages.iter().any(|p| p.number == page.number) {
                            self.pages.push(page);
                        }
                    }
                }
                text
            }
            Ran::Refused(message) => message,
        }
    }
}

/// Run one turn's admitted actions at once, in call order. The crawls are one batch of
/// [`fetch_pages`], so a slow page holds the turn no longer than classic mode's step.
async fn perform_all(ctx: &StepContext<'_>, actions: Vec<Action>, calls: &AtomicU32) -> Vec<Ran> {
    let urls: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Crawl(url) => Some(url.clone()),
            _ => None,
        })
        .collect();
    let (crawled, others) = futures::join!(
        fetch_pages(ctx, &urls, calls),
        join_all(actions.into_iter().map(|a| perform(ctx, a, calls))),
    );
    let mut crawled = urls.into_iter().zip(crawled);
    others
        .into_iter()
        .map(|ran| match ran {
            Some(ran) => ran,
            // Crawls are in `urls` in the same order as their actions.
            None => match crawled.next() {
                Some((url, result)) => Ran::Crawled(url, result),
                None => Ran::Refused("Error: not run.".into()),
            },
        })
        .collect()
}

/// Run one admitted action other than a crawl, with its events; `None` for a crawl,
/// which [`perform_all`] fetches with the turn's others.
async fn perform(ctx: &StepContext<'_>, action: Action, calls: &AtomicU32) -> Option<Ran> {
    Some(match action {
        Action::Search(query) => {
            let result = search_one(ctx, &query, calls).await;
            Ran::Searched(query, result)
        }
        Action::Crawl(_) => return None,
        Action::Known { url, number } => {
            ctx.events
                .emit(tool_call(WEB_CRAWL, [("url", json!(url))], calls));
            ctx.events.emit(tool_result(
                WEB_CRAWL,
                &format!("[{number}] already fetched; not fetched again"),
                ctx.sources,
            ));
            Ran::Known(number)
        }
        Action::Tool { tool, arguments } => {
            let result = call_tool(ctx, &tool, &arguments, calls).await;
            Ran::Tool(tool.spec().name.clone(), result)
        }
        Action::Refuse(message) => {
            tracing::info!(%message, "tool call refused");
            Ran::Refused(message)
        }
    })
}

fn malformed(name: &str, args: &str, error: &serde_json::Error, expected: &str) -> Action {
    tracing::warn!(tool = name, %error, "the model sent unusable tool arguments");
    let shown: String = args.chars().take(200).collect();
    Action::Refuse(format!(
        "Error: the arguments of {name} could not be read ({error}). They were: {shown}. Send a JSON object like {expected}."
    ))
}

/// Numbered hits; a hit the run already fetched says so, so the model can skip its crawl.
fn format_hits(query: &str, hits: &[SearchHit], sources: &SourceRegistry) -> String {
    if hits.is_empty() {
        return format!("No results for \"{query}\".");
    }
    let mut text = format!("Results for \"{query}\":\n");
    for (i, hit) in hits.iter().enumerate() {
        text.push_str(&format!(
            "\n{}. {}\n   URL: {}\n   {}\n",
            i + 1,
            hit.title.trim(),
            hit.url,
            hit.snippet.trim()
        ));
        if let Some(number) = sources.number_of(hit.url.as_str()) {
            text.push_str(&format!("   (already fetched: source [{number}])\n"));
        }
    }
    text
}

fn format_page(page: &NumberedPage) -> String {
    format!(
        "[{}] {}\nURL: {}\n\n{}",
        page.number,
        page.title.as_deref().unwrap_or("(untitled)"),
        page.url,
        page.text.trim()
    )
}

fn system_prompt(ctx: &StepContext<'_>) -> String {
    let limits = ctx.limits;
    let mut text = format!(
        "{RESEARCHER_REACT_SYSTEM}\n\n## Budget\nAt most {} tool calls in total: up to {} {WEB_SEARCH} calls and {} {WEB_CRAWL} calls.",
        limits.max_tool_calls, limits.max_search_queries, limits.max_urls_to_crawl
    );
    if !ctx.tools.is_empty() {
        text.push_str("\n\n## Private sources\nBesides the web you can call these tools; each passage they return is a numbered source, cited by its number like a page. Prefer them for questions about the organisation's own documents and data.\n");
        for spec in ctx.tools.specs() {
            text.push_str(&format!("- {}: {}\n", spec.name, spec.description.trim()));
        }
    }
    text
}

/// Web search and crawl, then every configured tool.
fn tools(ctx: &StepContext<'_>) -> Vec<ToolSpec> {
    let mut specs = web_tools();
    specs.extend(ctx.tools.specs());
    specs
}

fn web_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: WEB_SEARCH.into(),
            description: WEB_SEARCH_TOOL.into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string", "description": "The search query."}},
                "required": ["query"],
            }),
        },
        ToolSpec {
            name: WEB_CRAWL.into(),
            description: WEB_CRAWL_TOOL.into(),
            parameters: json!({
                "type": "object",
                "properties": {"url": {"type": "string", "description": "The page's http(s) URL."}},
                "required": ["url"],
            }),
        },
    ]
}
