//! Calls of the configured [`Toolset`] (Vector Search, Knowledge Assistants, local folders,
//! MCP servers) from both researcher modes. A tool's passages are registered as numbered
//! sources like fetched pages, so the observation cites them by number and citation
//! enforcement, verification and provenance treat them alike. A failing tool is reported
//! (to the model in ReAct mode, in the log and events always) and research goes on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures::future::join_all;
use serde_json::{json, Map, Value};

use super::researcher::{prefix, tool_result, NumberedPage, StepContext};
use crate::events::ResearchEvent;
use crate::tools::{ResearchTool, ToolError};

/// What one tool call gave: its passages as registered pages, and any note for the model.
pub(super) struct ToolHits {
    pub pages: Vec<NumberedPage>,
    pub note: Option<String>,
}

/// Run one call of `tool` between its `tool_call` and `tool_result` events and register
/// the passages it returned.
pub(super) async fn call_tool(
    ctx: &StepContext<'_>,
    tool: &Arc<dyn ResearchTool>,
    arguments: &Value,
    calls: &AtomicU32,
) -> Result<ToolHits, ToolError> {
    let name = tool.spec().name.as_str();
    let tool_args: Map<String, Value> = match arguments {
        Value::Object(map) => map.clone(),
        other => Map::from_iter([("arguments".to_string(), other.clone())]),
    };
    ctx.events.emit(ResearchEvent::ToolCall {
        tool_name: name.to_string(),
        tool_args,
        call_number: calls.fetch_add(1, Ordering::SeqCst) + 1,
    });
    let result = tool.call(arguments).await.map(|output| {
        let mut pages: Vec<NumberedPage> = Vec::new();
        for passage in &output.passages {
            let number = ctx.sources.register_passage(passage);
            if number == 0 || pages.iter().any(|p| p.number == number) {
                continue;
            }
            pages.push(NumberedPage {
                number,
                url: passage.uri.clone(),
                title: passage.title.clone(),
                text: prefix(&passage.text, ctx.settings.page_contents_limit as usize).to_string(),
            });
        }
        ToolHits {
            pages,
            note: output.note,
        }
    });
    let preview = match &result {
        Ok(hits) if hits.pages.is_empty() => hits
            .note
            .clone()
            .unwrap_or_else(|| "no passages".to_string()),
        Ok(hits) => {
            let titles: Vec<String> = hits
                .pages
                .iter()
                .map(|p| format!("[{}] {}", p.number, p.title.as_deref().unwrap_or(&p.url)))
                .collect();
            format!("{} passages: {}", hits.pages.len(), titles.join("; "))
        }
        Err(e) => {
            tracing::warn!(tool = name, error = %e, "tool call failed; research goes on without it");
            format!("{name} failed: {e}")
        }
    };
    ctx.events.emit(tool_result(name, &preview, ctx.sources));
    result
}

/// Classic mode: ask every tool that takes a query with each of the step's queries, at
/// once. Returns the distinct passages found, as registered pages; failures are logged.
pub(super) async fn query_all(
    ctx: &StepContext<'_>,
    queries: &[String],
    calls: &AtomicU32,
) -> Vec<NumberedPage> {
    let jobs: Vec<(&Arc<dyn ResearchTool>, Value)> = ctx
        .tools
        .query_tools()
        .flat_map(|tool| queries.iter().map(move |q| (tool, json!({"query": q}))))
        .collect();
    let results = join_all(
        jobs.iter()
            .map(|(tool, args)| call_tool(ctx, tool, args, calls)),
    )
    .await;
    let mut pages: Vec<NumberedPage> = Vec::new();
    for hits in results.into_iter().flatten() {
        for page in hits.pages {
            if !pages.iter().any(|p| p.number == page.number) {
                pages.push(page);
            }
        }
    }
    pages
}

/// The text the ReAct model reads for a tool call's result.
pub(super) fn format_hits(name: &str, result: &Result<ToolHits, ToolError>) -> String {
    match result {
        Err(e) => format!("Error: {name} failed: {e}. Use the other tools."),
        Ok(hits) if hits.pages.is_empty() => hits
            .note
            .clone()
            .unwrap_or_else(|| format!("{name} found nothing for this.")),
        Ok(hits) => {
            let mut text = String::new();
            if let Some(note) = &hits.note {
                text.push_str(note.trim());
                text.push_str("\n\n");
            }
            for p in &hits.pages {
                text.push_str(&format!(
                    "[{}] {}\nSource: {}\n\n{}\n\n",
                    p.number,
                    p.title.as_deref().unwrap_or("(untitled)"),
                    p.url,
                    p.text.trim()
                ));
            }
            text.trim_end().to_string()
        }
    }
}
