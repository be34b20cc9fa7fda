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

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};
use uuid::Uuid;

use super::agents::{
    background, classify, plan_in_conversation, reflect, run_step, synthesizer, Agent, AgentError,
    CompletedStep, Decision, Plan, PlanStep, QueryMode, Reflection, StepContext, StepOutcome,
};
use super::budget::{Budget, StopReason, Watch};
use super::config::{Depth, ProfileResearcher, ResearchConfig, ResearchProfile};
use super::spans;
use crate::citations::config::{CitationVerification, GenerationMode, SynthesisMode};
use crate::citations::evidence::{Selector, SourceText};
use crate::citations::interleaved::EvidencePool;
use crate::citations::retrieval::{Retriever, Web};
use crate::citations::sources::{CitationAudit, Source, SourceRegistry};
use crate::citations::verify::{VerifiedClaim, Verifier};
use crate::events::sink::EventBus;
use crate::events::ResearchEvent;
use crate::llm::{LlmRequest, LlmRouter, Message, StreamEvent, UsageScope};
use crate::search::SearchProvider;
use crate::web::Fetcher;

/// What a run uses.
pub struct Services<'a> {
    pub llm: &'a LlmRouter,
    pub search: &'a dyn SearchProvider,
    pub fetcher: &'a Fetcher,
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
    /// Who asked, when known (the app's signed-in user); shown on the run's trace.
    pub user: Option<String>,
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
    let traced = usage
        .enter(run_traced(req, s, bus, &usage))
        .instrument(spans::orchestration(req));
    // Unwind safety: after a panic nothing of the run is used again but the bus, whose
    // sinks tolerate poisoned locks.
    match std::panic::AssertUnwindSafe(traced).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let e = RunError::Panicked(panic_message(payload.as_ref()));
            tracing::error!(error = %e, "research run panicked");
            fatal(bus, &e);
            Err(e)
        }
    }
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

    // The coordinator is skipped when the caller fixed both mode and depth.
    let (mode, depth) = match (req.mode, req.depth) {
        (Some(mode), depth) if depth != Depth::Auto || mode != QueryMode::DeepResearch => {
            (mode, depth)
        }
        _ => {
            super::fault::point("coordinator");
            let mut coordinator = cfg.agents.coordinator.clone();
            let rounds = match req.clarification_rounds {
                Some(r) => r,
                None => {
                    coordinator.enable_clarification = false;
                    0
                }
            };
            let c = or_stop(
                &watch,
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
                return Ok(Outcome::Clarify {
                    questions: c.clarifying_questions,
                });
            }
            // A depth the user chose means deep research: the coordinator picks the mode
            // only when neither was given.
            let mode = match (req.mode, req.depth) {
                (Some(mode), _) => mode,
                (None, Depth::Auto) => c.mode,
                (None, _) => QueryMode::DeepResearch,
            };
            if mode == QueryMode::Simple && req.mode.is_none() {
                let text = answer_simply(req, s, bus, c.direct_answer).await?;
                complete(bus, req, started, 0, 0, 0, Some(text.clone()));
                return Ok(Outcome::Answer { text });
            }
            let depth = if req.depth == Depth::Auto {
                c.depth
            } else {
                req.depth
            };
            (mode, depth)
        }
    };
    spans::record_choice(mode, depth);
    if mode == QueryMode::Simple {
        let text = answer_simply(req, s, bus, None).await?;
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
    let (current, limits) = if mode == QueryMode::WebSearch {
        // The original's web_search mode: a synthetic one-step plan, no planner or reflector.
        (Plan::fallback(&req.query, 1), &web_limits)
    } else {
        let background = timed(
            bus,
            s.llm,
            Agent::Background,
            async {
                background::investigate(s.search, &req.query, &cfg.agents.background, &cfg.search)
                    .await
            }
            .boxed(),
        );
        let context = or_stop(&watch, bus, background.boxed())
            .await?
            .map(|b| b.context)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "background search failed; planning without context");
                String::new()
            });
        super::fault::point("planner");
        let planned = or_stop(
            &watch,
            bus,
            timed(
                bus,
                s.llm,
                Agent::Planner,
                plan_in_conversation(s.llm, &req.query, &req.history, &context, profile, None)
                    .boxed(),
            )
            .boxed(),
        )
        .await?;
        let p = planned.unwrap_or_else(|e| {
            recoverable(bus, "PLANNER_FAILED", &e.to_string());
            Plan::fallback(&req.query, 1)
        });
        (p, &profile.researcher)
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
    let Gathered {
        plan: current,
        done,
        sources,
        executed,
        skipped,
        failed,
        iterations,
        dropped,
        repointed,
        stopped,
    } = gathered;
    if done.is_empty() {
        let e = match stopped {
            Some(reason) => RunError::Stopped(reason),
            None => RunError::NothingFound { failed },
        };
        // A cancelled run ends without an event (see `announce_stop`).
        if stopped != Some(StopReason::Cancelled) {
            fatal(bus, &e);
        }
        return Err(e);
    }

    if stopped != Some(StopReason::Cancelled) {
        bus.emit(ResearchEvent::SynthesisStarted {
            total_observations: done.len() as u32,
            total_sources: sources.all().len() as u32,
        });
    }
    let planned = executed + skipped;
    let mut stop = stopped;
    let mut verification = None;
    let report = if stop == Some(StopReason::Cancelled) {
        // A cancelled run must end within a second or two: no model call, the notes as
        // they are.
        notes_report(
            &req.query,
            &done,
            &sources,
            &partial_notice(StopReason::Cancelled, executed, planned),
        )
    } else {
        let settings = verification_settings(req, cfg, mode, profile);
        let selector = Selector::from_config(&cfg.citation_verification, s.llm);
        let pool = evidence_pool(req, &done, &sources, &settings, &selector).await;
        let written = tokio::select! {
            r = timed(bus, s.llm, Agent::Synthesizer, synthesize(req, s, bus, &done, &sources, profile, pool).boxed()) => Ok(r?),
            reason = watch.report_stopped() => Err(reason),
        };
        match written {
            Ok(report) => {
                let report = match stop {
                    Some(reason) => synthesizer::Report {
                        markdown: format!(
                            "{}\n\n{}",
                            partial_notice(reason, executed, planned),
                            report.markdown
                        ),
                        ..report
                    },
                    None => report,
                };
                if verifies(&settings) {
                    let checking = Checking {
                        settings: &settings,
                        selector: &selector,
                    };
                    let (report, found) =
                        verify(req, s, bus, &watch, report, &sources, &checking).await;
                    verification = found;
                    report
                } else {
                    report
                }
            }
            Err(reason) => {
                stop = Some(reason);
                announce_stop(
                    bus,
                    reason,
                    &format!("{reason} while the report was being written; the research notes are returned instead"),
                );
                notes_report(
                    &req.query,
                    &done,
                    &sources,
                    &partial_notice(reason, executed, planned),
                )
            }
        }
    };
    // Cancelled while the report was written or verified: the run ends cancelled all the
    // same, keeping the report as it stands (the user asked to stop; the original never
    // completes a cancelled run).
    if watch.is_cancelled() {
        stop = Some(StopReason::Cancelled);
    }
    // The last word on citations, whatever wrote the text (the synthesizer, verification's
    // rewrites, the notes of a stopped run): only fetched sources, as `[n]`, and a
    // References list of exactly those.
    let finalized = crate::citations::links::finalize(&report.markdown, &sources);
    let report = synthesizer::Report {
        markdown: finalized.markdown,
        cited: finalized.cited,
        ..report
    };
    let links = finalized.audit;
    let citations_dropped = dropped + report.audit.dropped + links.dropped;
    let citations_repointed = repointed + report.audit.repointed + links.repointed;
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
            executed,
            skipped,
            iterations,
            Some(report.markdown.clone()),
        );
    }
    Ok(Outcome::Report(Box::new(ResearchReport {
        markdown: report.markdown,
        sources: sources.all(),
        cited: report.cited,
        plan: current,
        depth,
        steps_executed: executed,
        steps_skipped: skipped,
        plan_iterations: iterations,
        citations_dropped,
        citations_repointed,
        links,
        partial: stop,
        tokens_used: watch.tokens(),
        verification,
        source_texts: sources
            .all()
            .iter()
            .filter_map(|src| Some((src.number, sources.text(src.number)?)))
            .collect(),
    })))
}

