//! Human-readable progress for a research run: one line per meaningful event for logs and
//! pipes, and a live multi-line display on a terminal (indicatif). Kept out of `research/`
//! so the engine never touches the terminal.

use std::io::Write;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::events::sink::EventSink;
use crate::events::{EventEnvelope, ResearchEvent};
use crate::text::clip;

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
        ResearchEvent::ToolResult { .. }
        | ResearchEvent::SynthesisProgress { .. }
        | ResearchEvent::ContentRevised { .. }
        | ResearchEvent::ClaimGenerated { .. } => {
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
        // A long report has dozens of claims: only those a reader should look at get a
        // line; the summary counts the rest.
        ResearchEvent::ClaimVerified { verdict, .. } if verdict == "supported" => return None,
        ResearchEvent::ClaimVerified { verdict, claim_text, .. } => {
            format!("  {verdict}: {}", clip(claim_text, 80))
        }
        ResearchEvent::CitationCorrected { correction_type, .. } => format!("  citation {correction_type}"),
        ResearchEvent::NumericClaimDetected { qa_verified: true, .. } => return None,
        ResearchEvent::NumericClaimDetected { raw_value, .. } => {
            format!("  number {raw_value}: not found in its evidence")
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

/// What a live display shows, kept up to date from the events alone (so it can be tested
/// without a terminal): the plan with each step's state, the work in flight, sources found
/// and verification counts.
#[derive(Debug, Default, Clone)]
pub struct Board {
    plan_title: Option<String>,
    plan_version: u32,
    steps: Vec<BoardStep>,
    activity: String,
    searches_in_flight: u32,
    pages_in_flight: u32,
    sources: u32,
    verdicts: Verdicts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BoardStep {
    id: String,
    title: String,
    state: StepState,
}

/// A plan step's state on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done { sources: u32 },
    Failed,
}

#[derive(Debug, Default, Clone, Copy)]
struct Verdicts {
    supported: u32,
    partial: u32,
    unsupported: u32,
    contradicted: u32,
}

impl Board {
    /// Take one event into account.
    pub fn apply(&mut self, event: &ResearchEvent) {
        match event {
            ResearchEvent::AgentStarted { agent, .. } => self.activity = agent.replace('_', " "),
            ResearchEvent::PlanCreated {
                title,
                steps,
                iteration,
                ..
            } => {
                self.plan_title = Some(title.clone());
                self.plan_version = *iteration;
                // A revision replaces what was still to do; finished steps stay listed.
                self.steps.retain(|s| s.state != StepState::Pending);
                for step in steps {
                    if !self.steps.iter().any(|s| s.title == step.title) {
                        self.steps.push(BoardStep {
                            id: step.id.clone(),
                            title: step.title.clone(),
                            state: StepState::Pending,
                        });
                    }
                }
            }
            ResearchEvent::StepStarted {
                step_id,
                step_title,
                ..
            } => self.set_state(step_id, step_title, StepState::Running),
            ResearchEvent::StepCompleted {
                step_id,
                sources_found,
                ..
            } => {
                self.sources = self.sources.max(*sources_found);
                let title = self.title_of(step_id);
                self.set_state(
                    step_id,
                    &title,
                    StepState::Done {
                        sources: *sources_found,
                    },
                );
            }
            ResearchEvent::Error {
                error_code,
                error_message,
                ..
            } if error_code == "STEP_FAILED" => {
                let failed = self
                    .steps
                    .iter_mut()
                    .filter(|s| s.state == StepState::Running)
                    .find(|s| error_message.starts_with(&format!("step \"{}\"", s.title)));
                if let Some(step) = failed {
                    step.state = StepState::Failed;
                }
            }
            // A private source's lookup (Vector Search, a folder, an MCP tool) is a search
            // too; only a crawl fetches a page.
            ResearchEvent::ToolCall { tool_name, .. } => match tool_name.as_str() {
                "web_crawl" => self.pages_in_flight += 1,
                _ => self.searches_in_flight += 1,
            },
            ResearchEvent::ToolResult {
                tool_name,
                sources_crawled,
                ..
            } => {
                let n = match tool_name.as_str() {
                    "web_crawl" => &mut self.pages_in_flight,
                    _ => &mut self.searches_in_flight,
                };
                *n = n.saturating_sub(1);
                self.sources = self.sources.max(*sources_crawled);
            }
            ResearchEvent::SynthesisStarted { total_sources, .. } => {
                self.sources = self.sources.max(*total_sources);
                self.activity = "writing the report".into();
            }
            ResearchEvent::ClaimVerified { verdict, .. } => match verdict.as_str() {
                "supported" => self.verdicts.supported += 1,
                "partial" => self.verdicts.partial += 1,
                "unsupported" => self.verdicts.unsupported += 1,
                "contradicted" => self.verdicts.contradicted += 1,
                _ => {}
            },
            _ => {}
        }
    }

    /// The plan, one line per step (empty before there is a plan).
    pub fn plan_lines(&self) -> Vec<String> {
        let Some(title) = &self.plan_title else {
            return Vec::new();
        };
        let mut lines = vec![format!("Plan v{}: {title}", self.plan_version)];
        for (i, step) in self.steps.iter().enumerate() {
            let (mark, note) = match step.state {
                StepState::Pending => ("·", String::new()),
                StepState::Running => ("▸", " (researching)".into()),
                StepState::Done { sources } => ("✓", format!(" ({sources} sources so far)")),
                StepState::Failed => ("✗", " (failed)".into()),
            };
            lines.push(format!(
                "  {mark} {}. {}{note}",
                i + 1,
                clip(&step.title, 70)
            ));
        }
        lines
    }

    /// The status line: what runs now, what is in flight, sources and `tokens` used.
    pub fn status_line(&self, tokens: Option<u64>) -> String {
        let mut parts = vec![if self.activity.is_empty() {
            "starting".to_string()
        } else {
            self.activity.clone()
        }];
        if self.searches_in_flight + self.pages_in_flight > 0 {
            parts.push(format!(
                "{} searches, {} pages in flight",
                self.searches_in_flight, self.pages_in_flight
            ));
        }
        parts.push(format!("{} sources", self.sources));
        if let Some(t) = tokens {
            parts.push(format!("{} tokens", thousands(t)));
        }
        let v = self.verdicts;
        if v.supported + v.partial + v.unsupported + v.contradicted > 0 {
            parts.push(format!(
                "claims: {} supported, {} partial, {} unsupported, {} contradicted",
                v.supported, v.partial, v.unsupported, v.contradicted
            ));
        }
        parts.join(" · ")
    }

    fn title_of(&self, id: &str) -> String {
        self.steps
            .iter()
            .rev()
            .find(|s| s.id == id)
            .map(|s| s.title.clone())
            .unwrap_or_default()
    }

    fn set_state(&mut self, id: &str, title: &str, state: StepState) {
        // Ids restart with every plan revision, so a title match wins over an id match.
        let at = self
            .steps
            .iter()
            .position(|s| s.title == title && s.state != StepState::Failed)
            .or_else(|| self.steps.iter().rposition(|s| s.id == id));
        match at {
            Some(i) => self.steps[i].state = state,
            None => self.steps.push(BoardStep {
                id: id.to_string(),
                title: title.to_string(),
                state,
            }),
        }
    }
}

/// Token counts to show, read when the display refreshes.
pub type TokenCounter = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A live display on a terminal: the plan with per-step state, a status line with the
/// current activity, work in flight, sources, tokens and elapsed time, and finished
/// lines printed above them.
pub struct TerminalProgress {
    multi: MultiProgress,
    plan: ProgressBar,
    current: ProgressBar,
    board: Mutex<Board>,
    tokens: Option<TokenCounter>,
}

impl TerminalProgress {
    /// Draws on stderr; `tokens` reports the tokens used so far.
    pub fn new(tokens: Option<TokenCounter>) -> TerminalProgress {
        let multi = MultiProgress::new();
        let plan = multi.add(ProgressBar::new_spinner());
        plan.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let current = multi.add(ProgressBar::new_spinner());
        current.set_style(
            ProgressStyle::with_template("{spinner} {msg} · {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        current.enable_steady_tick(std::time::Duration::from_millis(120));
        TerminalProgress {
            multi,
            plan,
            current,
            board: Mutex::new(Board::default()),
            tokens,
        }
    }

    /// Hide the display while `f` talks to the user on the terminal.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        self.multi.suspend(f)
    }

    /// Remove the live lines (the run is over).
    pub fn finish(&self) {
        self.current.finish_and_clear();
        self.plan.finish_and_clear();
    }
}

impl EventSink for TerminalProgress {
    fn emit(&self, envelope: &EventEnvelope) {
        let event = &envelope.payload.event;
        let Ok(mut board) = self.board.lock() else {
            return;
        };
        board.apply(event);
        if matches!(
            event,
            ResearchEvent::PlanCreated { .. }
                | ResearchEvent::StepStarted { .. }
                | ResearchEvent::StepCompleted { .. }
                | ResearchEvent::Error { .. }
        ) {
            self.plan.set_message(board.plan_lines().join("\n"));
        }
        self.current
            .set_message(board.status_line(self.tokens.as_ref().map(|t| t())));
        drop(board);
        // The plan is on the board; everything else worth keeping scrolls above it.
        let keep = !matches!(
            event,
            ResearchEvent::AgentStarted { .. }
                | ResearchEvent::PlanCreated { .. }
                | ResearchEvent::StepStarted { .. }
                | ResearchEvent::ToolCall { .. }
                | ResearchEvent::SynthesisProgress { .. }
        );
        if keep {
            if let Some(line) = describe(event) {
                let _ = self.multi.println(line);
            }
        }
    }
}

fn thousands(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.2}M", n as f64 / 1_000_000.0),
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn first_sentence(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    clip(&text[..end], 120)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventPayload, PlanStepSummary};

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

    fn verified(verdict: &str) -> ResearchEvent {
        ResearchEvent::ClaimVerified {
            claim_id: uuid::Uuid::nil(),
            claim_text: "Deltas lost a fifth of their wetlands.".into(),
            position_start: 0,
            position_end: 10,
            verdict: verdict.into(),
            confidence_level: "medium".into(),
            evidence_preview: String::new(),
            reasoning: None,
            citation_key: None,
            citation_keys: None,
        }
    }

    #[test]
    fn only_claims_worth_a_look_get_a_line() {
        assert_eq!(line(verified("supported")), None);
        assert_eq!(
            line(verified("unsupported")).as_deref(),
            Some("  unsupported: Deltas lost a fifth of their wetlands.")
        );
        let number = |qa_verified| ResearchEvent::NumericClaimDetected {
            claim_id: uuid::Uuid::nil(),
            raw_value: "40%".into(),
            normalized_value: Some("0.4".into()),
            unit: None,
            derivation_type: "direct".into(),
            qa_verified,
        };
        assert_eq!(line(number(true)), None);
        assert_eq!(
            line(number(false)).as_deref(),
            Some("  number 40%: not found in its evidence")
        );
    }

    fn plan(titles: &[&str], iteration: u32) -> ResearchEvent {
        ResearchEvent::PlanCreated {
            plan_id: uuid::Uuid::nil(),
            title: "Deltas".into(),
            thought: String::new(),
            steps: titles
                .iter()
                .enumerate()
                .map(|(i, t)| PlanStepSummary {
                    id: format!("step-{}", i + 1),
                    title: t.to_string(),
                    step_type: "research".into(),
                    needs_search: true,
                })
                .collect(),
            iteration,
        }
    }

    fn started(id: &str, title: &str) -> ResearchEvent {
        ResearchEvent::StepStarted {
            step_index: 0,
            step_id: id.into(),
            step_title: title.into(),
            step_type: "research".into(),
        }
    }

    fn tool(name: &str, call: bool) -> ResearchEvent {
        if call {
            ResearchEvent::ToolCall {
                tool_name: name.into(),
                tool_args: Default::default(),
                call_number: 1,
            }
        } else {
            ResearchEvent::ToolResult {
                tool_name: name.into(),
                result_preview: String::new(),
                sources_crawled: 3,
            }
        }
    }

    #[test]
    fn the_board_tracks_steps_work_in_flight_sources_and_tokens() {
        let mut b = Board::default();
        assert!(b.plan_lines().is_empty());
        for e in [
            plan(&["Loss rates", "Causes", "Outlook"], 1),
            ResearchEvent::AgentStarted {
                agent: "researcher".into(),
                model_tier: "analytical".into(),
            },
            started("step-1", "Loss rates"),
            started("step-2", "Causes"),
            tool("web_search", true),
            tool("web_search", true),
            tool("web_search", false),
            tool("web_crawl", true),
            tool("search_local", true),
        ] {
            b.apply(&e);
        }
        assert_eq!(
            b.status_line(Some(12_345)),
            "researcher · 2 searches, 1 pages in flight · 3 sources · 12.3k tokens",
            "a private source's lookup counts as a search"
        );
        b.apply(&ResearchEvent::StepCompleted {
            step_index: 0,
            step_id: "step-1".into(),
            observation_summary: String::new(),
            sources_found: 4,
        });
        b.apply(&ResearchEvent::Error {
            error_code: "STEP_FAILED".into(),
            error_message: "step \"Causes\": researcher agent: all 1 web searches failed".into(),
            recoverable: true,
            stack_trace: None,
            error_type: None,
        });
        assert_eq!(
            b.plan_lines(),
            [
                "Plan v1: Deltas",
                "  ✓ 1. Loss rates (4 sources so far)",
                "  ✗ 2. Causes (failed)",
                "  · 3. Outlook",
            ]
        );
        // A revision replaces the pending steps and keeps the finished ones.
        b.apply(&plan(&["Outlook to 2050", "Loss rates"], 2));
        b.apply(&started("step-1", "Outlook to 2050"));
        assert_eq!(
            b.plan_lines(),
            [
                "Plan v2: Deltas",
                "  ✓ 1. Loss rates (4 sources so far)",
                "  ✗ 2. Causes (failed)",
                "  ▸ 3. Outlook to 2050 (researching)",
            ]
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_500_000), "2.50M");
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
