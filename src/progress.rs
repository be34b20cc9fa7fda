//! Human-readable progress for a research run: one line per meaningful event for logs and
//! pipes, and a live multi-line display on a terminal (indicatif). Kept out of `research/`
//! so the engine never touches the terminal.

use std::io::Write;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::research::event::{EventEnvelope, ResearchEvent};
use crate::research::sink::EventSink;

/// The line a reader should see for an event, if any (synthesis chunks and similar
/// high-frequency events are summarised elsewhere and return `None`).
pub fn describe(event: &ResearchEvent) -> Option<String> {
    Some(match event {
        ResearchEvent::ResearchStarted { .. } => "research started".into(),
        ResearchEvent::AgentStarted { agent, model_tier } => format!("{agent} started ({model_tier} tier)"),
        ResearchEvent::AgentCompleted { agent, duration_ms } => format!("{agent} done in {}", seconds(*duration_ms)),
        ResearchEvent::ClarificationNeeded { questions, round } => {
            format!("clarification needed (round {round}): {}", questions.join(" | "))
        }
        ResearchEvent::PlanCreated { title, steps, iteration, .. } => {
            let list: Vec<String> = steps.iter().enumerate().map(|(i, s)| format!("  {}. {}", i + 1, s.title)).collect();
            format!("plan v{iteration}: {title} ({} steps)\n{}", steps.len(), list.join("\n"))
        }
        ResearchEvent::StepStarted { step_index, step_title, .. } => format!("step {}: {step_title}", step_index + 1),
        ResearchEvent::StepCompleted { step_index, sources_found, .. } => {
            format!("step {} done: {sources_found} sources", step_index + 1)
        }
        ResearchEvent::ToolCall { tool_name, tool_args, .. } => {
            let what = tool_args
                .get("query")
                .or_else(|| tool_args.get("url"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            format!("  {tool_name} {what}")
        }
        ResearchEvent::ToolResult { .. } | ResearchEvent::SynthesisProgress { .. } | ResearchEvent::ClaimGenerated { .. } => {
            return None
        }
        ResearchEvent::ReflectionDecision { decision, reasoning, .. } => {
            format!("reflection: {decision} ({})", first_sentence(reasoning))
        }
        ResearchEvent::SynthesisStarted { total_sources, total_observations } => {
            format!("writing the report from {total_sources} sources and {total_observations} observations")
        }
        ResearchEvent::ResearchCompleted { total_steps_executed, total_duration_ms, .. } => {
            format!("research completed: {total_steps_executed} steps in {}", seconds(*total_duration_ms))
        }
        ResearchEvent::Error { error_message, recoverable, .. } => {
            format!("{}: {error_message}", if *recoverable { "warning" } else { "error" })
        }
        ResearchEvent::ClaimVerified { verdict, claim_text, .. } => {
            format!("  {verdict}: {}", clip(claim_text, 80))
        }
        ResearchEvent::CitationCorrected { correction_type, .. } => format!("  citation {correction_type}"),
        ResearchEvent::NumericClaimDetected { raw_value, qa_verified, .. } => {
            format!("  number {raw_value}: {}", if *qa_verified { "found in its evidence" } else { "not found in its evidence" })
        }
        ResearchEvent::VerificationSummary { total_claims, supported, partial, unsupported, contradicted, .. } => format!(
            "verification: {total_claims} claims, {supported} supported, {partial} partial, {unsupported} unsupported, {contradicted} contradicted"
        ),
        ResearchEvent::PersistenceCompleted { chat_title, .. } => format!("saved as \"{chat_title}\""),
    })
}

/// Writes [`describe`]'s lines with a `[HH:MM:SS]` time, for pipes and CI logs.
pub struct LineProgress<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> LineProgress<W> {
    pub fn new(out: W) -> LineProgress<W> {
        LineProgress {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<W: Write + Send> EventSink for LineProgress<W> {
    fn emit(&self, envelope: &EventEnvelope) {
        let Some(line) = describe(&envelope.payload.event) else {
            return;
        };
        let at = envelope.timestamp.format("%H:%M:%S");
        if let Ok(mut out) = self.out.lock() {
            // Progress is best effort: a closed pipe must not stop the research.
            for (i, part) in line.lines().enumerate() {
                let _ = if i == 0 {
                    writeln!(out, "[{at}] {part}")
                } else {
                    writeln!(out, "           {part}")
                };
            }
        }
    }
}

/// A live display on a terminal: a spinner with the current activity, finished lines
/// printed above it, and a count of verified claims.
pub struct TerminalProgress {
    multi: MultiProgress,
    current: ProgressBar,
}

impl TerminalProgress {
    /// Draws on stderr.
    pub fn new() -> TerminalProgress {
        let multi = MultiProgress::new();
        let current = multi.add(ProgressBar::new_spinner());
        current.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        current.enable_steady_tick(std::time::Duration::from_millis(120));
        TerminalProgress { multi, current }
    }

    /// Remove the spinner (the run is over).
    pub fn finish(&self) {
        self.current.finish_and_clear();
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSink for TerminalProgress {
    fn emit(&self, envelope: &EventEnvelope) {
        let event = &envelope.payload.event;
        match event {
            // Transient states go on the spinner line.
            ResearchEvent::AgentStarted { .. }
            | ResearchEvent::ToolCall { .. }
            | ResearchEvent::StepStarted { .. } => {
                if let Some(line) = describe(event) {
                    self.current.set_message(line.trim().to_string());
                }
            }
            ResearchEvent::SynthesisProgress { .. } => self.current.tick(),
            _ => {
                if let Some(line) = describe(event) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn first_sentence(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    clip(&text[..end], 120)
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::research::event::{EventPayload, PlanStepSummary};

    fn line(event: ResearchEvent) -> Option<String> {
        let sink = LineProgress::new(Vec::new());
        sink.emit(&EventEnvelope::new(1, EventPayload::now(event)));
        let text = String::from_utf8(sink.into_inner()).unwrap();
        // Drop the `[HH:MM:SS] ` prefix and the continuation indent (both 11 characters).
        let plain: Vec<String> = text
            .lines()
            .map(|l| l.get(11..).unwrap_or("").to_string())
            .collect();
        (!text.is_empty()).then(|| plain.join("\n"))
    }

    #[test]
    fn plans_steps_and_verification_read_well() {
        let plan = line(ResearchEvent::PlanCreated {
            plan_id: uuid::Uuid::nil(),
            title: "Battery chemistry".into(),
            thought: "t".into(),
            steps: vec![PlanStepSummary {
                id: "step-1".into(),
                title: "Energy density figures".into(),
                step_type: "research".into(),
                needs_search: true,
            }],
            iteration: 1,
        });
        assert_eq!(
            plan.as_deref(),
            Some("plan v1: Battery chemistry (1 steps)\n  1. Energy density figures")
        );
        let summary = line(ResearchEvent::VerificationSummary {
            message_id: uuid::Uuid::nil(),
            total_claims: 10,
            supported: 7,
            partial: 2,
            unsupported: 1,
            contradicted: 0,
            abstained_count: 0,
            citation_corrections: 1,
            warning: false,
        });
        assert_eq!(
            summary.as_deref(),
            Some("verification: 10 claims, 7 supported, 2 partial, 1 unsupported, 0 contradicted")
        );
        assert_eq!(
            line(ResearchEvent::SynthesisProgress {
                content_chunk: "x".into()
            }),
            None
        );
        assert_eq!(
            line(ResearchEvent::AgentCompleted {
                agent: "planner".into(),
                duration_ms: 1534
            })
            .as_deref(),
            Some("planner done in 1.5s")
        );
    }

    #[test]
    fn every_event_in_the_real_sample_renders_without_panicking() {
        let sample = include_str!("../tests/fixtures/events/original-job-stream-sample.txt");
        let mut lines = 0;
        for frame in sample.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if let Ok(env) = serde_json::from_str::<EventEnvelope>(frame) {
                lines += usize::from(describe(&env.payload.event).is_some());
            }
        }
        assert!(lines > 20, "{lines}");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