/// The verification settings of this run: the section, the depth's and the mode's
/// overrides, then the caller's `verify`.
fn verification_settings(
    req: &RunRequest,
    cfg: &ResearchConfig,
    mode: QueryMode,
    profile: &ResearchProfile,
) -> CitationVerification {
    let mode_override = match mode {
        QueryMode::WebSearch => cfg.query_modes.web_search.citation_verification.as_ref(),
        _ => None,
    };
    let mut settings = cfg
        .citation_verification
        .for_depth(profile.citation_verification.as_ref())
        .for_depth(mode_override);
    if let Some(v) = req.verify {
        settings.enabled = v;
    }
    settings
}

/// Whether this run's report is verified: classical prose has no claim markers to check.
fn verifies(settings: &CitationVerification) -> bool {
    settings.enabled && settings.generation_mode != GenerationMode::Classical
}

/// Stage 2's evidence pool for the synthesizer, when the run verifies and interleaved
/// generation is on: the fetched text's best quotes for the question and the notes.
async fn evidence_pool(
    req: &RunRequest,
    done: &[(PlanStep, String)],
    sources: &SourceRegistry,
    settings: &CitationVerification,
    selector: &Selector,
) -> Option<Arc<EvidencePool>> {
    let interleaved = verifies(settings)
        && settings.enable_evidence_preselection
        && settings.enable_interleaved_generation
        && settings.synthesis_mode == SynthesisMode::Interleaved;
    if !interleaved {
        return None;
    }
    let steps: Vec<(&str, &str)> = done
        .iter()
        .map(|(step, notes)| (step.title.as_str(), notes.as_str()))
        .collect();
    let outline = crate::citations::interleaved::outline(&req.query, &steps);
    let outline: Vec<&str> = outline.iter().map(String::as_str).collect();
    let texts = SourceText::from_registry(sources);
    let pool =
        EvidencePool::select(selector, &texts, &outline, &settings.evidence_preselection).await;
    (!pool.is_empty()).then(|| Arc::new(pool))
}

