//! `ResearchEvent`: one enum whose JSON is the Python original's live event vocabulary
//! (its `schemas/streaming.py`), carried in its envelope
//! `{"id","eventType","timestamp","sequenceNumber","payload"}`.
//!
//! Payload fields are camelCase and repeat `eventType` and a naive UTC `timestamp`, exactly
//! as the original's stored and streamed events do; absent optional fields are `null`.

pub mod sink;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// One step of a plan, as events show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanStepSummary {
    pub id: String,
    pub title: String,
    /// `research` or `analysis`.
    pub step_type: String,
    pub needs_search: bool,
}

/// Every event a research run emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "eventType",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ResearchEvent {
    ResearchStarted {
        message_id: String,
        research_session_id: Option<String>,
    },
    AgentStarted {
        /// coordinator, background_investigator, planner, researcher, reflector, synthesizer
        agent: String,
        /// simple, analytical, complex, …
        model_tier: String,
    },
    AgentCompleted {
        agent: String,
        duration_ms: u64,
    },
    ClarificationNeeded {
        questions: Vec<String>,
        round: u32,
    },
    PlanCreated {
        plan_id: Uuid,
        title: String,
        thought: String,
        steps: Vec<PlanStepSummary>,
        iteration: u32,
    },
    StepStarted {
        step_index: u32,
        step_id: String,
        step_title: String,
        step_type: String,
    },
    StepCompleted {
        step_index: u32,
        step_id: String,
        observation_summary: String,
        sources_found: u32,
    },
    ToolCall {
        /// web_search, web_crawl
        tool_name: String,
        tool_args: serde_json::Map<String, serde_json::Value>,
        call_number: u32,
    },
    ToolResult {
        tool_name: String,
        /// The first 200 characters of the result.
        result_preview: String,
        /// Sources with content so far.
        sources_crawled: u32,
    },
    ReflectionDecision {
        /// continue, adjust, complete
        decision: String,
        reasoning: String,
        suggested_changes: Option<Vec<String>>,
    },
    SynthesisStarted {
        total_observations: u32,
        total_sources: u32,
    },
    SynthesisProgress {
        content_chunk: String,
    },
    /// The report as it finally stands, replacing the streamed text: verification and the
    /// last citation pass change it after `synthesis_progress` showed it. The original's
    /// frontend swaps its streamed answer for `content`.
    ContentRevised {
        content: String,
        /// Citations dropped or re-pointed after the stream.
        revision_count: u32,
    },
    ResearchCompleted {
        session_id: Uuid,
        total_steps_executed: u32,
        total_steps_skipped: u32,
        plan_iterations: u32,
        total_duration_ms: u64,
        final_report: Option<String>,
        structured_output: Option<serde_json::Value>,
    },
    Error {
        error_code: String,
        error_message: String,
        recoverable: bool,
        stack_trace: Option<String>,
        error_type: Option<String>,
    },
    ClaimGenerated {
        claim_text: String,
        position_start: u32,
        position_end: u32,
        evidence_preview: String,
        /// high, medium, low
        confidence_level: String,
    },
    ClaimVerified {
        claim_id: Uuid,
        claim_text: String,
        position_start: u32,
        position_end: u32,
        /// supported, partial, unsupported, contradicted
        verdict: String,
        confidence_level: String,
        evidence_preview: String,
        reasoning: Option<String>,
        citation_key: Option<String>,
        citation_keys: Option<Vec<String>>,
    },
    CitationCorrected {
        claim_id: Uuid,
        /// keep, replace, remove, add_alternate
        correction_type: String,
        reasoning: Option<String>,
    },
    NumericClaimDetected {
        claim_id: Uuid,
        raw_value: String,
        normalized_value: Option<String>,
        unit: Option<String>,
        /// direct, computed
        derivation_type: String,
        qa_verified: bool,
    },
    VerificationSummary {
        message_id: Uuid,
        total_claims: u32,
        supported: u32,
        partial: u32,
        unsupported: u32,
        contradicted: u32,
        abstained_count: u32,
        citation_corrections: u32,
        warning: bool,
    },
    PersistenceCompleted {
        chat_id: String,
        message_id: String,
        research_session_id: Option<String>,
        chat_title: String,
        was_draft: bool,
        counts: BTreeMap<String, i64>,
    },
}

