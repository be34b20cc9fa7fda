//! The Databricks agent protocol (MLflow's `ResponsesAgent`, OpenAI's Responses shape) as
//! types and pure functions: reading a request's conversation and options, and writing the
//! response, its `url_citation` annotations and the SSE stream events. No I/O: the route
//! (`routes/agent_invocations.rs`) loads the run and sends what these build.
//!
//! Field names follow `mlflow.types.responses` (MLflow 3): a request is
//! `{"input": [{"role", "content"}], "custom_inputs", "context": {"conversation_id",
//! "user_id"}, "stream"}`; a response is `{"output": [{"type": "message", "id", "role",
//! "content": [{"type": "output_text", "text", "annotations"}]}], "custom_outputs"}`; a
//! stream is `data: {json}` events (`response.output_text.delta` with `item_id` and
//! `delta`, `response.output_item.done` with `item`, `error` with `code` and `message`)
//! ending with `data: [DONE]`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::body::{Keys, RequestBody};
use crate::citations::links::{marker_numbers, MARKER};
use crate::citations::provenance::{Claim, VerificationSummary};

/// The paths an MLflow agent server answers: `/invocations` (Model Serving) and
/// `/responses` (OpenAI's `client.responses.create`).
pub const PATHS: [&str; 2] = ["/invocations", "/responses"];

/// The last SSE frame of a stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Longest question accepted, in characters (as the job routes).
const MAX_QUESTION_CHARS: usize = 10_000;

/// A request body: `ResponsesAgentRequest`, plus the chat-style `messages` and the plain
/// `query` the original's `extract_messages` also reads. Every field is read loosely here
/// and checked by [`conversation`] and [`options`], so a bad one gets a 400 naming it.
#[derive(Debug, Default, Deserialize)]
pub struct AgentRequest {
    /// A list of messages (or output items), or one string.
    pub input: Option<Value>,
    /// Chat-style `[{"role", "content"}]`.
    pub messages: Option<Value>,
    /// One question as a string.
    pub query: Option<Value>,
    /// `research_depth`, `query_mode`, `verify_sources`.
    pub custom_inputs: Option<Value>,
    /// `ChatContext`: `conversation_id` names the chat; `user_id` is ignored (the user is
    /// the one the proxy headers name).
    pub context: Option<Value>,
    /// Whether to answer as an SSE stream.
    #[serde(default, deserialize_with = "super::body::lax_bool_opt")]
    pub stream: Option<bool>,
}

impl RequestBody for AgentRequest {
    const KEYS: Keys = Keys::Name;
}

/// Why a request was refused: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

/// Who said an earlier turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

/// One earlier turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// What the request asks: the question (its last user message) and the turns before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub question: String,
    pub history: Vec<Turn>,
}

/// The conversation of `req`, from `input`, else `messages`, else `query`. System and
/// developer messages and non-message items (tool calls, reasoning) are skipped, as are
/// messages without text; the last one left must be the user's.
pub fn conversation(req: &AgentRequest) -> Result<Conversation, InputError> {
    let (field, value) = [
        ("input", &req.input),
        ("messages", &req.messages),
        ("query", &req.query),
    ]
    .into_iter()
    .find_map(|(field, value)| value.as_ref().filter(|v| !v.is_null()).map(|v| (field, v)))
    .ok_or_else(|| {
        refuse(
            "input",
            "no question: send \"input\": [{\"role\": \"user\", \"content\": \"...\"}]",
        )
    })?;
    let mut turns = match value {
        Value::String(text) => vec![Turn {
            speaker: Speaker::User,
            text: text.trim().to_string(),
        }],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| turn(field, i, item))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(refuse(
                field,
                format!("\"{field}\" must be a list of messages or a string"),
            ))
        }
    };
    turns.retain(|t| !t.text.is_empty());
    let question = match turns.pop() {
        Some(Turn {
            speaker: Speaker::User,
            text,
        }) => text,
        Some(_) => {
            return Err(refuse(
                field,
                "the last message must be the user's question (role \"user\")",
            ))
        }
        None => return Err(refuse(field, "no user message with text to research")),
    };
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(refuse(
            field,
            format!("the question is longer than {MAX_QUESTION_CHARS} characters"),
        ));
    }
    Ok(Conversation {
        question,
        history: turns,
    })
}

