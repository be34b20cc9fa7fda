//! The workspace's AI services: Vector Search index queries and model serving endpoint
//! invocations (Knowledge Assistants), as strict as the real APIs about what they accept.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{api_error, authorized, not_found, Inner};

/// A Delta Sync index with a model endpoint: it embeds `query_text` itself.
#[derive(Clone, Debug)]
pub struct FakeIndex {
    /// Every column of the index, in order.
    pub columns: Vec<String>,
    /// Rows (column → value) with the similarity score the index gives them for any query.
    pub rows: Vec<(Map<String, Value>, f64)>,
    /// Answer 403, as for an identity without SELECT on the index.
    pub forbidden: bool,
}

impl FakeIndex {
    /// An index of `columns` holding `rows` (JSON objects) scored `score` each.
    pub fn new(columns: &[&str], rows: Vec<(Value, f64)>) -> FakeIndex {
        FakeIndex {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .into_iter()
                .map(|(row, score)| (row.as_object().cloned().unwrap_or_default(), score))
                .collect(),
            forbidden: false,
        }
    }
}

/// What a serving endpoint does when invoked.
#[derive(Clone, Debug)]
pub enum Serving {
    /// A `ResponsesAgent` (what Knowledge Assistant endpoints are): requires `input`,
    /// answers `output` message items with this text and `url_citation` annotations.
    Responses {
        text: String,
        annotations: Vec<Value>,
    },
    /// A chat-style agent reply (`choices[0].message` with `citations`) to an `input`
    /// request.
    ChatReply {
        content: String,
        citations: Vec<Value>,
    },
    /// 503 TEMPORARILY_UNAVAILABLE, as a scaled-to-zero or overloaded endpoint.
    Unavailable,
    /// Never answers (within an hour).
    Hangs,
}

/// The fields a `ResponsesAgentRequest` may carry.
const RESPONSES_FIELDS: &[&str] = &[
    "input",
    "custom_inputs",
    "context",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "reasoning",
    "store",
    "stream",
    "temperature",
    "text",
    "top_p",
    "user",
    "tool_choice",
    "truncation",
];

impl super::FakeWorkspace {
    /// Serve a Vector Search index under its full name.
    pub fn with_vector_index(self, name: &str, index: FakeIndex) -> Self {
        self.inner
            .vector_indexes
            .lock()
            .unwrap()
            .insert(name.into(), index);
        self
    }

    /// Serve a model serving endpoint.
    pub fn with_serving_endpoint(self, name: &str, serving: Serving) -> Self {
        self.inner
            .serving_endpoints
            .lock()
            .unwrap()
            .insert(name.into(), serving);
        self
    }
}

fn invalid(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
}

pub(super) async fn vector_query(
    State(s): State<std::sync::Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/api/2.0/vector-search/indexes/{name}/query");
    if let Err(r) = authorized(&s, "POST", &path, &headers, body.clone()) {
        return r;
    }
    let Some(index) = s.vector_indexes.lock().unwrap().get(&name).cloned() else {
        return not_found(format!("Vector index {name} does not exist."));
    };
    if index.forbidden {
        return api_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            format!("User does not have SELECT on Table '{name}'."),
        );
    }
    match query_rows(&index, &body) {
        Ok(answer) => Json(answer).into_response(),
        Err(message) => invalid(message),
    }
}