/// `claim_generated` for each claim the synthesizer wrote from named quotes, with the
/// first quote and stage 3's confidence.
fn announce_claims(bus: &EventBus, report: &synthesizer::Report, settings: &CitationVerification) {
    let Some(evidence) = &report.evidence else {
        return;
    };
    for claim in crate::citations::claims::extract(&report.markdown) {
        let spans = evidence.spans_for(&claim.text);
        let Some(first) = spans.first() else {
            continue;
        };
        let level = crate::citations::confidence::classify(
            &claim.text,
            Some(first.text()),
            &settings.confidence_classification,
        )
        .level;
        bus.emit(ResearchEvent::ClaimGenerated {
            claim_text: claim.text.clone(),
            position_start: u32::try_from(claim.start).unwrap_or(u32::MAX),
            position_end: u32::try_from(claim.end).unwrap_or(u32::MAX),
            evidence_preview: first.text().chars().take(200).collect(),
            confidence_level: level.as_str().into(),
        });
    }
}

/// How a run's report is verified: its settings and the evidence ranking shared with
/// the synthesizer's evidence pool (so windows are embedded once).
#[derive(Clone, Copy)]
struct Checking<'a> {
    settings: &'a CitationVerification,
    selector: &'a Selector,
}

/// Verify the report's claims (inside what is left of the time budget), emit the
/// verification events (each claim's as it is settled) and return the report as
/// verification rewrote it.
async fn verify(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &EventBus,
    watch: &Watch,
    report: synthesizer::Report,
    sources: &SourceRegistry,
    checking: &Checking<'_>,
) -> (synthesizer::Report, Option<Verification>) {
    super::fault::point("verification");
    let Checking { settings, selector } = *checking;
    announce_claims(bus, &report, settings);
    let live = |claim: &VerifiedClaim| {
        for event in claim.events() {
            bus.emit(event);
        }
    };
    let mut verifier = Verifier::new(s.llm, sources, settings)
        .for_message(req.message_id)
        .with_selector(selector)
        .on_claim(&live);
    if let Some(evidence) = &report.evidence {
        verifier = verifier.with_claim_evidence(evidence);
    }
    let retriever = settings.enable_verification_retrieval.then(|| {
        Retriever::new(s.llm, sources, &settings.verification_retrieval).with_web(Web {
            search: s.search,
            search_config: &s.config.search,
            fetcher: s.fetcher,
        })
    });
    if let Some(retriever) = &retriever {
        verifier = verifier.with_retriever(retriever);
    }
    let searches_before = retriever.as_ref().map_or(0, Retriever::searches_left);
    let verifying = UsageScope::new();
    let verified = tokio::select! {
        v = verifying.enter(verifier.verify(&report.markdown)) => v,
        reason = watch.report_stopped() => {
            // A cancel is the run's end, told by its caller (see `announce_stop`).
            if reason != StopReason::Cancelled {
                recoverable(
                    bus,
                    reason.code(),
                    &format!("{reason} while the claims were being verified; the report is not verified"),
                );
            }
            return (report, None);
        }
    };
    bus.emit(verified.summary_event(req.message_id));
    let tokens = verifying.totals();
    let found = Verification {
        claims: verified.provenance_claims(),
        summary: verified.summary.clone(),
        model_calls: verified.model_calls,
        corrections: verified.corrections,
        prompt_tokens: tokens.prompt_tokens,
        completion_tokens: tokens.completion_tokens,
        searches: searches_before
            .saturating_sub(retriever.as_ref().map_or(0, Retriever::searches_left)),
    };
    let cited = sources.cited(&verified.markdown);
    (
        synthesizer::Report {
            markdown: verified.markdown,
            cited,
            ..report
        },
        Some(found),
    )
}

