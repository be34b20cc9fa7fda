//! Writing the report from the gathered notes, and verifying it.

use super::*;

/// The report as written (and verified), and why research stopped early, if it did.
pub(super) struct Written {
    pub(super) report: synthesizer::Report,
    pub(super) stop: Option<StopReason>,
    pub(super) verification: Option<Verification>,
}

/// Write the report from the gathered notes and verify it; a cancelled run, or a budget
/// that ran out while writing, returns the notes instead.
pub(super) async fn write_report(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    watch: &Watch,
    (mode, profile): (QueryMode, &ResearchProfile),
    g: &Gathered,
) -> Result<Written, RunError> {
    let (done, sources) = (&g.done, &g.sources);
    let planned = g.executed + g.skipped;
    let notes = |reason| {
        let notice = partial_notice(reason, g.executed, planned);
        notes_report(&req.query, done, sources, &notice)
    };
    if g.stopped == Some(StopReason::Cancelled) {
        // A cancelled run must end within a second or two: no model call, the notes as
        // they are.
        return Ok(Written {
            report: notes(StopReason::Cancelled),
            stop: g.stopped,
            verification: None,
        });
    }
    bus.emit(ResearchEvent::SynthesisStarted {
        total_observations: done.len() as u32,
        total_sources: sources.all().len() as u32,
    });
    let settings = verification_settings(req, s.config, mode, profile);
    let selector = Selector::from_config(&s.config.citation_verification, s.llm);
    let pool = evidence_pool(req, done, sources, &settings, &selector).await;
    let written = tokio::select! {
        r = timed(bus, s.llm, Agent::Synthesizer, synthesize(req, s, bus, done, sources, profile, pool).boxed()) => Ok(r?),
        reason = watch.report_stopped() => Err(reason),
    };
    let mut report = match written {
        Ok(report) => report,
        Err(reason) => {
            announce_stop(
                bus,
                reason,
                &format!("{reason} while the report was being written; the research notes are returned instead"),
            );
            return Ok(Written {
                report: notes(reason),
                stop: Some(reason),
                verification: None,
            });
        }
    };
    if let Some(reason) = g.stopped {
        report.markdown = format!(
            "{}\n\n{}",
            partial_notice(reason, g.executed, planned),
            report.markdown
        );
    }
    if !verifies(&settings) {
        return Ok(Written {
            report,
            stop: g.stopped,
            verification: None,
        });
    }
    let checking = Checking {
        settings: &settings,
        selector: &selector,
    };
    let (report, verification) = verify(req, s, bus, watch, report, sources, &checking)
        .instrument(spans::verification())
        .await;
    Ok(Written {
        report,
        stop: g.stopped,
        verification,
    })
}

/// The verification settings of this run: the section, the depth's and the mode's
/// overrides, then the caller's `verify`.
pub(super) fn verification_settings(
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
pub(super) fn verifies(settings: &CitationVerification) -> bool {
    settings.enabled && settings.generation_mode != GenerationMode::Classical
}

/// Stage 2's evidence pool for the synthesizer, when the run verifies and interleaved
/// generation is on: the fetched text's best quotes for the question and the notes.
pub(super) async fn evidence_pool(
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
pub(super) fn announce_claims(
    bus: &EventBus,
    report: &synthesizer::Report,
    settings: &CitationVerification,
) {
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
pub(super) struct Checking<'a> {
    pub(super) settings: &'a CitationVerification,
    pub(super) selector: &'a Selector,
}

/// Verify the report's claims (inside what is left of the time budget), emit the
/// verification events (each claim's as it is settled) and return the report as
/// verification rewrote it.
pub(super) async fn verify(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &EventBus,
    watch: &Watch,
    report: synthesizer::Report,
    sources: &SourceRegistry,
    checking: &Checking<'_>,
) -> (synthesizer::Report, Option<Verification>) {
    crate::research::fault::point("verification");
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
pub(super) async fn synthesize(
    req: &RunRequest,
    s: &Services<'_>,
    bus: &Arc<EventBus>,
    done: &[(PlanStep, String)],
    sources: &SourceRegistry,
    profile: &ResearchProfile,
    pool: Option<Arc<EvidencePool>>,
) -> Result<synthesizer::Report, AgentError> {
    crate::research::fault::point("synthesizer");
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
pub(super) fn progress_sink(bus: &Arc<EventBus>) -> crate::llm::DeltaSink {
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

/// The line that opens a report written before the research was done.
pub(super) fn partial_notice(reason: StopReason, executed: u32, planned: u32) -> String {
    format!(
        "> **Partial report.** Research stopped early: {reason}. It is based on {executed} of {planned} planned steps."
    )
}

/// A report assembled from the step notes without a model call (when there is no time
/// left to synthesize): the notes keep their citations, the references list follows.
pub(super) fn notes_report(
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