/// One item of a message list: a turn, `None` for what is skipped.
fn turn(field: &'static str, i: usize, item: &Value) -> Result<Option<Turn>, InputError> {
    let Value::Object(map) = item else {
        return Err(refuse(
            field,
            format!("{field}[{i}] must be an object with \"role\" and \"content\""),
        ));
    };
    // Output items of earlier turns (function calls, their outputs, reasoning) carry no
    // conversation text the research could use.
    if map
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "message")
    {
        return Ok(None);
    }
    let speaker = match map.get("role").and_then(Value::as_str) {
        Some("user") => Speaker::User,
        Some("assistant") => Speaker::Assistant,
        // Instructions are the server's own; a caller's are not taken.
        Some("system" | "developer") => return Ok(None),
        _ => {
            return Err(refuse(
                field,
                format!("{field}[{i}].role must be user, assistant, system or developer"),
            ))
        }
    };
    let text = match map.get("content") {
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| {
                let kind = part.get("type").and_then(Value::as_str)?;
                matches!(kind, "input_text" | "output_text" | "text")
                    .then(|| part.get("text").and_then(Value::as_str))
                    .flatten()
            })
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string(),
        None | Some(Value::Null) => String::new(),
        Some(_) => {
            return Err(refuse(
                field,
                format!("{field}[{i}].content must be a string or a list of content parts"),
            ))
        }
    };
    Ok(Some(Turn { speaker, text }))
}

/// How to research, from `custom_inputs` (the job routes' names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub query_mode: String,
    pub research_depth: String,
    pub verify_sources: bool,
}

/// The options of `custom_inputs` (absent or `null`: the defaults).
pub fn options(custom_inputs: Option<&Value>) -> Result<Options, InputError> {
    let empty = Map::new();
    let map = match custom_inputs {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Err(refuse("custom_inputs", "custom_inputs must be an object")),
    };
    let choice =
        |field: &'static str, key: &str, allowed: &[&str], default: &str| match map.get(key) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s.clone()),
            Some(_) => Err(refuse(
                field,
                format!("{field} must be one of {}", allowed.join(", ")),
            )),
        };
    let verify_sources = match map.get("verify_sources") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(refuse(
                "custom_inputs.verify_sources",
                "custom_inputs.verify_sources must be true or false",
            ))
        }
    };
    Ok(Options {
        query_mode: choice(
            "custom_inputs.query_mode",
            "query_mode",
            &["simple", "web_search", "deep_research"],
            "deep_research",
        )?,
        research_depth: choice(
            "custom_inputs.research_depth",
            "research_depth",
            &["auto", "light", "medium", "extended"],
            "auto",
        )?,
        verify_sources,
    })
}

/// Names `context.conversation_id` ids that are not chat UUIDs.
const CONVERSATION_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_5a3e_2b7c_4e19_9a0d_3c55_e4b2_7f81);

/// The chat `context.conversation_id` names for `user_id`: the id itself when it is a
/// UUID (a chat of this server), else a UUID derived from the user and the id, so a
/// client's own conversation ids keep one chat per conversation. `None` without one.
pub fn chat_of(context: Option<&Value>, user_id: &str) -> Result<Option<Uuid>, InputError> {
    let id = match context {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map.get("conversation_id"),
        Some(_) => return Err(refuse("context", "context must be an object")),
    };
    match id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(Uuid::parse_str(s.trim()).unwrap_or_else(|_| {
            Uuid::new_v5(
                &CONVERSATION_NAMESPACE,
                format!("{user_id}\n{}", s.trim()).as_bytes(),
            )
        }))),
        Some(_) => Err(refuse(
            "context.conversation_id",
            "context.conversation_id must be a string",
        )),
    }
}

/// A source the run fetched, under the number the report cites it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRef {
    pub number: u32,
    pub url: String,
    pub title: Option<String>,
    /// `web`, or the kind of private source (`vector_search`, `local`, …).
    pub source_type: String,
    /// Whether the report cites it.
    pub cited: bool,
}

/// `AnnotationURLCitation`: a `[n]` marker of the text and the page it points at;
/// `start_index`..`end_index` are character (not byte) offsets of the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlCitation {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
    pub title: String,
    pub start_index: usize,
    pub end_index: usize,
}

