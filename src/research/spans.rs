//! The tracing spans of a run, named like the original's MLflow trace:
//! `research_orchestration` > `coordinator` | `background_investigation` | `planner` |
//! `researcher_step_N` | `reflector` | `synthesizer` | `citation_verification` >
//! `llm_<tier>` (made by the LLM router) and the tools `web_search` / `fetch_page` (made by
//! the search and web modules).
//!
//! Names that carry a number or tier are set through `otel.name`, because a tracing span's
//! own name is static; the exported span takes `otel.name`.
//!
//! MLflow (3.x) builds its trace from the attributes it reads on spans that arrive over
//! OTLP: `mlflow.spanType` (`CHAIN` for the root, `AGENT` for each agent, `LLM` and `TOOL`
//! below them), `mlflow.spanInputs` / `mlflow.spanOutputs` (short, scrubbed JSON previews),
//! `user.id` and `session.id` on the root (the chat), and `gen_ai.usage.input_tokens` /
//! `gen_ai.usage.output_tokens` (integers: each call's on its `llm_*` span, the run's
//! totals on the root). A failed span carries `otel.status_code` `ERROR` with
//! `otel.status_description`.

use std::fmt::Display;

use serde_json::json;
use tracing::field::Empty;
use tracing::Span;

use super::agents::{Agent, PlanStep, QueryMode};
use super::budget::StopReason;
use super::config::Depth;
use super::run::{Outcome, RunError, RunRequest};
use crate::llm::UsageTotals;
use crate::redact::scrub;
use crate::text::{clip, json_preview, PREVIEW_CHARS};

/// How much of a report or an answer the root's output preview shows.
const REPORT_PREVIEW_CHARS: usize = 600;

/// The root span of one run. Mode and depth are recorded by [`record_choice`] once
/// known, the outcome and token totals by [`record_end`] (a field recorded twice is
/// exported twice, so they start empty).
pub fn orchestration(req: &RunRequest) -> Span {
    let chat = req.chat_id.unwrap_or(req.session_id);
    let span = tracing::info_span!(
        "research_orchestration",
        otel.status_code = Empty,
        otel.status_description = Empty,
        "mlflow.spanType" = "CHAIN",
        "mlflow.spanInputs" = json_preview(json!({ "question": scrub(&req.query) })).as_str(),
        "mlflow.spanOutputs" = Empty,
        "user.id" = Empty,
        "session.id" = %chat,
        "gen_ai.usage.input_tokens" = Empty,
        "gen_ai.usage.output_tokens" = Empty,
        research.session_id = %req.session_id,
        research.message_id = %req.message_id,
        research.user = Empty,
        research.mode = Empty,
        research.depth = Empty,
    );
    if let Some(user) = &req.user {
        let user = scrub(user);
        span.record("user.id", user.as_ref());
        span.record("research.user", user.as_ref());
    }
    span
}

/// How the run ended, on its root span: the run's token totals, a preview of the outcome,
/// and `ERROR` for a failure (a cancel before any step finished is not one).
pub fn record_end(root: &Span, usage: UsageTotals, result: &Result<Outcome, RunError>) {
    root.record("gen_ai.usage.input_tokens", count(usage.prompt_tokens));
    root.record("gen_ai.usage.output_tokens", count(usage.completion_tokens));
    let out = match result {
        Ok(Outcome::Clarify { questions }) => {
            let questions: Vec<_> = questions
                .iter()
                .map(|q| preview(q, PREVIEW_CHARS))
                .collect();
            json!({ "outcome": "clarify", "questions": questions })
        }
        Ok(Outcome::Answer { text }) => {
            json!({ "outcome": "answer", "answer": preview(text, REPORT_PREVIEW_CHARS) })
        }
        Ok(Outcome::Report(report)) => json!({
            "outcome": "report",
            "partial": report.partial.map(|r| r.code()),
            "sources": report.sources.len(),
            "report": preview(&report.markdown, REPORT_PREVIEW_CHARS),
        }),
        Err(e) => {
            if !matches!(e, RunError::Stopped(StopReason::Cancelled)) {
                failed(root, e);
            }
            json!({ "outcome": "error", "error": preview(&e.to_string(), PREVIEW_CHARS) })
        }
    };
    root.record("mlflow.spanOutputs", json_preview(out).as_str());
}

/// Mark `span` failed with `error` (scrubbed) as its status description.
pub fn failed(span: &Span, error: &dyn Display) {
    span.record("otel.status_code", "ERROR");
    span.record(
        "otel.status_description",
        preview(&error.to_string(), PREVIEW_CHARS).as_str(),
    );
}

/// The span of the report's verification (MLflow `AGENT`): its model calls, stage 7's
/// searches and fetches included, hang under it.
pub fn verification() -> Span {
    tracing::info_span!("citation_verification", "mlflow.spanType" = "AGENT")
}

/// Record the mode and depth the run settled on, on the current (root) span.
pub fn record_choice(mode: QueryMode, depth: Depth) {
    let span = Span::current();
    span.record("research.mode", mode_name(mode));
    span.record("research.depth", depth_name(depth));
}

/// An agent's span: MLflow `AGENT`, with room for a failure.
macro_rules! agent_span {
    ($name:literal) => {
        tracing::info_span!(
            $name,
            otel.status_code = Empty,
            otel.status_description = Empty,
            "mlflow.spanType" = "AGENT",
        )
    };
}

/// The span of one agent's turn; researcher steps use [`researcher_step`].
pub fn agent(agent: Agent) -> Span {
    match agent {
        Agent::Coordinator => agent_span!("coordinator"),
        Agent::Background => agent_span!("background_investigation"),
        Agent::Planner => agent_span!("planner"),
        Agent::Reflector => agent_span!("reflector"),
        Agent::Synthesizer => agent_span!("synthesizer"),
        Agent::Researcher => agent_span!("researcher_step"),
    }
}

/// The span of plan step `index` (0-based, as in `step_started.step_index`).
pub fn researcher_step(index: u32, step: &PlanStep) -> Span {
    tracing::info_span!(
        "researcher_step",
        otel.name = format!("researcher_step_{index}"),
        otel.status_code = Empty,
        otel.status_description = Empty,
        "mlflow.spanType" = "AGENT",
        step.index = index,
        step.id = step.id.as_str(),
        step.title = scrub(&step.title).as_ref(),
    )
}

/// `text` scrubbed of secrets, then cut to `max` characters.
fn preview(text: &str, max: usize) -> String {
    clip(&scrub(text), max)
}

/// A token count as an integer attribute: an `i64` (a `u64` would be exported as text).
fn count(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}

fn mode_name(mode: QueryMode) -> &'static str {
    match mode {
        QueryMode::Simple => "simple",
        QueryMode::WebSearch => "web_search",
        QueryMode::DeepResearch => "deep_research",
    }
}

fn depth_name(depth: Depth) -> &'static str {
    match depth {
        Depth::Auto => "auto",
        Depth::Light => "light",
        Depth::Medium => "medium",
        Depth::Extended => "extended",
    }
}
