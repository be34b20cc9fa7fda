//! `research::run`: one research run from question to cited report, emitting the original's
//! event sequence (research_started, agent_started/completed per agent, plan_created,
//! step_started/completed, tool calls, reflection_decision, synthesis_*, research_completed).
//!
//! The engine never touches HTTP, the terminal or the database: it gets the services and an
//! [`EventBus`], and returns an [`Outcome`].

mod announce;
mod report;
mod steps;

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};
use uuid::Uuid;

use crate::citations::config::{CitationVerification, GenerationMode, SynthesisMode};
use crate::citations::evidence::{Selector, SourceText};
use crate::citations::interleaved::EvidencePool;
use crate::citations::retrieval::{Retriever, Web};
use crate::citations::sources::{CitationAudit, Source, SourceRegistry};
use crate::citations::verify::{VerifiedClaim, Verifier};
use crate::events::sink::EventBus;
use crate::events::ResearchEvent;
use crate::llm::{LlmRequest, LlmRouter, Message, StreamEvent, UsageScope};
use crate::research::agents::{
    background, classify, plan_in_conversation, reflect, run_step, synthesizer, Agent, AgentError,
    CompletedStep, Decision, Plan, PlanStep, QueryMode, Reflection, StepContext, StepOutcome,
};
use crate::research::budget::{Budget, StopReason, Watch};
use crate::research::config::{Depth, ProfileResearcher, ResearchConfig, ResearchProfile};
use crate::research::spans;
use crate::search::SearchProvider;
use crate::web::Fetcher;

use announce::*;
use report::*;
use steps::*;

/// What a run uses.
pub struct Services<'a> {
    pub llm: &'a LlmRouter,
    pub search: &'a dyn SearchProvider,
    pub fetcher: &'a Fetcher,
    /// Private sources and MCP tools (`tools:`); an empty set researches the web only.
    pub tools: &'a crate::tools::Toolset,
    pub config: &'a ResearchConfig,
}

/// What to research, and how.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub query: String,
    /// `None`: the coordinator decides.
    pub mode: Option<QueryMode>,
    /// `Auto`: the coordinator decides.
    pub depth: Depth,
    /// Clarification rounds already held; `None` means never ask (`--no-clarify`).
    pub clarification_rounds: Option<u32>,
    /// Earlier turns of the conversation (clarifying questions and their answers, or a
    /// chat's previous exchange), oldest first.
    pub history: Vec<Message>,
    pub message_id: Uuid,
    pub session_id: Uuid,
    /// Token and time limits beyond the depth's own.
    pub budget: Budget,
    /// Cancelling it stops the run; what was gathered becomes a partial report.
    pub cancel: CancellationToken,
    /// Verify the report's claims against their sources: `None` follows
    /// `citation_verification.enabled` (and the depth's override).
    pub verify: Option<bool>,
    /// Who asked, when known (the app's signed-in user, the CLI's `--user` or its own
    /// identity); the trace's `user.id`.
    pub user: Option<String>,
    /// The chat the run belongs to, when it has one; the trace's `session.id` (the run's
    /// `session_id` when `None`), so MLflow groups a chat's runs.
    pub chat_id: Option<Uuid>,
}