/// One annotation per source number of each `[n]` marker (`[2, 5]` gives two) in the
/// report's body, for numbers among `sources`; markers naming no source get none.
pub fn url_citations(text: &str, sources: &[SourceRef]) -> Vec<UrlCitation> {
    let body = crate::citations::references::body(text);
    let mut out = Vec::new();
    for found in MARKER.find_iter(body) {
        // `[2](url)` is a link whose text is a number, not a marker.
        if body.get(found.end()..).is_some_and(|r| r.starts_with('(')) {
            continue;
        }
        let start = body.get(..found.start()).map_or(0, |s| s.chars().count());
        let end = start + found.as_str().chars().count();
        let inner = found.as_str().trim_start_matches('[').trim_end_matches(']');
        for number in marker_numbers(inner) {
            if let Some(s) = sources.iter().find(|s| s.number == number) {
                out.push(UrlCitation {
                    kind: "url_citation",
                    url: s.url.clone(),
                    title: s.title.clone().unwrap_or_else(|| s.url.clone()),
                    start_index: start,
                    end_index: end,
                });
            }
        }
    }
    out
}

/// `ResponseOutputText`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<UrlCitation>,
}

/// `ResponseOutputMessage`: the report as the assistant's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub role: &'static str,
    pub status: &'static str,
    pub content: Vec<OutputText>,
}

impl OutputMessage {
    /// The completed message `id` holding `text` and its citations.
    pub fn new(id: String, text: String, annotations: Vec<UrlCitation>) -> OutputMessage {
        OutputMessage {
            kind: "message",
            id,
            role: "assistant",
            status: "completed",
            content: vec![OutputText {
                kind: "output_text",
                text,
                annotations,
            }],
        }
    }
}

/// A claim of the report and its verdict, for `custom_outputs.claims`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimOut {
    pub id: Uuid,
    pub text: String,
    /// supported, partial, unsupported, contradicted; `null` when not verified.
    pub verdict: Option<crate::citations::provenance::Verdict>,
    pub abstained: bool,
    /// The `[n]` keys the claim cites.
    pub citation_keys: Vec<String>,
}

impl From<&Claim> for ClaimOut {
    fn from(c: &Claim) -> ClaimOut {
        ClaimOut {
            id: c.id.0,
            text: c.claim_text.clone(),
            verdict: c.verification_verdict,
            abstained: c.abstained,
            citation_keys: c
                .citation_keys
                .clone()
                .or_else(|| c.citation_key.clone().map(|k| vec![k]))
                .unwrap_or_default(),
        }
    }
}

/// Verdict counts, for `custom_outputs.verification`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationOut {
    pub total_claims: u32,
    pub supported: u32,
    pub partial: u32,
    pub unsupported: u32,
    pub contradicted: u32,
    pub abstained: u32,
    /// Too many unsupported or contradicted claims.
    pub warning: bool,
}

impl From<&VerificationSummary> for VerificationOut {
    fn from(s: &VerificationSummary) -> VerificationOut {
        VerificationOut {
            total_claims: s.total_claims,
            supported: s.supported_count,
            partial: s.partial_count,
            unsupported: s.unsupported_count,
            contradicted: s.contradicted_count,
            abstained: s.abstained_count,
            warning: s.warning,
        }
    }
}

/// `custom_outputs`: where the run is stored (its ids work with the other routes), the
/// sources it fetched, and its claims with their verdicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomOutputs {
    /// The chat; send it back as `context.conversation_id` to ask a follow-up.
    pub conversation_id: Uuid,
    pub session_id: Uuid,
    pub message_id: Uuid,
    pub status: String,
    pub sources: Vec<SourceRef>,
    pub claims: Vec<ClaimOut>,
    pub verification: VerificationOut,
}

/// `ResponsesAgentResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResponse {
    pub id: String,
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    pub status: &'static str,
    pub output: Vec<OutputMessage>,
    pub custom_outputs: CustomOutputs,
}

/// A `response.output_text.delta` event of item `item_id`.
pub fn text_delta(item_id: &str, delta: &str) -> String {
    frame(&serde_json::json!({
        "type": "response.output_text.delta",
        "item_id": item_id,
        "delta": delta,
    }))
}

/// The `response.output_item.done` event of the report, with the run's custom outputs.
pub fn message_done(item: &OutputMessage, custom_outputs: &CustomOutputs) -> String {
    frame(&serde_json::json!({
        "type": "response.output_item.done",
        "item": item,
        "custom_outputs": custom_outputs,
    }))
}

/// A `response.output_item.done` event of a `reasoning` item: one step of progress.
pub fn reasoning_done(id: &str, text: &str) -> String {
    frame(&serde_json::json!({
        "type": "response.output_item.done",
        "item": {
            "type": "reasoning",
            "id": id,
            "summary": [{"type": "summary_text", "text": text}],
        },
    }))
}

