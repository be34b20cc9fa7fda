//! The tracing spans of a run, named like the original's MLflow trace:
//! `research_orchestration` > `coordinator` | `background_investigation` | `planner` |
//! `researcher_step_N` | `reflector` | `synthesizer` > `llm_<tier>` (made by the LLM router).
//!
//! Names that carry a number or tier are set through `otel.name`, because a tracing span's
//! own name is static; the exported span takes `otel.name`.

use tracing::field::Empty;
use tracing::Span;

use super::agents::{Agent, PlanStep, QueryMode};
use super::config::Depth;
use super::run::RunRequest;

/// The root span of one run. Mode and depth are recorded by [`record_choice`] once
/// known (a field recorded twice is exported twice, so they start empty).
pub fn orchestration(req: &RunRequest) -> Span {
    let span = tracing::info_span!(
        "research_orchestration",
        research.session_id = %req.session_id,
        research.message_id = %req.message_id,
        research.user = Empty,
        research.mode = Empty,
        research.depth = Empty,
    );
    if let Some(user) = &req.user {
        span.record("research.user", user.as_str());
    }
    span
}

/// Record the mode and depth the run settled on, on the current (root) span.
pub fn record_choice(mode: QueryMode, depth: Depth) {
    let span = Span::current();
    span.record("research.mode", mode_name(mode));
    span.record("research.depth", depth_name(depth));
}

/// The span of one agent's turn; researcher steps use [`researcher_step`].
pub fn agent(agent: Agent) -> Span {
    match agent {
        Agent::Coordinator => tracing::info_span!("coordinator"),
        Agent::Background => tracing::info_span!("background_investigation"),
        Agent::Planner => tracing::info_span!("planner"),
        Agent::Reflector => tracing::info_span!("reflector"),
        Agent::Synthesizer => tracing::info_span!("synthesizer"),
        Agent::Researcher => tracing::info_span!("researcher_step"),
    }
}

/// The span of plan step `index` (0-based, as in `step_started.step_index`).
pub fn researcher_step(index: u32, step: &PlanStep) -> Span {
    tracing::info_span!(
        "researcher_step",
        otel.name = format!("researcher_step_{index}"),
        step.index = index,
        step.id = step.id.as_str(),
        step.title = step.title.as_str(),
    )
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
