//! The `llm_<tier>` span of one model call, with the attributes MLflow (3.x) reads from
//! spans that arrive over OTLP: `mlflow.spanType` `LLM`, `mlflow.spanInputs` (the last user
//! message) and `mlflow.spanOutputs` (the reply), `gen_ai.usage.input_tokens` and
//! `gen_ai.usage.output_tokens` as integers, and an `ERROR` status when every endpoint
//! failed. Previews are scrubbed of secrets and short ([`crate::text::PREVIEW_CHARS`]).

use serde_json::json;
use tracing::field::Empty;
use tracing::Span;

use super::wire::{Message, Role, ToolCall, Usage};

/// The span of one call on `tier` with `messages` (its fields are recorded once each:
/// a field recorded twice is exported twice).
pub(super) fn call(tier: &str, messages: &[Message]) -> Span {
    tracing::info_span!(
        "llm",
        otel.name = format!("llm_{tier}"),
        otel.status_code = Empty,
        otel.status_description = Empty,
        "mlflow.spanType" = "LLM",
        "mlflow.spanInputs" = inputs(messages),
        "mlflow.spanOutputs" = Empty,
        "gen_ai.usage.input_tokens" = Empty,
        "gen_ai.usage.output_tokens" = Empty,
        llm.tier = tier,
        llm.endpoint = Empty,
        llm.latency_ms = Empty,
        llm.attempts = Empty,
        llm.fallovers = Empty,
        error = Empty,
    )
}

/// The answer's token counts and a preview of it, on the call's span.
pub(super) fn answered(span: &Span, usage: Usage, content: &str, tool_calls: &[ToolCall]) {
    span.record("gen_ai.usage.input_tokens", count(usage.prompt_tokens));
    span.record("gen_ai.usage.output_tokens", count(usage.completion_tokens));
    let mut out = json!({ "role": "assistant", "content": preview(content) });
    if !tool_calls.is_empty() {
        let names: Vec<&str> = tool_calls
            .iter()
            .map(|c| c.function.name.as_str())
            .collect();
        out["tool_calls"] = json!(names);
    }
    span.record(
        "mlflow.spanOutputs",
        crate::text::json_preview(out).as_str(),
    );
}

/// The call failed: `error` (scrubbed: endpoint error bodies are server text) and the
/// `ERROR` status with it.
pub(super) fn failed(span: &Span, error: &str) {
    let error = crate::redact::scrub(error);
    span.record("error", error.as_ref());
    span.record("otel.status_code", "ERROR");
    span.record(
        "otel.status_description",
        crate::text::clip(&error, crate::text::PREVIEW_CHARS).as_str(),
    );
}

/// The request as MLflow's chat view reads it: the last user message (the system prompt
/// and earlier turns are left out, to keep the span small).
fn inputs(messages: &[Message]) -> String {
    let last = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    crate::text::json_preview(json!({
        "messages": [{ "role": "user", "content": preview(last) }]
    }))
}

/// `text` scrubbed of secrets, then cut to a preview's length.
fn preview(text: &str) -> String {
    crate::text::clip(&crate::redact::scrub(text), crate::text::PREVIEW_CHARS)
}

/// A token count as an integer attribute: an `i64` (a `u64` would be exported as text).
fn count(tokens: u64) -> i64 {
    i64::try_from(tokens).unwrap_or(i64::MAX)
}