/// The query answer, or why the request is refused.
fn query_rows(index: &FakeIndex, body: &Value) -> Result<Value, String> {
    if body.get("query_vector").is_some() {
        return Err(
            "This index computes its embeddings; send query_text, not query_vector.".into(),
        );
    }
    if body["query_text"]
        .as_str()
        .is_none_or(|q| q.trim().is_empty())
    {
        return Err("query_text is required for a Delta Sync index with a model endpoint.".into());
    }
    let columns: Vec<String> = body["columns"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or("columns must be a non-empty list of column names")?
        .iter()
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .ok_or("columns must be strings")
        })
        .collect::<Result<_, _>>()?;
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !index.columns.contains(c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "Requested columns to fetch are not present in index: {}",
            missing.join(", ")
        ));
    }
    let num_results = match &body["num_results"] {
        Value::Null => 10,
        v => v
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or("num_results must be a positive integer")? as usize,
    };
    let filters: Map<String, Value> = match &body["filters_json"] {
        Value::Null => Map::new(),
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| format!("filters_json is not a JSON object: {e}"))?,
        _ => return Err("filters_json must be a JSON string".into()),
    };
    for key in filters.keys() {
        if !index.columns.contains(key) {
            return Err(format!("Filter column {key} is not present in index (this fake knows equality filters only)"));
        }
    }
    let mut rows: Vec<&(Map<String, Value>, f64)> = index
        .rows
        .iter()
        .filter(|(row, _)| {
            filters.iter().all(|(k, want)| match want {
                Value::Array(any) => any.contains(&row[k]),
                one => row.get(k) == Some(one),
            })
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows.truncate(num_results);
    let data: Vec<Value> = rows
        .iter()
        .map(|(row, score)| {
            let mut values: Vec<Value> = columns
                .iter()
                .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
                .collect();
            values.push(json!(score));
            Value::Array(values)
        })
        .collect();
    let mut manifest: Vec<Value> = columns.iter().map(|c| json!({"name": c})).collect();
    manifest.push(json!({"name": "score"}));
    Ok(json!({
        "manifest": {"column_count": manifest.len(), "columns": manifest},
        "result": {"row_count": data.len(), "data_array": data},
        "next_page_token": "",
    }))
}

pub(super) async fn invocations(
    State(s): State<std::sync::Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/serving-endpoints/{name}/invocations");
    if let Err(r) = authorized(&s, "POST", &path, &headers, body.clone()) {
        return r;
    }
    let Some(serving) = s.serving_endpoints.lock().unwrap().get(&name).cloned() else {
        return not_found(format!("Endpoint with name '{name}' does not exist."));
    };
    match serving {
        Serving::Unavailable => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                "The service is currently unavailable.",
            )
        }
        Serving::Hangs => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        _ => {}
    }
    if let Err(message) = responses_request(&body) {
        return invalid(message);
    }
    let question = body["input"][0]["content"].as_str().unwrap_or_default();
    Json(match serving {
        Serving::Responses { text, annotations } => json!({
            "object": "response",
            "id": format!("resp_{}", question.len()),
            "output": [{
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": annotations}],
            }],
        }),
        Serving::ChatReply { content, citations } => json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": content, "citations": citations,
            }}],
        }),
        Serving::Unavailable | Serving::Hangs => Value::Null,
    })
    .into_response()
}

/// Why a body is not a `ResponsesAgentRequest` with a user question, if it is not.
fn responses_request(body: &Value) -> Result<(), String> {
    let fields = body.as_object().ok_or("the body must be a JSON object")?;
    if let Some(unknown) = fields
        .keys()
        .find(|k| !RESPONSES_FIELDS.contains(&k.as_str()))
    {
        return Err(format!(
            "Model is missing inputs ['input']. Note that there were extra inputs: ['{unknown}']"
        ));
    }
    let input = body["input"]
        .as_array()
        .filter(|i| !i.is_empty())
        .ok_or("input must be a non-empty list of messages")?;
    for message in input {
        let role = message["role"].as_str().unwrap_or_default();
        if !["user", "assistant", "system", "developer"].contains(&role) {
            return Err(format!("Invalid role: {role}."));
        }
        if !message["content"].is_string() && !message["content"].is_array() {
            return Err("message content must be a string or a list of parts".into());
        }
    }
    match &body["max_output_tokens"] {
        Value::Null => Ok(()),
        v if v.as_u64().is_some_and(|n| n >= 1) => Ok(()),
        _ => Err("max_output_tokens must be a positive integer".into()),
    }
}

/// The recorded invocations of one endpoint.
pub fn invocations_of(requests: &[super::Recorded], endpoint: &str) -> Vec<Value> {
    let path = format!("/serving-endpoints/{endpoint}/invocations");
    requests
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.body.clone())
        .collect()
}

/// The recorded queries of one index.
pub fn queries_of(requests: &[super::Recorded], index: &str) -> Vec<Value> {
    let path = format!("/api/2.0/vector-search/indexes/{index}/query");
    requests
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.body.clone())
        .collect()
}