impl ResearchEvent {
    /// The wire name, e.g. `agent_started`.
    pub fn event_type(&self) -> &'static str {
        match self {
            ResearchEvent::ResearchStarted { .. } => "research_started",
            ResearchEvent::AgentStarted { .. } => "agent_started",
            ResearchEvent::AgentCompleted { .. } => "agent_completed",
            ResearchEvent::ClarificationNeeded { .. } => "clarification_needed",
            ResearchEvent::PlanCreated { .. } => "plan_created",
            ResearchEvent::StepStarted { .. } => "step_started",
            ResearchEvent::StepCompleted { .. } => "step_completed",
            ResearchEvent::ToolCall { .. } => "tool_call",
            ResearchEvent::ToolResult { .. } => "tool_result",
            ResearchEvent::ReflectionDecision { .. } => "reflection_decision",
            ResearchEvent::SynthesisStarted { .. } => "synthesis_started",
            ResearchEvent::SynthesisProgress { .. } => "synthesis_progress",
            ResearchEvent::ContentRevised { .. } => "content_revised",
            ResearchEvent::ResearchCompleted { .. } => "research_completed",
            ResearchEvent::Error { .. } => "error",
            ResearchEvent::ClaimGenerated { .. } => "claim_generated",
            ResearchEvent::ClaimVerified { .. } => "claim_verified",
            ResearchEvent::CitationCorrected { .. } => "citation_corrected",
            ResearchEvent::NumericClaimDetected { .. } => "numeric_claim_detected",
            ResearchEvent::VerificationSummary { .. } => "verification_summary",
            ResearchEvent::PersistenceCompleted { .. } => "persistence_completed",
        }
    }
}

/// An event with the time it happened: the `payload` of the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    #[serde(flatten)]
    pub event: ResearchEvent,
    /// Naive UTC, as the original writes it (`2026-11-24T22:32:46.176555`).
    #[serde(serialize_with = "python_isoformat")]
    pub timestamp: NaiveDateTime,
}

impl EventPayload {
    /// Stamp an event with the current time.
    pub fn now(event: ResearchEvent) -> EventPayload {
        EventPayload {
            event,
            timestamp: Utc::now().naive_utc().trunc_subsecs(6),
        }
    }
}

/// The envelope events travel in (SSE `data:`, the events table, JSONL files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    pub id: Uuid,
    /// Repeats `payload.eventType`.
    pub event_type: String,
    /// When it was recorded, `+00:00` offset with microseconds.
    #[serde(serialize_with = "offset_micros", deserialize_with = "any_rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// 1, 2, 3, … within a research session.
    pub sequence_number: i64,
    pub payload: EventPayload,
}

impl EventEnvelope {
    /// Wrap a payload as event number `sequence_number` of its session.
    pub fn new(sequence_number: i64, payload: EventPayload) -> EventEnvelope {
        EventEnvelope {
            id: Uuid::new_v4(),
            event_type: payload.event.event_type().to_string(),
            timestamp: Utc::now().trunc_subsecs(6),
            sequence_number,
            payload,
        }
    }

    /// The SSE frame: `data: {json}` and a blank line.
    pub fn to_sse(&self) -> String {
        format!(
            "data: {}\n\n",
            serde_json::to_string(self).unwrap_or_default()
        )
    }
}

/// The original's last frame of a job stream: `{"eventType": "job_completed", "status": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamEnd {
    /// Always `job_completed`.
    pub event_type: String,
    /// completed, failed, cancelled
    pub status: String,
}

impl StreamEnd {
    pub fn new(status: &str) -> StreamEnd {
        StreamEnd {
            event_type: "job_completed".into(),
            status: status.into(),
        }
    }
}

/// Python's `datetime.isoformat()`: six fractional digits, or none when they are all zero.
fn python_isoformat<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    let text = if t.and_utc().timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    };
    s.serialize_str(&text)
}

fn offset_micros<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
}

fn any_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}
