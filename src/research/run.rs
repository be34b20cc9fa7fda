//! `research::run`: one research run from question to cited report, emitting the original's
//! event sequence (research_started, agent_started/completed per agent, plan_created,
//! step_started/completed, tool calls, reflection_decision, synthesis_*, research_completed).
//!
//! The engine never touches HTTP, the terminal or the database: it gets the services and an
//! [`EventBus`], and returns an [`Outcome`].

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::agents::{
    background, classify, plan, plan_in_conversation, reflect, research_step, synthesizer, Agent,
    AgentError, CompletedStep, Decision, Plan, PlanStep, QueryMode, StepContext,
};
use super::config::{Depth, ProfileResearcher};
use super::event::ResearchEvent;
use super::sink::EventBus;
use super::sources::{Source, SourceRegistry};
use crate::config::AppConfig;
use crate::llm::{LlmRequest, LlmRouter, Message, StreamEvent};
use crate::search::SearchProvider;
use crate::web::Fetcher;

/// What a run uses.
pub struct Services<'a> {
    pub llm: &'a LlmRouter,
    pub search: &'a dyn SearchProvider,
    pub fetcher: &'a Fetcher,
    pub config: &'a AppConfig,
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
    pub message_id: Uuid,
    pub session_id: Uuid,
    /// The conversation before this query, oldest first (a follow-up in a chat); empty for
    /// a new question. The coordinator and planner see it.
    pub history: Vec<Message>,
}

impl RunRequest {
    /// A deep-research request with fresh ids and the coordinator free to choose.
    pub fn new(query: impl Into<String>) -> RunRequest {
        RunRequest {
            query: query.into(),
            mode: None,
            depth: Depth::Auto,
            clarification_rounds: Some(0),
            message_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            history: Vec::new(),
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
    /// Citations removed or re-pointed across steps and report.
    pub citations_dropped: usize,
    pub citations_repointed: usize,
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
}

/// Run one research request to its end.
pub async fn run(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let cfg = s.config;
    bus.emit(ResearchEvent::ResearchStarted {
        message_id: req.message_id.to_string(),
        research_session_id: Some(req.session_id.to_string()),
    });

    // The coordinator is skipped when the caller fixed both mode and depth.
    let (mode, depth) = match (req.mode, req.depth) {
        (Some(mode), depth) if depth != Depth::Auto || mode != QueryMode::DeepResearch => {
            (mode, depth)
        }
        _ => {
            let mut coordinator = cfg.agents.coordinator.clone();
            let rounds = match req.clarification_rounds {
                Some(r) => r,
                None => {
                    coordinator.enable_clarification = false;
                    0
                }
            };
            let c = timed(
                bus,
                s.llm,
                Agent::Coordinator,
                classify(s.llm, &req.query, &req.history, rounds, &coordinator),
            )
            .await?;
            if let Some(event) = c.clarification_event(rounds + 1) {
                bus.emit(event);
                return Ok(Outcome::Clarify {
                    questions: c.clarifying_questions,
                });
            }
            if c.mode == QueryMode::Simple && req.mode.is_none() {
                let text = match c.direct_answer {
                    Some(a) => a,
                    None => answer_directly(s.llm, req).await?,
                };
                complete(bus, req, started, 0, 0, 0, Some(text.clone()));
                return Ok(Outcome::Answer { text });
            }
            let depth = if req.depth == Depth::Auto {
                c.depth
            } else {
                req.depth
            };
            (req.mode.unwrap_or(c.mode), depth)
        }
    };
    if mode == QueryMode::Simple {
        let text = answer_directly(s.llm, req).await?;
        complete(bus, req, started, 0, 0, 0, Some(text.clone()));
        return Ok(Outcome::Answer { text });
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
    let (mut current, limits) = if mode == QueryMode::WebSearch {
        // The original's web_search mode: a synthetic one-step plan, no planner or reflector.
        (Plan::fallback(&req.query, 1), &web_limits)
    } else {
        let context = timed(bus, s.llm, Agent::Background, async {
            background::investigate(s.search, &req.query, &cfg.agents.background, &cfg.search).await
        })
        .await
        .map(|b| b.context)
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "background search failed; planning without context");
            String::new()
        });
        let planned = timed(
            bus,
            s.llm,
            Agent::Planner,
            plan_in_conversation(s.llm, &req.query, &req.history, &context, profile, None),
        )
        .await;
        let p = planned.unwrap_or_else(|e| {
            recoverable(bus, "PLANNER_FAILED", &e.to_string());
            Plan::fallback(&req.query, 1)
        });
        (p, &profile.researcher)
    };
    bus.emit(current.to_event());