/// The synthesizer over the gathered notes, its stream forwarded as `synthesis_progress`.
async fn synthesize(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    done: &[(PlanStep, String)],
    sources: &SourceRegistry,
    profile: &ResearchProfile,
    pool: Option<Arc<EvidencePool>>,
) -> Result<synthesizer::Report, AgentError> {
    super::fault::point("synthesizer");
    let observations: Vec<synthesizer::Observation<'_>> = done
        .iter()
        .map(|(step, text)| synthesizer::Observation {
            step_title: &step.title,
            text,
        })
        .collect();
    synthesizer::synthesize(
        s.llm,
        &req.query,
        &observations,
        sources,
        &profile.report_limits,
        Some(progress_sink(bus)),
        pool,
    )
    .await
}

/// Streamed model text as `synthesis_progress` events: the frontend shows an answer as it
/// is written by appending their chunks.
fn progress_sink(bus: &Arc<EventBus>) -> crate::llm::DeltaSink {
    let bus = Arc::clone(bus);
    Arc::new(move |ev: StreamEvent<'_>| match ev {
        StreamEvent::Delta(chunk) => {
            bus.emit(ResearchEvent::SynthesisProgress {
                content_chunk: chunk.to_string(),
            });
        }
        StreamEvent::Restart => {
            recoverable(
                &bus,
                "SYNTHESIS_RESTARTED",
                "the model's stream broke; the answer starts over",
            );
        }
    })
}

/// The plan-step loop: runs ready steps (one at a time, or up to `max_parallel` whose
/// dependencies are done), reflects after each, applies ADJUST and COMPLETE, and stops
/// when the plan is done, the depth's step limit is reached, or the [`Watch`] says stop.
struct StepLoop<'r, 'a> {
    req: &'r RunRequest,
    s: &'r Services<'a>,
    bus: &'r Arc<EventBus>,
    watch: &'r Watch,
    mode: QueryMode,
    profile: &'r ResearchProfile,
    limits: &'r ProfileResearcher,
    max_parallel: usize,
}