impl RunRequest {
    /// A deep-research request with fresh ids and the coordinator free to choose.
    pub fn new(query: impl Into<String>) -> RunRequest {
        RunRequest {
            query: query.into(),
            mode: None,
            depth: Depth::Auto,
            clarification_rounds: Some(0),
            history: Vec::new(),
            message_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            budget: Budget::default(),
            cancel: CancellationToken::new(),
            verify: None,
            user: None,
            chat_id: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The coordinator needs answers before researching.
    Clarify { questions: Vec<String> },
    /// A simple question, answered directly (no sources).
    Answer { text: String },
    /// A researched, cited report.
    Report(Box<ResearchReport>),
}

/// The product of a researched run.
#[derive(Debug, Clone)]
pub struct ResearchReport {
    /// The report with its references list.
    pub markdown: String,
    /// Every source the run fetched, in citation-number order.
    pub sources: Vec<Source>,
    /// The numbers the report cites.
    pub cited: BTreeSet<u32>,
    pub plan: Plan,
    pub depth: Depth,
    pub steps_executed: u32,
    pub steps_skipped: u32,
    pub plan_iterations: u32,
    /// Citations removed across steps and report (the final links pass included).
    pub citations_dropped: usize,
    /// Links to fetched pages turned into their `[n]` across steps and report.
    pub citations_repointed: usize,
    /// What the final links pass ([`crate::citations::links::finalize`]) changed in the
    /// report as written and verified: whatever got past the earlier enforcement.
    pub links: CitationAudit,
    /// Why research stopped before its plan was done, if it did: the report then opens
    /// with a notice saying it is partial. `Cancelled` also when the cancel came while the
    /// report was being verified (it is kept unverified) or just after it was written.
    pub partial: Option<StopReason>,
    /// Model tokens (prompt plus completion) this run used.
    pub tokens_used: u64,
    /// The claims of the report with their verdicts and evidence, when it was verified.
    pub verification: Option<Verification>,
    /// The text read from each source, by citation number (evidence offsets point into it).
    pub source_texts: std::collections::BTreeMap<u32, Arc<str>>,
}

/// What verifying a report found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Every claim in report order, as the provenance API shows it.
    pub claims: Vec<crate::citations::provenance::Claim>,
    pub summary: crate::citations::provenance::VerificationSummary,
    /// Model calls spent on verification (claims found verbatim cost none).
    pub model_calls: u32,
    /// Citations re-pointed to a source that supports the claim.
    pub corrections: u32,
    /// Prompt and completion tokens the verification calls used (its own usage scope,
    /// so other runs in the process are not counted).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Web searches stage 7 made.
    pub searches: u32,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(
        "no research step produced findings ({failed} failed); nothing to write a report from"
    )]
    NothingFound { failed: u32 },
    /// Cancelled, or out of budget, before any step finished.
    #[error("{0} before any research step finished; there is nothing to report")]
    Stopped(StopReason),
    /// A bug: some stage of the run panicked. The run is over; nothing it gathered is kept.
    #[error("internal error: the research run stopped at a bug ({0}); please report it")]
    Panicked(String),
}

/// Run one research request to its end, inside its `research_orchestration` span.
///
/// A panic anywhere in the run (a bug) does not unwind into the caller: the run ends with a
/// final `error` event and [`RunError::Panicked`], so a CLI exits cleanly and a job worker
/// ends its job `failed` and frees its slot.
pub async fn run(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
) -> Result<Outcome, RunError> {
    // The run's own usage scope: its budget and `tokens_used` count only its calls, even
    // with other runs on the same router (and the caller's enclosing scope counts them too).
    let usage = UsageScope::new();
    let root = spans::orchestration(req);
    let traced = usage
        .enter(run_traced(req, s, bus, &usage))
        .instrument(root.clone());
    // Unwind safety: after a panic nothing of the run is used again but the bus, whose
    // sinks tolerate poisoned locks.
    let result = match std::panic::AssertUnwindSafe(traced).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let e = RunError::Panicked(panic_message(payload.as_ref()));
            tracing::error!(error = %e, "research run panicked");
            fatal(bus, &e);
            Err(e)
        }
    };
    spans::record_end(&root, usage.totals(), &result);
    result
}

/// A panic's message, cut to a readable length (it may quote a whole page).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    const MAX_CHARS: usize = 300;
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into());
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