    let sources = SourceRegistry::default();
    let mut done: Vec<(PlanStep, String)> = Vec::new();
    let mut queue: VecDeque<PlanStep> = current.steps.iter().cloned().collect();
    let (mut executed, mut skipped, mut failed, mut iterations) = (0u32, 0u32, 0u32, 1u32);
    let (mut dropped, mut repointed) = (0usize, 0usize);
    while let Some(step) = queue.pop_front() {
        if executed >= profile.steps.max {
            skipped += 1 + queue.len() as u32;
            break;
        }
        let index = executed + failed;
        bus.emit(ResearchEvent::StepStarted {
            step_index: index,
            step_id: step.id.clone(),
            step_title: step.title.clone(),
            step_type: step.step_type.as_str().into(),
        });
        let previous: Vec<String> = done.iter().map(|(_, o)| o.clone()).collect();
        let ctx = StepContext {
            router: s.llm,
            search: s.search,
            search_config: &cfg.search,
            fetcher: s.fetcher,
            sources: &sources,
            events: bus,
            query: &req.query,
            limits,
            settings: &cfg.agents.researcher,
            previous_observations: &previous,
        };
        match timed(bus, s.llm, Agent::Researcher, research_step(&ctx, &step)).await {
            Ok(outcome) => {
                bus.emit(outcome.to_completed_event(index, &step.id));
                dropped += outcome.audit.dropped;
                repointed += outcome.audit.repointed;
                executed += 1;
                done.push((step, outcome.observation));
            }
            Err(e) => {
                recoverable(bus, "STEP_FAILED", &format!("step \"{}\": {e}", step.title));
                failed += 1;
            }
        }
        if queue.is_empty() || mode == QueryMode::WebSearch {
            continue;
        }
        let remaining: Vec<PlanStep> = queue.iter().cloned().collect();
        let completed: Vec<CompletedStep<'_>> = done
            .iter()
            .map(|(step, summary)| CompletedStep { step, summary })
            .collect();
        let reflection = timed(
            bus,
            s.llm,
            Agent::Reflector,
            reflect(
                s.llm,
                &req.query,
                &current,
                &completed,
                &remaining,
                profile.steps.min,
            ),
        )
        .await;
        let reflection = match reflection {
            Ok(r) => r,
            Err(e) => {
                // Without a verdict, carry on with the plan as it stands.
                recoverable(bus, "REFLECTOR_FAILED", &e.to_string());
                continue;
            }
        };
        bus.emit(reflection.to_event());
        match reflection.decision {
            Decision::Complete => {
                skipped += queue.len() as u32;
                queue.clear();
            }
            Decision::Adjust if iterations < cfg.agents.planner.max_plan_iterations => {
                let feedback = std::iter::once(reflection.reasoning.clone())
                    .chain(reflection.suggested_changes.iter().cloned())
                    .collect::<Vec<_>>()
                    .join("\n");
                let revised = timed(
                    bus,
                    s.llm,
                    Agent::Planner,
                    plan(s.llm, &req.query, "", profile, Some((&current, &feedback))),
                )
                .await;
                match revised {
                    Ok(p) => {
                        iterations += 1;
                        bus.emit(p.to_event());
                        // The revised plan replaces what was still to do.
                        queue = p.steps.iter().cloned().collect();
                        current = p;
                    }
                    Err(e) => recoverable(bus, "PLANNER_FAILED", &e.to_string()),
                }
            }
            Decision::Adjust | Decision::Continue => {}
        }
    }
    if done.is_empty() {
        let e = RunError::NothingFound { failed };
        bus.emit(ResearchEvent::Error {
            error_code: "NO_FINDINGS".into(),
            error_message: e.to_string(),
            recoverable: false,
            stack_trace: None,
            error_type: Some("RunError".into()),
        });
        return Err(e);
    }

