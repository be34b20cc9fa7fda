//! A fake OpenAI-compatible serving endpoint: scripted replies per model, recorded calls.
//! It also embeds (`/v1/embeddings`, `/serving-endpoints/embeddings`, and `invocations`
//! bodies with `input`): deterministic vectors where texts sharing words, or synonyms
//! from [`SYNONYMS`], are close ([`embedding`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// One scripted reply.
#[derive(Clone, Debug)]
pub enum Reply {
    Text(String),
    /// An error status, with an optional `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// A streamed answer in these pieces.
    Stream(Vec<String>),
    /// A streamed answer whose pieces come this far apart, as a real model's tokens do.
    Paced(Duration, Vec<String>),
    /// A stream that stops after these pieces, without finishing.
    StreamCut(Vec<String>),
    /// This reply, after a pause.
    Delayed(Duration, Box<Reply>),
    /// An answer that calls tools: `(name, arguments as JSON text)` each, no content. The
    /// text is sent as written, so a test can script malformed arguments.
    ToolCalls(Vec<(String, String)>),
    /// This JSON body, with status 200 (e.g. a malformed embeddings answer).
    Json(Value),
    /// For an embeddings request: the fake's own vectors. The default there.
    Embeddings,
}

impl Reply {
    /// Prompt plus completion tokens the fake reports with this reply.
    pub fn tokens(&self) -> u64 {
        match self {
            Reply::Text(_) | Reply::ToolCalls(_) => 11 + 7,
            Reply::Stream(pieces) | Reply::Paced(_, pieces) => 5 + pieces.len() as u64,
            Reply::Delayed(_, reply) => reply.tokens(),
            Reply::Status(..) | Reply::StreamCut(_) | Reply::Json(_) | Reply::Embeddings => 0,
        }
    }

    /// A tool-calling answer with well-formed arguments.
    pub fn tools(calls: &[(&str, Value)]) -> Reply {
        Reply::ToolCalls(
            calls
                .iter()
                .map(|(name, args)| (name.to_string(), args.to_string()))
                .collect(),
        )
    }
}

/// Computes a reply from the request body (for calls whose order is not fixed, such as
/// plan steps running in parallel).
pub type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    pub path: String,
    /// `model` from the body, or the endpoint name from an invocations path.
    pub model: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// Prompt plus completion tokens the fake reported for this call (0 when it reported
    /// none: errors, cut streams, embeddings).
    pub tokens: u64,
}

#[derive(Default)]
struct Inner {
    queues: Mutex<HashMap<String, VecDeque<Reply>>>,
    fallback: Mutex<HashMap<String, Reply>>,
    responders: Mutex<HashMap<String, Responder>>,
    latency: Mutex<HashMap<String, Duration>>,
    calls: Mutex<Vec<Call>>,
    /// Set by [`FakeLlm::only_knows`]: the models it lists and the only ones it answers.
    known: Mutex<Option<Vec<String>>>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeLlm {
    pub url: String,
    inner: Arc<Inner>,
    _server: super::server::Served,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/serving-endpoints/chat/completions", post(chat))
            .route("/serving-endpoints/{name}/invocations", post(invocations))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", axum::routing::get(list_models))
            .route("/v1/embeddings", post(embeddings))
            .route("/serving-endpoints/embeddings", post(embeddings))
            .with_state(inner.clone());
        let server = super::server::serve(app).await;
        FakeLlm {
            url: server.url.clone(),
            inner,
            _server: server,
        }
    }

    /// Act as a local server (Ollama, vLLM) does: `GET /v1/models` lists `models`, and a
    /// request for any other model is refused as Ollama refuses it (404, "model … not
    /// found"). Without this the fake lists nothing (404) and answers every name.
    pub fn only_knows(&self, models: &[&str]) {
        *self.inner.known.lock().unwrap() = Some(models.iter().map(|m| m.to_string()).collect());
    }

    /// Replies for `model`, in order; after them, the `always` reply (or "ok").
    pub fn script(&self, model: &str, replies: Vec<Reply>) {
        self.inner
            .queues
            .lock()
            .unwrap()
            .entry(model.into())
            .or_default()
            .extend(replies);
    }