/// What the step loop gathered.
struct Gathered {
    plan: Plan,
    /// Finished steps with their observations, in completion order.
    done: Vec<(PlanStep, String)>,
    sources: SourceRegistry,
    executed: u32,
    skipped: u32,
    failed: u32,
    iterations: u32,
    dropped: usize,
    repointed: usize,
    stopped: Option<StopReason>,
}

type StepResult = (u32, PlanStep, Result<StepOutcome, AgentError>);
type ReflectResult = (
    Result<Reflection, AgentError>,
    Option<Result<Plan, AgentError>>,
);

impl StepLoop<'_, '_> {
    async fn run(&self, plan: Plan) -> Gathered {
        let sources = SourceRegistry::default();
        let mut g = Gathered {
            plan,
            done: Vec::new(),
            sources: SourceRegistry::default(),
            executed: 0,
            skipped: 0,
            failed: 0,
            iterations: 1,
            dropped: 0,
            repointed: 0,
            stopped: None,
        };
        let mut queue: VecDeque<PlanStep> = g.plan.steps.iter().cloned().collect();
        let mut started = 0u32;
        let mut in_flight: FuturesUnordered<BoxFuture<'_, StepResult>> = FuturesUnordered::new();
        let mut running: Vec<String> = Vec::new();
        let mut reflecting: Option<BoxFuture<'_, ReflectResult>> = None;
        let mut reflect_due = false;
        loop {
            // Checked before anything new starts, so a spent budget starts nothing.
            let mut stop_now = match g.stopped {
                None => self.watch.research_stop(),
                Some(_) => None,
            };
            if stop_now.is_some() {
                reflect_due = false;
            }
            if reflect_due && reflecting.is_none() {
                reflect_due = false;
                if !queue.is_empty() && g.stopped.is_none() {
                    reflecting = Some(self.reflect(&g.plan, &g.done, &queue, g.iterations).boxed());
                }
            }
            // Sequential runs wait for each reflection before the next step; parallel runs
            // keep independent steps going while the reflector thinks.
            let may_launch = g.stopped.is_none()
                && stop_now.is_none()
                && (self.max_parallel > 1 || reflecting.is_none());
            while may_launch && in_flight.len() < self.max_parallel {
                if g.executed + in_flight.len() as u32 >= self.profile.steps.max {
                    g.skipped += queue.len() as u32;
                    queue.clear();
                    break;
                }
                let Some(step) = take_ready(&mut queue, &running) else {
                    break;
                };
                self.bus.emit(ResearchEvent::StepStarted {
                    step_index: started,
                    step_id: step.id.clone(),
                    step_title: step.title.clone(),
                    step_type: step.step_type.as_str().into(),
                });
                running.push(step.id.clone());
                in_flight.push(self.step(started, step, &g.done, &sources).boxed());
                started += 1;
            }
            if stop_now.is_none() && in_flight.is_empty() && reflecting.is_none() {
                break;
            }
            if stop_now.is_none() {
                tokio::select! {
                  Some((index, step, result)) = in_flight.next(), if !in_flight.is_empty() => {
                      running.retain(|id| id != &step.id);
                      match result {
                          Ok(outcome) => {
                              self.bus.emit(outcome.to_completed_event(index, &step.id));
                              g.dropped += outcome.audit.dropped;
                              g.repointed += outcome.audit.repointed;
                              g.executed += 1;
                              g.done.push((step, outcome.observation));
                          }
                          Err(e) => {
                              recoverable(self.bus, "STEP_FAILED", &format!("step \"{}\": {e}", step.title));
                              g.failed += 1;
                          }
                      }
                      reflect_due = self.mode != QueryMode::WebSearch;
                  }
                  Some((reflection, revised)) = maybe(&mut reflecting) => {
                      reflecting = None;
                      self.apply(&mut g, &mut queue, &running, reflection, revised);
                  }
                  reason = self.watch.research_stopped(), if g.stopped.is_none() => {
                      stop_now = Some(reason);
                  }
                }
            }
            if let Some(reason) = stop_now {
                // Dropping the in-flight futures cancels their requests.
                let unfinished = (in_flight.len() + queue.len()) as u32;
                g.skipped += unfinished;
                queue.clear();
                in_flight.clear();
                reflecting = None;
                g.stopped = Some(reason);
                announce_stop(
                    self.bus,
                    reason,
                    &format!(
                        "{reason}; research stops after {} finished steps ({unfinished} not finished)",
                        g.executed
                    ),
                );
            }
        }
        // The futures borrow the registry; they are done (or abandoned) now.
        drop(in_flight);
        drop(reflecting);
        g.sources = sources;
        g
    }