    bus.emit(ResearchEvent::SynthesisStarted {
        total_observations: done.len() as u32,
        total_sources: sources.all().len() as u32,
    });
    let observations: Vec<synthesizer::Observation<'_>> = done
        .iter()
        .map(|(step, text)| synthesizer::Observation {
            step_title: &step.title,
            text,
        })
        .collect();
    let stream_bus = Arc::clone(bus);
    let sink: crate::llm::DeltaSink = Arc::new(move |ev: StreamEvent<'_>| match ev {
        StreamEvent::Delta(chunk) => {
            stream_bus.emit(ResearchEvent::SynthesisProgress {
                content_chunk: chunk.to_string(),
            });
        }
        StreamEvent::Restart => {
            recoverable(
                &stream_bus,
                "SYNTHESIS_RESTARTED",
                "the model's stream broke; the report starts over",
            );
        }
    });
    let report = timed(
        bus,
        s.llm,
        Agent::Synthesizer,
        synthesizer::synthesize(
            s.llm,
            &req.query,
            &observations,
            &sources,
            &profile.report_limits,
            Some(sink),
        ),
    )
    .await?;
    complete(
        bus,
        req,
        started,
        executed,
        skipped,
        iterations,
        Some(report.markdown.clone()),
    );
    Ok(Outcome::Report(Box::new(ResearchReport {
        markdown: report.markdown,
        sources: sources.all(),
        cited: report.cited,
        plan: current,
        depth,
        steps_executed: executed,
        steps_skipped: skipped,
        plan_iterations: iterations,
        citations_dropped: dropped + report.audit.dropped,
        citations_repointed: repointed + report.audit.repointed,
    })))
}

/// Run `f` between `agent_started` and `agent_completed` events.
async fn timed<T>(
    bus: &EventBus,
    router: &LlmRouter,
    agent: Agent,
    f: impl Future<Output = T>,
) -> T {
    bus.emit(ResearchEvent::AgentStarted {
        agent: agent.as_str().into(),
        model_tier: agent.tier(router).unwrap_or(router.default_tier()).into(),
    });
    let started = Instant::now();
    let out = f.await;
    bus.emit(ResearchEvent::AgentCompleted {
        agent: agent.as_str().into(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    out
}

fn recoverable(bus: &EventBus, code: &str, message: &str) {
    tracing::warn!(code, message, "research continues after an error");
    bus.emit(ResearchEvent::Error {
        error_code: code.into(),
        error_message: message.into(),
        recoverable: true,
        stack_trace: None,
        error_type: None,
    });
}

fn complete(
    bus: &EventBus,
    req: &RunRequest,
    started: Instant,
    executed: u32,
    skipped: u32,
    iterations: u32,
    report: Option<String>,
) {
    bus.emit(ResearchEvent::ResearchCompleted {
        session_id: req.session_id,
        total_steps_executed: executed,
        total_steps_skipped: skipped,
        plan_iterations: iterations,
        total_duration_ms: started.elapsed().as_millis() as u64,
        final_report: report,
        structured_output: None,
    });
}

async fn answer_directly(router: &LlmRouter, req: &RunRequest) -> Result<String, AgentError> {
    let agent = Agent::Coordinator;
    let messages = std::iter::once(Message::system("Answer the question directly and briefly."))
        .chain(req.history.iter().cloned())
        .chain(std::iter::once(Message::user(&req.query)))
        .collect();
    router
        .complete(
            agent.tier(router),
            LlmRequest {
                messages,
                ..LlmRequest::default()
            },
        )
        .await
        .map(|r| r.content)
        .map_err(AgentError::llm(agent))
}