async fn run_traced(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    usage: &UsageScope,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let cfg = s.config;
    let mut watch = Watch::start(req.cancel.clone(), req.budget, usage.clone(), 0);
    bus.emit(ResearchEvent::ResearchStarted {
        message_id: req.message_id.to_string(),
        research_session_id: Some(req.session_id.to_string()),
    });
    let (mode, depth) = match route(req, s, bus, &watch, started).await? {
        Route::Research(mode, depth) => (mode, depth),
        Route::Answered(outcome) => return Ok(outcome),
    };
    spans::record_choice(mode, depth);
    if mode == QueryMode::Simple {
        return answer(req, s, bus, started, None).await;
    }

    let profile = cfg.research_types.profile(depth);
    let web_limits = cfg
        .query_modes
        .web_search
        .researcher
        .clone()
        .unwrap_or(ProfileResearcher {
            max_search_queries: 2,
            max_urls_to_crawl: 3,
            ..ProfileResearcher::default()
        });
    let (current, limits) = if mode == QueryMode::WebSearch {
        // The original's web_search mode: a synthetic one-step plan, no planner or reflector.
        (Plan::fallback(&req.query, 1), &web_limits)
    } else {
        let plan = first_plan(req, s, bus, &watch, profile).await?;
        (plan, &profile.researcher)
    };
    bus.emit(current.to_event());

    watch.reserve_for_report(u64::from(profile.report_limits.max_tokens));
    let parallel = mode == QueryMode::DeepResearch && profile.parallel_steps(depth);
    let steps = StepLoop {
        req,
        s,
        bus,
        watch: &watch,
        mode,
        profile,
        limits,
        max_parallel: if parallel {
            cfg.agents.researcher.max_parallel_steps.max(1) as usize
        } else {
            1
        },
    };
    let gathered = steps.run(current).await;
    if gathered.done.is_empty() {
        return Err(nothing_gathered(bus, gathered.stopped, gathered.failed));
    }
    let written = write_report(req, s, bus, &watch, (mode, profile), &gathered).await?;
    Ok(finish(req, bus, started, &watch, depth, gathered, written))
}

/// Where the coordinator (or the caller's fixed mode and depth) sends a run.
enum Route {
    Research(QueryMode, Depth),
    /// Ended already: clarifying questions, or a simple answer.
    Answered(Outcome),
}

/// The coordinator's decision, skipped when the caller fixed both mode and depth.
async fn route(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    watch: &Watch,
    started: Instant,
) -> Result<Route, RunError> {
    if let (Some(mode), depth) = (req.mode, req.depth) {
        if depth != Depth::Auto || mode != QueryMode::DeepResearch {
            return Ok(Route::Research(mode, depth));
        }
    }
    crate::research::fault::point("coordinator");
    let mut coordinator = s.config.agents.coordinator.clone();
    let rounds = match req.clarification_rounds {
        Some(r) => r,
        None => {
            coordinator.enable_clarification = false;
            0
        }
    };
    let c = or_stop(
        watch,
        bus,
        timed(
            bus,
            s.llm,
            Agent::Coordinator,
            classify(s.llm, &req.query, &req.history, rounds, &coordinator).boxed(),
        )
        .boxed(),
    )
    .await??;
    if let Some(event) = c.clarification_event(rounds + 1) {
        bus.emit(event);
        return Ok(Route::Answered(Outcome::Clarify {
            questions: c.clarifying_questions,
        }));
    }
    // A depth the user chose means deep research: the coordinator picks the mode only
    // when neither was given.
    let mode = match (req.mode, req.depth) {
        (Some(mode), _) => mode,
        (None, Depth::Auto) => c.mode,
        (None, _) => QueryMode::DeepResearch,
    };
    if mode == QueryMode::Simple && req.mode.is_none() {
        return answer(req, s, bus, started, c.direct_answer)
            .await
            .map(Route::Answered);
    }
    let depth = if req.depth == Depth::Auto {
        c.depth
    } else {
        req.depth
    };
    Ok(Route::Research(mode, depth))
}

/// A simple-mode answer (the coordinator's own, when it wrote one), and the run complete.
async fn answer(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    started: Instant,
    direct: Option<String>,
) -> Result<Outcome, RunError> {
    let text = answer_simply(req, s, bus, direct).await?;
    complete(bus, req, started, 0, 0, 0, Some(text.clone()));
    Ok(Outcome::Answer { text })
}