    /// One step, between `agent_started`/`agent_completed` of the researcher.
    fn step<'f>(
        &'f self,
        index: u32,
        step: PlanStep,
        done: &[(PlanStep, String)],
        sources: &'f SourceRegistry,
    ) -> impl Future<Output = StepResult> + Send + 'f {
        let previous: Vec<String> = done.iter().map(|(_, o)| o.clone()).collect();
        async move {
            super::fault::point("researcher");
            let ctx = StepContext {
                router: self.s.llm,
                search: self.s.search,
                search_config: &self.s.config.search,
                fetcher: self.s.fetcher,
                sources,
                events: self.bus,
                query: &self.req.query,
                limits: self.limits,
                settings: &self.s.config.agents.researcher,
                previous_observations: &previous,
            };
            let result = timed_in(
                spans::researcher_step(index, &step),
                self.bus,
                self.s.llm,
                Agent::Researcher,
                run_step(&ctx, &step).boxed(),
            )
            .await;
            (index, step, result)
        }
    }

    /// The reflector on the steps so far and, when it asks for an adjustment the plan may
    /// still take, the planner's revision.
    fn reflect<'f>(
        &'f self,
        plan: &Plan,
        done: &[(PlanStep, String)],
        queue: &VecDeque<PlanStep>,
        iterations: u32,
    ) -> impl Future<Output = ReflectResult> + Send + 'f {
        let plan = plan.clone();
        let done = done.to_vec();
        let remaining: Vec<PlanStep> = queue.iter().cloned().collect();
        async move {
            let completed: Vec<CompletedStep<'_>> = done
                .iter()
                .map(|(step, summary)| CompletedStep { step, summary })
                .collect();
            let reflection = timed(
                self.bus,
                self.s.llm,
                Agent::Reflector,
                reflect(
                    self.s.llm,
                    &self.req.query,
                    &plan,
                    &completed,
                    &remaining,
                    self.profile.steps.min,
                )
                .boxed(),
            )
            .await;
            let reflection = match reflection {
                Ok(r) => r,
                Err(e) => return (Err(e), None),
            };
            self.bus.emit(reflection.to_event());
            let max_iterations = self.s.config.agents.planner.max_plan_iterations;
            if reflection.decision != Decision::Adjust || iterations >= max_iterations {
                return (Ok(reflection), None);
            }
            let feedback = std::iter::once(reflection.reasoning.clone())
                .chain(reflection.suggested_changes.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n");
            let revised = timed(
                self.bus,
                self.s.llm,
                Agent::Planner,
                plan_in_conversation(
                    self.s.llm,
                    &self.req.query,
                    &self.req.history,
                    "",
                    self.profile,
                    Some((&plan, &feedback)),
                )
                .boxed(),
            )
            .await;
            (Ok(reflection), Some(revised))
        }
    }

    /// Act on a reflection: COMPLETE skips what is left, an ADJUST's revised plan replaces
    /// it (minus steps already running).
    fn apply(
        &self,
        g: &mut Gathered,
        queue: &mut VecDeque<PlanStep>,
        running: &[String],
        reflection: Result<Reflection, AgentError>,
        revised: Option<Result<Plan, AgentError>>,
    ) {
        let reflection = match reflection {
            Ok(r) => r,
            Err(e) => {
                // Without a verdict, carry on with the plan as it stands.
                recoverable(self.bus, "REFLECTOR_FAILED", &e.to_string());
                return;
            }
        };
        match (reflection.decision, revised) {
            (Decision::Complete, _) => {
                g.skipped += queue.len() as u32;
                queue.clear();
            }
            (_, Some(Ok(p))) => {
                g.iterations += 1;
                self.bus.emit(p.to_event());
                let finished: Vec<&str> = g.done.iter().map(|(s, _)| s.title.as_str()).collect();
                *queue = p
                    .steps
                    .iter()
                    .filter(|s| !finished.contains(&s.title.as_str()))
                    .filter(|s| {
                        !(running.contains(&s.id)
                            && g.plan
                                .steps
                                .iter()
                                .any(|o| o.id == s.id && o.title == s.title))
                    })
                    .cloned()
                    .collect();
                g.plan = p;
            }
            (_, Some(Err(e))) => recoverable(self.bus, "PLANNER_FAILED", &e.to_string()),
            (_, None) => {}
        }
    }
}

