//! The event vocabulary is pinned to the Python original's wire format.

use dra::events::{EventEnvelope, EventPayload, ResearchEvent, StreamEnd};
use serde_json::Value;

const SAMPLE: &str = include_str!("../fixtures/events/original-job-stream-sample.txt");
const NOT_IN_SAMPLE: &str = include_str!("../fixtures/events/not-in-sample.jsonl");

fn data_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_event_of_a_real_stream_round_trips_exactly() {
    let frames = data_lines(SAMPLE);
    let (events, ends): (Vec<_>, Vec<_>) =
        frames.into_iter().partition(|f| f.get("payload").is_some());
    assert!(events.len() > 30);
    for original in &events {
        let env: EventEnvelope = serde_json::from_value(original.clone())
            .unwrap_or_else(|e| panic!("cannot parse {original}: {e}"));
        assert_eq!(env.event_type, env.payload.event.event_type());
        assert_eq!(
            &serde_json::to_value(&env).unwrap(),
            original,
            "re-serialised differently"
        );
    }
    let seq: Vec<i64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, (1..=seq.len() as i64).collect::<Vec<_>>());

    assert_eq!(ends.len(), 1);
    let end: StreamEnd = serde_json::from_value(ends[0].clone()).unwrap();
    assert_eq!(end, StreamEnd::new("completed"));
    assert_eq!(serde_json::to_value(&end).unwrap(), ends[0]);
}

#[test]
fn events_missing_from_the_sample_match_streaming_py() {
    let mut seen = Vec::new();
    for line in NOT_IN_SAMPLE.lines().filter(|l| !l.trim().is_empty()) {
        let original: Value = serde_json::from_str(line).unwrap();
        let payload: EventPayload = serde_json::from_value(original.clone())
            .unwrap_or_else(|e| panic!("cannot parse {original}: {e}"));
        assert_eq!(original["eventType"], payload.event.event_type());
        assert_eq!(serde_json::to_value(&payload).unwrap(), original);
        seen.push(payload.event.event_type());
    }
    let sample_types: Vec<String> = data_lines(SAMPLE)
        .iter()
        .filter_map(|f| f["eventType"].as_str().map(str::to_string))
        .collect();
    // Together the two fixtures cover the whole vocabulary of streaming.py.
    for t in [
        "research_started",
        "agent_started",
        "agent_completed",
        "clarification_needed",
        "plan_created",
        "step_started",
        "step_completed",
        "tool_call",
        "tool_result",
        "reflection_decision",
        "synthesis_started",
        "synthesis_progress",
        "research_completed",
        "error",
        "claim_generated",
        "claim_verified",
        "citation_corrected",
        "numeric_claim_detected",
        "verification_summary",
        "persistence_completed",
    ] {
        assert!(
            seen.contains(&t) || sample_types.iter().any(|s| s == t),
            "{t} has no fixture"
        );
    }
}

#[test]
fn new_envelopes_use_the_originals_formats() {
    let env = EventEnvelope::new(
        7,
        EventPayload::now(ResearchEvent::AgentStarted {
            agent: "planner".into(),
            model_tier: "analytical".into(),
        }),
    );
    let sse = env.to_sse();
    assert!(sse.starts_with("data: {") && sse.ends_with("}\n\n"));
    let v: Value = serde_json::from_str(sse.trim_start_matches("data: ").trim()).unwrap();
    assert_eq!(v["eventType"], "agent_started");
    assert_eq!(v["payload"]["eventType"], "agent_started");
    assert_eq!(v["payload"]["modelTier"], "analytical");
    assert_eq!(v["sequenceNumber"], 7);
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with("+00:00") && ts.len() == "2026-11-24T22:32:46.176604+00:00".len(),
        "{ts}"
    );
    let payload_ts = v["payload"]["timestamp"].as_str().unwrap();
    assert!(
        !payload_ts.contains('+') && !payload_ts.ends_with('Z'),
        "{payload_ts}"
    );
}

#[test]
fn optional_fields_are_null_not_missing() {
    let v = serde_json::to_value(EventPayload::now(ResearchEvent::ReflectionDecision {
        decision: "complete".into(),
        reasoning: "enough".into(),
        suggested_changes: None,
    }))
    .unwrap();
    assert!(v.as_object().unwrap().contains_key("suggestedChanges"));
    assert!(v["suggestedChanges"].is_null());
}

#[test]
fn the_bus_numbers_events_and_jsonl_sinks_write_one_envelope_per_line() {
    use dra::events::sink::{EventBus, EventSink, JsonlSink};
    use std::sync::Arc;

    let sink = Arc::new(JsonlSink::new(Vec::new()));
    let bus = EventBus::new(vec![Box::new(sink.clone()) as Box<dyn EventSink>]);
    bus.emit(ResearchEvent::AgentStarted {
        agent: "coordinator".into(),
        model_tier: "simple".into(),
    });
    bus.emit(ResearchEvent::AgentCompleted {
        agent: "coordinator".into(),
        duration_ms: 12,
    });
    drop(bus);
    let bytes = Arc::try_unwrap(sink).ok().unwrap().into_inner();
    let lines: Vec<EventEnvelope> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|e| e.sequence_number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(lines[1].event_type, "agent_completed");
}