    /// The reply for `model` once its script is used up.
    pub fn always(&self, model: &str, reply: Reply) {
        self.inner
            .fallback
            .lock()
            .unwrap()
            .insert(model.into(), reply);
    }

    /// Compute replies for `model` from each request once its script is used up.
    pub fn respond(&self, model: &str, f: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        self.inner
            .responders
            .lock()
            .unwrap()
            .insert(model.into(), Arc::new(f));
    }

    /// Every reply for `model` comes after this pause (a fixed model latency).
    pub fn latency(&self, model: &str, d: Duration) {
        self.inner.latency.lock().unwrap().insert(model.into(), d);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, model: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.model == model)
            .collect()
    }
}

async fn list_models(State(s): State<Arc<Inner>>) -> Response {
    match s.known.lock().unwrap().clone() {
        Some(models) => Json(serde_json::json!({
            "object": "list",
            "data": models.iter().map(|m| serde_json::json!({
                "id": m, "object": "model", "created": 1_700_000_000, "owned_by": "library"
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn chat(
    State(s): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    answer(
        &s,
        model,
        uri.path(),
        headers,
        body,
        Reply::Text("ok".into()),
    )
    .await
}

async fn invocations(
    State(s): State<Arc<Inner>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/serving-endpoints/{name}/invocations");
    // Databricks serves chat and embeddings models on the same path; the body tells.
    let default = if body.get("input").is_some() && body.get("messages").is_none() {
        Reply::Embeddings
    } else {
        Reply::Text("ok".into())
    };
    answer(&s, name, &path, headers, body, default).await
}

async fn embeddings(
    State(s): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    answer(&s, model, uri.path(), headers, body, Reply::Embeddings).await
}

async fn answer(
    s: &Inner,
    model: String,
    path: &str,
    headers: HeaderMap,
    body: Value,
    default: Reply,
) -> Response {
    let unknown = s
        .known
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|known| !known.contains(&model));
    if unknown {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": {
                "message": format!("model \"{model}\" not found, try pulling it first"),
                "type": "api_error", "param": null, "code": null
            }})),
        )
            .into_response();
    }
    let index = {
        let mut calls = s.calls.lock().unwrap();
        calls.push(Call {
            at: Instant::now(),
            path: path.to_string(),
            model: model.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.clone(),
            tokens: 0,
        });
        calls.len() - 1
    };
    let reply = s
        .queues
        .lock()
        .unwrap()
        .get_mut(&model)
        .and_then(VecDeque::pop_front)
        .or_else(|| {
            let responder = s.responders.lock().unwrap().get(&model).cloned();
            responder.map(|f| f(&body))
        })
        .or_else(|| s.fallback.lock().unwrap().get(&model).cloned())
        .unwrap_or(default);
    s.calls.lock().unwrap()[index].tokens = reply.tokens();
    let latency = s.latency.lock().unwrap().get(&model).copied();
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let call = s.calls.lock().unwrap().len();
    if let Reply::Embeddings = reply {
        return embeddings_answer(&body);
    }
    render(reply, call).await
}

/// The response for `reply`; `call` numbers the request (for unique tool-call ids).
fn render(reply: Reply, call: usize) -> futures::future::BoxFuture<'static, Response> {
    Box::pin(async move {
        match reply {
        Reply::Text(text) => Json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }))
        .into_response(),
        Reply::Status(code, retry_after) => {
            let mut resp = (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(json!({"error_code": "TEMPORARILY_UNAVAILABLE", "message": format!("scripted {code}")})),
            )
                .into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            }
            resp
        }
        Reply::ToolCalls(calls) => {
            // Ids unique across the whole fake, as real servers make them.
            let n = call;
            let tool_calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({"id": format!("call_{n}_{i}"), "type": "function",
                           "function": {"name": name, "arguments": args}})
                })
                .collect();
            Json(json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": tool_calls}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }))
            .into_response()
        }
        Reply::Json(body) => Json(body).into_response(),
        // Only embeddings requests reach here with it, and `answer` serves those itself.
        Reply::Embeddings => (StatusCode::BAD_REQUEST, "not an embeddings request").into_response(),
        Reply::Stream(pieces) => sse(&pieces, true),
        Reply::StreamCut(pieces) => sse(&pieces, false),
        Reply::Paced(gap, pieces) => {
            let frames = futures::StreamExt::then(futures::stream::iter(sse_frames(&pieces, true)), move |frame| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, std::convert::Infallible>(frame)
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(frames))
                .unwrap()
        }
        Reply::Delayed(d, reply) => {
            tokio::time::sleep(d).await;
            render(*reply, call).await
        }
    }
    })
}