/// Deep research's first plan: a background search for context, then the planner (a
/// failed planner falls back to a one-step plan).
async fn first_plan(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    watch: &Watch,
    profile: &ResearchProfile,
) -> Result<Plan, RunError> {
    let cfg = s.config;
    let background = timed(
        bus,
        s.llm,
        Agent::Background,
        async {
            background::investigate(s.search, &req.query, &cfg.agents.background, &cfg.search).await
        }
        .boxed(),
    );
    let context = or_stop(watch, bus, background.boxed())
        .await?
        .map(|b| b.context)
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "background search failed; planning without context");
            String::new()
        })
        + &crate::research::agents::planner::private_sources_note(s.tools);
    crate::research::fault::point("planner");
    let planned = or_stop(
        watch,
        bus,
        timed(
            bus,
            s.llm,
            Agent::Planner,
            plan_in_conversation(s.llm, &req.query, &req.history, &context, profile, None).boxed(),
        )
        .boxed(),
    )
    .await?;
    Ok(planned.unwrap_or_else(|e| {
        recoverable(bus, "PLANNER_FAILED", &e.to_string());
        Plan::fallback(&req.query, 1)
    }))
}

/// No step finished: the run fails, stopped or with nothing found.
fn nothing_gathered(bus: &EventBus, stopped: Option<StopReason>, failed: u32) -> RunError {
    let e = match stopped {
        Some(reason) => RunError::Stopped(reason),
        None => RunError::NothingFound { failed },
    };
    // A cancelled run ends without an event (see `announce_stop`).
    if stopped != Some(StopReason::Cancelled) {
        fatal(bus, &e);
    }
    e
}

/// The last word on citations, the final events and the run's product.
fn finish(
    req: &RunRequest,
    bus: &EventBus,
    started: Instant,
    watch: &Watch,
    depth: Depth,
    g: Gathered,
    written: Written,
) -> Outcome {
    let Written {
        report,
        mut stop,
        verification,
    } = written;
    // Cancelled while the report was written or verified: the run ends cancelled all the
    // same, keeping the report as it stands (the user asked to stop; the original never
    // completes a cancelled run).
    if watch.is_cancelled() {
        stop = Some(StopReason::Cancelled);
    }
    // Whatever wrote the text (the synthesizer, verification's rewrites, the notes of a
    // stopped run): only fetched sources, as `[n]`, and a References list of exactly those.
    let finalized = crate::citations::links::finalize(&report.markdown, &g.sources);
    let report = synthesizer::Report {
        markdown: finalized.markdown,
        cited: finalized.cited,
        ..report
    };
    let links = finalized.audit;
    let citations_dropped = g.dropped + report.audit.dropped + links.dropped;
    let citations_repointed = g.repointed + report.audit.repointed + links.repointed;
    // A cancelled run just ends (its caller says so); any other run, partial or not,
    // completes, first replacing the streamed draft with the report as it now stands.
    if stop != Some(StopReason::Cancelled) {
        bus.emit(ResearchEvent::ContentRevised {
            content: report.markdown.clone(),
            revision_count: u32::try_from(citations_dropped + citations_repointed)
                .unwrap_or(u32::MAX),
        });
        complete(
            bus,
            req,
            started,
            g.executed,
            g.skipped,
            g.iterations,
            Some(report.markdown.clone()),
        );
    }
    let sources = g.sources.all();
    Outcome::Report(Box::new(ResearchReport {
        markdown: report.markdown,
        cited: report.cited,
        plan: g.plan,
        depth,
        steps_executed: g.executed,
        steps_skipped: g.skipped,
        plan_iterations: g.iterations,
        citations_dropped,
        citations_repointed,
        links,
        partial: stop,
        tokens_used: watch.tokens(),
        verification,
        source_texts: sources
            .iter()
            .filter_map(|src| Some((src.number, g.sources.text(src.number)?)))
            .collect(),
        sources,
    }))
}