/// The first queued step whose dependencies are neither queued nor running (a dependency
/// the plan no longer has, or one that failed, does not block).
fn take_ready(queue: &mut VecDeque<PlanStep>, running: &[String]) -> Option<PlanStep> {
    let blocked = |step: &PlanStep| {
        step.depends_on
            .iter()
            .any(|d| running.contains(d) || queue.iter().any(|q| &q.id == d && q.id != step.id))
    };
    let at = queue.iter().position(|s| !blocked(s)).or_else(|| {
        // Only a malformed plan (a cycle) blocks every step with nothing running.
        running.is_empty().then_some(0)
    })?;
    queue.remove(at)
}

/// `f`, unless research must stop first (the stop is announced).
// The helpers below take boxed futures: a generic `impl Future` argument holding
// references made rustc unable to prove the whole run `Send` (a known higher-ranked
// lifetime limitation), and `dra serve` spawns runs.
async fn or_stop<T>(watch: &Watch, bus: &EventBus, f: BoxFuture<'_, T>) -> Result<T, RunError> {
    tokio::select! {
        out = f => Ok(out),
        reason = watch.research_stopped() => {
            announce_stop(bus, reason, &format!("{reason} before any research was done"));
            Err(RunError::Stopped(reason))
        }
    }
}

/// The pending future, or never when there is none (for `select!`).
async fn maybe<T>(slot: &mut Option<BoxFuture<'_, T>>) -> Option<T> {
    match slot {
        Some(f) => Some(f.await),
        None => std::future::pending().await,
    }
}

/// The line that opens a report written before the research was done.
fn partial_notice(reason: StopReason, executed: u32, planned: u32) -> String {
    format!(
        "> **Partial report.** Research stopped early: {reason}. It is based on {executed} of {planned} planned steps."
    )
}

/// A report assembled from the step notes without a model call (when there is no time
/// left to synthesize): the notes keep their citations, the references list follows.
fn notes_report(
    query: &str,
    done: &[(PlanStep, String)],
    sources: &SourceRegistry,
    notice: &str,
) -> synthesizer::Report {
    let mut body = format!("# {}\n\n{notice}\n\nThese are the research notes as gathered; no synthesized report was written.\n", query.trim());
    for (step, text) in done {
        body.push_str(&format!("\n## {}\n\n{}\n", step.title, text.trim()));
    }
    let cited = sources.cited(&body);
    let markdown = format!("{body}\n{}", sources.references(&cited));
    synthesizer::Report {
        markdown,
        cited,
        audit: Default::default(),
        usage: Default::default(),
        endpoint: String::new(),
        evidence: None,
    }
}