fn sse(pieces: &[String], finish: bool) -> Response {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(sse_frames(pieces, finish).concat()))
        .unwrap()
}

/// The SSE frames of a streamed answer: one per piece, then (when it finishes) the
/// finish reason, the usage and `[DONE]`.
fn sse_frames(pieces: &[String], finish: bool) -> Vec<String> {
    let mut out: Vec<String> = pieces
        .iter()
        .map(|p| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})
            )
        })
        .collect();
    if finish {
        out.push(format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        ));
        out.push(format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": pieces.len()}})
        ));
        out.push("data: [DONE]\n\n".into());
    }
    out
}

/// Words that mean the same to the fake embedder: each group is one concept. Tests build
/// paraphrases from them that share no word (so BM25 cannot match them) yet embed alike.
pub const SYNONYMS: &[&[&str]] = &[
    &[
        "car",
        "cars",
        "automobile",
        "automobiles",
        "vehicle",
        "vehicles",
    ],
    &["production", "output", "manufacturing", "made"],
    &["rose", "climbed", "increased", "grew", "jumped"],
    &["sharply", "steeply", "strongly", "markedly"],
    &["factories", "plants", "works", "mills"],
    &["last", "previous", "prior"],
    &["year", "annum", "twelvemonth"],
];

/// Dimensions of the fake's vectors.
pub const EMBEDDING_DIM: usize = 256;

/// The fake's vector for `text`: a normalised bag of concepts (lowercased words, synonyms
/// mapped to their group's first word, short function words dropped), each hashed (FNV-1a)
/// to one of [`EMBEDDING_DIM`] dimensions. Texts with no concept in common are orthogonal.
pub fn embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0.0_f32; EMBEDDING_DIM];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() > 3 || w.chars().any(|c| c.is_ascii_digit()))
    {
        let concept = SYNONYMS
            .iter()
            .find(|group| group.contains(&word.as_str()))
            .map_or(word.as_str(), |group| group[0]);
        let hash = concept.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        v[(hash % EMBEDDING_DIM as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The OpenAI-shaped answer for an embeddings request (`input`: one string or a list).
fn embeddings_answer(body: &Value) -> Response {
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => return (StatusCode::BAD_REQUEST, "input must be text").into_response(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embedding(t)}))
        .collect();
    Json(json!({
        "object": "list",
        "model": body["model"].as_str().unwrap_or("fake-gte"),
        "data": data,
        "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()},
    }))
    .into_response()
}

/// Pause helper for tests that must let a cooldown elapse.
pub async fn pause(d: Duration) {
    tokio::time::sleep(d).await;
}

/// Give `config` one endpoint per tier (tier `t` → endpoint `t` → model `ep-t`) on `fake`,
/// no retries, the first tier as the default.
pub fn add_tiers(config: &mut dra::config::AppConfig, fake: &FakeLlm, tiers: &[&str]) {
    for tier in tiers {
        config.endpoints.insert(
            tier.to_string(),
            dra::llm::EndpointConfig {
                endpoint_identifier: format!("ep-{tier}"),
                ..dra::llm::EndpointConfig::default()
            },
        );
        config.models.insert(
            tier.to_string(),
            dra::llm::ModelRole {
                endpoints: vec![tier.to_string()],
                max_tokens: 500,
                ..dra::llm::ModelRole::default()
            },
        );
    }
    if let Some(first) = tiers.first() {
        config.default_role = first.to_string();
    }
    config.llm.retries_per_endpoint = 0;
    config.llm.base_url = Some(format!("{}/v1", fake.url));
}

/// A router for a config whose `llm.base_url` points at a fake.
pub fn router(config: &dra::config::AppConfig) -> dra::llm::LlmRouter {
    dra::llm::LlmRouter::from_config(config, || {
        unreachable!("base_url is set; Databricks auth is not used")
    })
    .expect("router")
}
