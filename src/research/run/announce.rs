//! The run's own events (stops, failures, completion), agents timed, and the simple
//! answer path.

use super::*;

/// The `error` event that says why research stopped early: a spent budget, after which
/// the run goes on to write what it has. A cancellation is not announced: the original
/// ends a cancelled run without another event (its frontend shows any `error` event as a
/// failure), and the caller says how it ended (a `cancelled` job, exit 130).
pub(super) fn announce_stop(bus: &EventBus, reason: StopReason, message: &str) {
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

pub(super) fn fatal(bus: &EventBus, e: &RunError) {
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

/// Run `f` in the agent's span, between `agent_started` and `agent_completed` events; an
/// error marks the span failed.
pub(super) async fn timed<T, E: std::fmt::Display>(
    bus: &EventBus,
    router: &LlmRouter,
    agent: Agent,
    f: BoxFuture<'_, Result<T, E>>,
) -> Result<T, E> {
    timed_in(spans::agent(agent), bus, router, agent, f).await
}

/// [`timed`] in a given span (a researcher step's, which carries the step).
pub(super) async fn timed_in<T, E: std::fmt::Display>(
    span: Span,
    bus: &EventBus,
    router: &LlmRouter,
    agent: Agent,
    f: BoxFuture<'_, Result<T, E>>,
) -> Result<T, E> {
    bus.emit(ResearchEvent::AgentStarted {
        agent: agent.as_str().into(),
        model_tier: agent.tier(router).unwrap_or(router.default_tier()).into(),
    });
    let started = Instant::now();
    let out = f.instrument(span.clone()).await;
    if let Err(e) = &out {
        spans::failed(&span, e);
    }
    bus.emit(ResearchEvent::AgentCompleted {
        agent: agent.as_str().into(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    out
}

pub(super) fn recoverable(bus: &EventBus, code: &str, message: &str) {
    tracing::warn!(code, message, "research continues after an error");
    bus.emit(ResearchEvent::Error {
        error_code: code.into(),
        error_message: message.into(),
        recoverable: true,
        stack_trace: None,
        error_type: None,
    });
}

pub(super) fn complete(
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
pub(super) async fn answer_simply(
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

pub(super) async fn answer_directly(
    router: &LlmRouter,
    req: &RunRequest,
    stream: crate::llm::DeltaSink,
) -> Result<String, AgentError> {
    let agent = Agent::Coordinator;
    let messages = std::iter::once(Message::system("Answer the question directly and briefly."))
        .chain(req.history.iter().cloned())
        .chain(std::iter::once(Message::user(&req.query)))
        .collect();
    // The coordinator's own answer, so its model call sits under a coordinator span.
    let span = spans::agent(agent);
    let answer = router
        .complete(
            agent.tier(router),
            LlmRequest {
                messages,
                stream: Some(stream),
                ..LlmRequest::default()
            },
        )
        .instrument(span.clone())
        .await;
    if let Err(e) = &answer {
        spans::failed(&span, e);
    }
    answer.map(|r| r.content).map_err(AgentError::llm(agent))
}