/// The `error` event that says why research stopped early: a spent budget, after which
/// the run goes on to write what it has. A cancellation is not announced: the original
/// ends a cancelled run without another event (its frontend shows any `error` event as a
/// failure), and the caller says how it ended (a `cancelled` job, exit 130).
fn announce_stop(bus: &EventBus, reason: StopReason, message: &str) {
    tracing::info!(code = reason.code(), message, "research stopped early");
    if reason == StopReason::Cancelled {
        return;
    }
    bus.emit(ResearchEvent::Error {
        error_code: reason.code().into(),
        error_message: message.into(),
        recoverable: true,
        stack_trace: None,
        error_type: None,
    });
}

fn fatal(bus: &EventBus, e: &RunError) {
    let code = match e {
        RunError::Stopped(reason) => reason.code(),
        RunError::NothingFound { .. } => "NO_FINDINGS",
        RunError::Agent(_) => "AGENT_FAILED",
        RunError::Panicked(_) => "INTERNAL_ERROR",
    };
    bus.emit(ResearchEvent::Error {
        error_code: code.into(),
        error_message: e.to_string(),
        recoverable: false,
        stack_trace: None,
        error_type: Some(
            match e {
                RunError::Panicked(_) => "Panic",
                _ => "RunError",
            }
            .into(),
        ),
    });
}

/// Run `f` in the agent's span, between `agent_started` and `agent_completed` events.
async fn timed<T>(bus: &EventBus, router: &LlmRouter, agent: Agent, f: BoxFuture<'_, T>) -> T {
    timed_in(spans::agent(agent), bus, router, agent, f).await
}

/// [`timed`] in a given span (a researcher step's, which carries the step).
async fn timed_in<T>(
    span: Span,
    bus: &EventBus,
    router: &LlmRouter,
    agent: Agent,
    f: BoxFuture<'_, T>,
) -> T {
    bus.emit(ResearchEvent::AgentStarted {
        agent: agent.as_str().into(),
        model_tier: agent.tier(router).unwrap_or(router.default_tier()).into(),
    });
    let started = Instant::now();
    let out = f.instrument(span).await;
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

/// A question answered without research (simple mode, or the coordinator's choice), with
/// the original's events: `synthesis_started`, then the synthesizer's `agent_started`,
/// the answer as `synthesis_progress` chunks (the coordinator's own answer in one) and
/// `agent_completed`. A cancel stops it at once, with no event (see [`announce_stop`]).
async fn answer_simply(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    direct: Option<String>,
) -> Result<String, RunError> {
    bus.emit(ResearchEvent::SynthesisStarted {
        total_observations: 0,
        total_sources: 0,
    });
    // The answer is the coordinator's tier's (its model call is traced as the
    // coordinator's); the events name the synthesizer, as the original's do.
    let tier = Agent::Coordinator
        .tier(s.llm)
        .unwrap_or(s.llm.default_tier())
        .to_string();
    bus.emit(ResearchEvent::AgentStarted {
        agent: Agent::Synthesizer.as_str().into(),
        model_tier: tier,
    });
    let started = Instant::now();
    let text = match direct {
        Some(text) => {
            bus.emit(ResearchEvent::SynthesisProgress {
                content_chunk: text.clone(),
            });
            text
        }
        None => tokio::select! {
            answer = answer_directly(s.llm, req, progress_sink(bus)) => answer?,
            _ = req.cancel.cancelled() => {
                announce_stop(bus, StopReason::Cancelled, "cancelled while answering");
                return Err(RunError::Stopped(StopReason::Cancelled));
            }
        },
    };
    bus.emit(ResearchEvent::AgentCompleted {
        agent: Agent::Synthesizer.as_str().into(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    Ok(text)
}

async fn answer_directly(
    router: &LlmRouter,
    req: &RunRequest,
    stream: crate::llm::DeltaSink,
) -> Result<String, AgentError> {
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
                stream: Some(stream),
                ..LlmRequest::default()
            },
        )
        // The coordinator's own answer, so its model call sits under a coordinator span.
        .instrument(spans::agent(agent))
        .await
        .map(|r| r.content)
        .map_err(AgentError::llm(agent))
}