/// An `error` event (`ResponseErrorEvent`).
pub fn error_event(code: &str, message: &str) -> String {
    frame(&serde_json::json!({"type": "error", "code": code, "message": message}))
}

fn frame(event: &Value) -> String {
    format!("data: {event}\n\n")
}

/// `text` in pieces of whole lines (at least `min_bytes` each, but the last), which
/// concatenate to `text`: the deltas of a finished report.
pub fn pieces(text: &str, min_bytes: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices('\n') {
        let end = i + 1;
        if end - start >= min_bytes {
            out.extend(text.get(start..end));
            start = end;
        }
    }
    if start < text.len() {
        out.extend(text.get(start..));
    }
    out
}

/// The progress line a stored event shows as a reasoning item, for the milestones a
/// reader follows (the plan, each step, writing, verification); `None` for the rest.
pub fn progress_line(event_type: &str, payload: &Value) -> Option<String> {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).unwrap_or_default();
    let number = |key: &str| payload.get(key).and_then(Value::as_u64).unwrap_or_default();
    match event_type {
        "plan_created" => {
            let steps: Vec<String> = payload
                .get("steps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, s)| {
                    let title = s.get("title").and_then(Value::as_str).unwrap_or_default();
                    format!("{}. {title}", i + 1)
                })
                .collect();
            Some(format!("Plan: {}\n{}", text("title"), steps.join("\n")))
        }
        "step_started" => Some(format!(
            "Step {}: {}",
            number("stepIndex") + 1,
            text("stepTitle")
        )),
        "synthesis_started" => Some("Writing the report".into()),
        "verification_summary" => Some(format!(
            "Verified {} claims: {} supported, {} partial, {} unsupported, {} contradicted",
            number("totalClaims"),
            number("supported"),
            number("partial"),
            number("unsupported"),
            number("contradicted"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> AgentRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn responses_input_gives_the_last_user_message_and_the_turns_before_it() {
        let c = conversation(&request(json!({"input": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "I study the Mekong."},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "Noted.", "annotations": []}
            ]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"role": "user", "content": [{"type": "input_text", "text": " How fast? "}]}
        ]})))
        .unwrap();
        assert_eq!(c.question, "How fast?");
        assert_eq!(
            c.history,
            [
                Turn {
                    speaker: Speaker::User,
                    text: "I study the Mekong.".into()
                },
                Turn {
                    speaker: Speaker::Assistant,
                    text: "Noted.".into()
                }
            ]
        );
    }

    #[test]
    fn chat_messages_a_query_string_and_a_string_input_are_read_too() {
        for body in [
            json!({"messages": [{"role": "user", "content": "q?"}]}),
            json!({"query": "q?"}),
            json!({"input": "q?"}),
        ] {
            assert_eq!(conversation(&request(body)).unwrap().question, "q?");
        }
    }

    #[test]
    fn a_request_without_a_user_question_is_refused_naming_the_field() {
        for (body, field) in [
            (json!({}), "input"),
            (json!({"input": []}), "input"),
            (
                json!({"input": [{"role": "user", "content": "  "}]}),
                "input",
            ),
            (
                json!({"input": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}),
                "input",
            ),
            (
                json!({"messages": [{"role": "robot", "content": "q"}]}),
                "messages",
            ),
            (json!({"input": 3}), "input"),
            (json!({"input": ["q"]}), "input"),
            (json!({"input": [{"role": "user", "content": 3}]}), "input"),
        ] {
            let err = conversation(&request(body.clone())).unwrap_err();
            assert_eq!(err.field, field, "{body}");
        }
        let long = "é".repeat(MAX_QUESTION_CHARS + 1);
        assert!(conversation(&request(json!({ "input": long }))).is_err());
    }

    #[test]
    fn custom_inputs_choose_depth_mode_and_verification_and_bad_values_are_named() {
        assert_eq!(
            options(None).unwrap(),
            Options {
                query_mode: "deep_research".into(),
                research_depth: "auto".into(),
                verify_sources: true
            }
        );
        let o = options(Some(&json!({"research_depth": "light", "query_mode": "web_search", "verify_sources": false, "other": 1}))).unwrap();
        assert_eq!(
            (
                o.research_depth.as_str(),
                o.query_mode.as_str(),
                o.verify_sources
            ),
            ("light", "web_search", false)
        );
        assert_eq!(
            options(Some(&json!({"research_depth": "deep"})))
                .unwrap_err()
                .field,
            "custom_inputs.research_depth"
        );
        assert_eq!(
            options(Some(&json!([]))).unwrap_err().field,
            "custom_inputs"
        );
    }

    #[test]
    fn a_conversation_id_is_the_chat_or_names_one_per_user() {
        let chat = Uuid::new_v4();
        let ctx = json!({"conversation_id": chat.to_string(), "user_id": "someone"});
        assert_eq!(chat_of(Some(&ctx), "a").unwrap(), Some(chat));
        let named = json!({"conversation_id": "conv-1"});
        let alice = chat_of(Some(&named), "alice").unwrap();
        assert_eq!(alice, chat_of(Some(&named), "alice").unwrap());
        assert_ne!(alice, chat_of(Some(&named), "bob").unwrap());
        assert_eq!(chat_of(Some(&json!({})), "a").unwrap(), None);
        assert!(chat_of(Some(&json!({"conversation_id": 7})), "a").is_err());
    }

    fn source(number: u32, url: &str) -> SourceRef {
        SourceRef {
            number,
            url: url.into(),
            title: Some(format!("T{number}")),
            source_type: "web".into(),
            cited: true,
        }
    }

    #[test]
    fn url_citations_mark_each_known_number_at_its_character_offsets() {
        let text = "Été [1]. Both [1, 2]. Unknown [9]. Link [2](http://x).\n\n## References\n\n1. [T1](https://a.example/)\n";
        let sources = [
            source(1, "https://a.example/"),
            source(2, "https://b.example/"),
        ];
        let got = url_citations(text, &sources);
        let spans: Vec<(&str, usize, usize)> = got
            .iter()
            .map(|a| (a.url.as_str(), a.start_index, a.end_index))
            .collect();
        assert_eq!(
            spans,
            [
                ("https://a.example/", 4, 7),
                ("https://a.example/", 14, 20),
                ("https://b.example/", 14, 20)
            ]
        );
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[4..7].iter().collect::<String>(), "[1]");
        assert_eq!(got[0].title, "T1");
        assert_eq!(
            serde_json::to_value(&got[0]).unwrap(),
            json!({"type": "url_citation", "url": "https://a.example/", "title": "T1", "start_index": 4, "end_index": 7})
        );
    }

    #[test]
    fn pieces_are_whole_lines_that_concatenate_to_the_text() {
        let text = "# Título\n\nuno\ndos\ntres";
        for min in [0, 1, 5, 100] {
            assert_eq!(pieces(text, min).concat(), text);
        }
        assert_eq!(pieces(text, 5), ["# Título\n", "\nuno\n", "dos\ntres"]);
        assert!(pieces("", 4).is_empty());
    }

    #[test]
    fn the_wire_shapes_are_mlflows() {
        let item = OutputMessage::new("m1".into(), "Hi [1].".into(), Vec::new());
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"type": "message", "id": "m1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": "Hi [1].", "annotations": []}]})
        );
        let parse = |frame: String| -> Value {
            let json = frame.strip_prefix("data: ").unwrap();
            assert!(json.ends_with("\n\n"), "{frame:?}");
            serde_json::from_str(json.trim()).unwrap()
        };
        assert_eq!(
            parse(text_delta("m1", "Hi")),
            json!({"type": "response.output_text.delta", "item_id": "m1", "delta": "Hi"})
        );
        let done = parse(reasoning_done("r1", "Plan"));
        assert_eq!(done["type"], "response.output_item.done");
        assert_eq!(done["item"]["summary"][0]["type"], "summary_text");
        assert!(error_event("RESEARCH_FAILED", "x").contains("\"type\":\"error\""));
    }

    #[test]
    fn progress_lines_name_the_plan_steps_and_verification() {
        let plan =
            json!({"title": "Deltas", "steps": [{"title": "Find rates"}, {"title": "Compare"}]});
        assert_eq!(
            progress_line("plan_created", &plan).unwrap(),
            "Plan: Deltas\n1. Find rates\n2. Compare"
        );
        assert_eq!(
            progress_line(
                "step_started",
                &json!({"stepIndex": 0, "stepTitle": "Find rates"})
            )
            .unwrap(),
            "Step 1: Find rates"
        );
        assert!(progress_line("tool_call", &json!({})).is_none());
    }
}
