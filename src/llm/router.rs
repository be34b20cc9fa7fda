//! Tier routing: each tier is an ordered list of endpoints. A call goes to the first
//! endpoint whose circuit is closed, waits for tokens-per-minute capacity, retries transient
//! failures with backoff (honouring `Retry-After`), then falls over to the next endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use tracing::{Instrument, Span};

use super::breaker::{Admission, CircuitBreaker};
use super::client::{CallError, Completion, Credentials, DeltaSink, EndpointClient, StreamEvent};
use super::config::{
    BackoffStrategy, EmbeddingsSection, EndpointConfig, LlmSection, LlmSettings, ModelRole,
    RateLimiting, ServingApi,
};
use super::embeddings::EmbeddingsClient;
use super::limiter::{CompletionEstimate, TpmLimiter};
use super::tokens;
use super::usage::{record_in_scopes, UsageLedger, UsageRow};
use super::wire::{ChatRequest, Message, Role, ToolCall, ToolSpec, Usage};
use super::LlmError;
use crate::databricks::{AuthError, DatabricksAuth};

/// Where requests go.
#[derive(Debug, Clone)]
pub(super) enum Serving {
    /// An OpenAI-compatible server: `{base}/chat/completions`, model in the body.
    OpenAi { base: String },
    /// Databricks model serving under `{host}/serving-endpoints`.
    Databricks { host: String, api: ServingApi },
}

impl Serving {
    /// The URL for an endpoint and the `model` to put in the body, if any.
    fn target(&self, ep: &EndpointConfig) -> (String, Option<String>) {
        match self {
            Serving::OpenAi { base } => (
                format!("{base}/chat/completions"),
                Some(ep.endpoint_identifier.clone()),
            ),
            Serving::Databricks {
                host,
                api: ServingApi::ChatCompletions,
            } => (
                format!("{host}/serving-endpoints/chat/completions"),
                Some(ep.endpoint_identifier.clone()),
            ),
            Serving::Databricks {
                host,
                api: ServingApi::Invocations,
            } => (
                format!(
                    "{host}/serving-endpoints/{}/invocations",
                    ep.endpoint_identifier
                ),
                None,
            ),
        }
    }

    /// The URL for the embeddings endpoint `name` and the `model` to put in the body, if
    /// any. Databricks serves embeddings only at the endpoint's own `invocations` path.
    pub(super) fn embeddings_target(&self, name: &str) -> (String, Option<String>) {
        match self {
            Serving::OpenAi { base } => (format!("{base}/embeddings"), Some(name.to_string())),
            Serving::Databricks { host, .. } => {
                (format!("{host}/serving-endpoints/{name}/invocations"), None)
            }
        }
    }
}

/// What every endpoint client of one configuration shares: the HTTP client (one
/// connection pool), where requests go, and the credentials (one token cache).
#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub(super) http: reqwest::Client,
    pub(super) serving: Serving,
    pub(super) credentials: Credentials,
}

impl Connection {
    /// With `llm.base_url` set, an OpenAI-compatible server; otherwise Databricks serving
    /// with `databricks()`'s auth.
    pub(super) fn from_config(
        s: LlmSettings<'_>,
        databricks: impl FnOnce() -> Result<Arc<DatabricksAuth>, AuthError>,
    ) -> Result<Connection, LlmError> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("dra/", env!("CARGO_PKG_VERSION")));
        let local = s
            .llm
            .base_url
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok());
        if local.is_some_and(|u| crate::web::is_loopback(&u)) {
            // A model server on this machine: a proxy cannot reach its ports.
            http = http.no_proxy();
        }
        let http = http
            .build()
            .map_err(|e| LlmError::NotConfigured(format!("HTTP client: {e}")))?;
        let (serving, credentials) = match &s.llm.base_url {
            Some(base) => (
                Serving::OpenAi {
                    base: base.trim_end_matches('/').to_string(),
                },
                Credentials::ApiKey(
                    s.llm
                        .api_key
                        .as_ref()
                        .map(|k| k.0.expose_secret().to_string().into()),
                ),
            ),
            None => {
                let auth = databricks().map_err(|e| {
                    LlmError::Credentials(format!(
                        "{e}\n(or set llm.base_url / OPENAI_BASE_URL to use an OpenAI-compatible server instead of Databricks serving)"
                    ))
                })?;
                (
                    Serving::Databricks {
                        host: auth.host().to_string(),
                        api: s.llm.serving_api,
                    },
                    Credentials::Databricks(auth),
                )
            }
        };
        Ok(Connection {
            http,
            serving,
            credentials,
        })
    }
}

/// A request before it is shaped for a particular endpoint.
#[derive(Clone, Default)]
pub struct LlmRequest {
    pub messages: Vec<Message>,
    /// Overrides the tier's and endpoint's `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Overrides the tier's temperature (ignored by endpoints without temperature support).
    pub temperature: Option<f32>,
    /// Ask for JSON matching this schema.
    pub json_schema: Option<JsonSchemaSpec>,
    /// Stream the answer into this sink. Streamed answers carry text only, so a request
    /// that offers `tools` should not stream.
    pub stream: Option<DeltaSink>,
    /// Functions the model may call instead of answering; none for plain chat.
    pub tools: Vec<ToolSpec>,
}

/// A named JSON schema for structured output.
#[derive(Debug, Clone)]
pub struct JsonSchemaSpec {
    pub name: String,
    pub schema: serde_json::Value,
}

/// An answer and where it came from.
#[derive(Debug, Clone)]
pub struct LlmResponse {
    pub content: String,
    /// The tools the model asked to call; empty when it answered in `content`.
    pub tool_calls: Vec<ToolCall>,
    pub tier: String,
    /// The endpoint id (key under `endpoints`).
    pub endpoint: String,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    /// Prompt tokens removed to fit the context window (0 normally).
    pub trimmed_tokens: usize,
}

/// One endpoint that could not answer, for error messages.
#[derive(Debug, Clone)]
pub struct EndpointFailure {
    pub endpoint: String,
    pub error: String,
}

struct Endpoint {
    id: String,
    config: EndpointConfig,
    client: EndpointClient,
    breaker: CircuitBreaker,
    limiter: TpmLimiter,
    /// What this endpoint's answers usually cost, for reserving before one arrives.
    completion: CompletionEstimate,
}

/// Routes requests to tiers of endpoints. Share it behind an `Arc`.
pub struct LlmRouter {
    endpoints: BTreeMap<String, Endpoint>,
    models: BTreeMap<String, ModelRole>,
    /// Tiers with their own `tokens_per_minute` share one bucket across their endpoints.
    tier_limiters: BTreeMap<String, TpmLimiter>,
    default_role: String,
    rate: RateLimiting,
    retries_per_endpoint: u32,
    usage: UsageLedger,
    /// Tiers forced for named callers (`--model-tier planner=complex`), whatever tier the
    /// caller would pick itself.
    caller_tiers: BTreeMap<String, String>,
    /// Kept for clients of other APIs on the same server ([`LlmRouter::embeddings`]).
    connection: Connection,
    /// The settings an embeddings client is built from.
    embeddings: EmbeddingsSection,
    llm: LlmSection,
}

impl std::fmt::Debug for LlmRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRouter")
            .field("endpoints", &self.endpoints.keys().collect::<Vec<_>>())
            .field("tiers", &self.models.keys().collect::<Vec<_>>())
            .finish()
    }
}

const INSTRUCTION_PREFIX: &str = "Answer with one JSON object and nothing else (no prose, no code fences). It must validate against this JSON Schema:\n";

impl LlmRouter {
    /// Build from configuration. With `llm.base_url` set, requests go to that
    /// OpenAI-compatible server; otherwise to Databricks serving with `databricks()`'s auth.
    pub fn from_config<'a>(
        config: impl Into<LlmSettings<'a>>,
        databricks: impl FnOnce() -> Result<Arc<DatabricksAuth>, AuthError>,
    ) -> Result<LlmRouter, LlmError> {
        let s = config.into();
        if s.models.is_empty() {
            return Err(LlmError::NotConfigured(
                "no model tiers configured: add `endpoints` and `models` sections to the config file (config/app.yaml has the defaults)".into(),
            ));
        }
        Self::build(s, Connection::from_config(s, databricks)?)
    }

    fn build(s: LlmSettings<'_>, connection: Connection) -> Result<LlmRouter, LlmError> {
        let Connection {
            http,
            serving,
            credentials: creds,
        } = &connection;
        let endpoints = s
            .endpoints
            .iter()
            .map(|(id, ep)| {
                let (url, model) = serving.target(ep);
                let mut ep = ep.clone();
                // The model field is filled per request from this, so keep what the target says.
                ep.endpoint_identifier = model.unwrap_or_default();
                (
                    id.clone(),
                    Endpoint {
                        id: id.clone(),
                        client: EndpointClient::new(
                            http.clone(),
                            url,
                            creds.clone(),
                            s.llm.request_timeout,
                        ),
                        breaker: CircuitBreaker::new(
                            s.llm.circuit_failure_threshold,
                            s.llm.circuit_cooldown,
                        ),
                        limiter: TpmLimiter::new(ep.tokens_per_minute, s.llm.tpm_burst_window),
                        completion: CompletionEstimate::default(),
                        config: ep,
                    },
                )
            })
            .collect();
        let tier_limiters = s
            .models
            .iter()
            .filter_map(|(t, m)| {
                m.tokens_per_minute
                    .map(|tpm| (t.clone(), TpmLimiter::new(tpm, s.llm.tpm_burst_window)))
            })
            .collect();
        Ok(LlmRouter {
            endpoints,
            tier_limiters,
            models: s.models.clone(),
            default_role: s.default_role.to_string(),
            rate: s.rate_limiting.clone(),
            // The original's `rate_limiting.max_retries` (often 50) bounds it too.
            retries_per_endpoint: s.llm.retries_per_endpoint.min(s.rate_limiting.max_retries),
            usage: UsageLedger::default(),
            caller_tiers: BTreeMap::new(),
            connection,
            embeddings: s.embeddings.clone(),
            llm: s.llm.clone(),
        })
    }

    /// The client for the `embeddings` endpoint, on this router's server with its HTTP
    /// client and credentials (so a Databricks OAuth token is fetched once for both);
    /// `None` when no embeddings endpoint is configured.
    pub fn embeddings(&self) -> Option<EmbeddingsClient> {
        EmbeddingsClient::new(&self.embeddings, &self.llm, &self.rate, &self.connection)
    }

    /// Token usage so far of every call in this process, per tier and endpoint. One run's
    /// own usage is its [`UsageScope`](super::UsageScope)'s.
    pub fn usage(&self) -> Vec<UsageRow> {
        self.usage.snapshot()
    }

    /// Prompt plus completion tokens of every call so far in this process, all tiers and
    /// endpoints.
    pub fn tokens_used(&self) -> u64 {
        self.usage()
            .iter()
            .map(|u| u.prompt_tokens + u.completion_tokens)
            .sum()
    }

    /// The tier used when a caller names none.
    pub fn default_tier(&self) -> &str {
        &self.default_role
    }

    /// Route every request of `caller` (an agent name) to `tier`.
    pub fn route_caller(&mut self, caller: &str, tier: &str) -> Result<(), LlmError> {
        if !self.models.contains_key(tier) {
            return Err(LlmError::UnknownTier {
                tier: tier.to_string(),
                known: self.models.keys().cloned().collect(),
            });
        }
        self.caller_tiers
            .insert(caller.to_string(), tier.to_string());
        Ok(())
    }

    /// The tier forced for `caller`, if any.
    pub fn caller_tier(&self, caller: &str) -> Option<&str> {
        self.caller_tiers.get(caller).map(String::as_str)
    }

    /// The tier names, in order.
    pub fn tiers(&self) -> Vec<&str> {
        self.models.keys().map(String::as_str).collect()
    }

    /// Each tier with its endpoint ids, in priority order.
    pub fn tier_endpoints(&self) -> Vec<(&str, Vec<&str>)> {
        self.models
            .iter()
            .map(|(t, m)| (t.as_str(), m.endpoints.iter().map(String::as_str).collect()))
            .collect()
    }

    /// Send a one-word prompt straight to one endpoint (no retries, breaker or limiter) and
    /// report how long it took: for checking a setup.
    pub async fn probe(&self, endpoint: &str) -> Result<Duration, CallError> {
        let ep = self
            .endpoints
            .get(endpoint)
            .ok_or_else(|| CallError::Decode(format!("unknown endpoint `{endpoint}`")))?;
        let body = ChatRequest {
            model: Some(ep.config.endpoint_identifier.clone()).filter(|m| !m.is_empty()),
            messages: vec![Message::user("Reply with the single word: ok")],
            max_tokens: 16,
            temperature: None,
            reasoning_effort: None,
            response_format: None,
            stream: false,
            stream_options: None,
            tools: Vec::new(),
        };
        let started = std::time::Instant::now();
        ep.client.call(&body, None).await?;
        Ok(started.elapsed())
    }

    /// Complete `req` on `tier` (the default tier when `None`), in an `llm_<tier>` span
    /// that records the endpoint that answered, token counts, latency and attempts.
    pub async fn complete(
        &self,
        tier: Option<&str>,
        req: LlmRequest,
    ) -> Result<LlmResponse, LlmError> {
        let tier = tier.unwrap_or(&self.default_role);
        let span = super::spans::call(tier, &req.messages);
        let started = Instant::now();
        let attempts = AtomicU32::new(0);
        let result = self
            .route(tier, req, &attempts)
            .instrument(span.clone())
            .await;
        span.record("llm.latency_ms", started.elapsed().as_millis() as u64);
        span.record("llm.attempts", attempts.load(Ordering::Relaxed));
        if let Err(e) = &result {
            if let LlmError::AllEndpointsFailed { failures, .. } = e {
                if let Some(last) = failures.last() {
                    span.record("llm.endpoint", last.endpoint.as_str());
                }
            }
            super::spans::failed(&span, &e.to_string());
        }
        result
    }

    /// Try `tier`'s endpoints in order until one answers.
    async fn route(
        &self,
        tier: &str,
        req: LlmRequest,
        attempts: &AtomicU32,
    ) -> Result<LlmResponse, LlmError> {
        let role = self.models.get(tier).ok_or_else(|| LlmError::UnknownTier {
            tier: tier.to_string(),
            known: self.models.keys().cloned().collect(),
        })?;
        let mut failures = Vec::new();
        for id in &role.endpoints {
            let Some(ep) = self.endpoints.get(id) else {
                failures.push(EndpointFailure {
                    endpoint: id.clone(),
                    error: "not defined under `endpoints`".into(),
                });
                continue;
            };
            if let Admission::Rejected { retry_in } = ep.breaker.admit() {
                failures.push(EndpointFailure {
                    endpoint: id.clone(),
                    error: format!(
                        "cooling down after repeated failures (next probe in {:.1}s)",
                        retry_in.as_secs_f64()
                    ),
                });
                continue;
            }
            let (body, prompt_tokens, trimmed) = match shape(ep, role, &req) {
                Ok(b) => b,
                Err(e) => {
                    failures.push(EndpointFailure {
                        endpoint: id.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let tier_limiter = self.tier_limiters.get(tier);
            match self
                .call_with_retries(
                    ep,
                    tier_limiter,
                    &body,
                    prompt_tokens,
                    req.stream.as_ref(),
                    attempts,
                )
                .await
            {
                Ok(done) => {
                    ep.breaker.success();
                    let (usage, estimated) = usage_of(&done, prompt_tokens);
                    self.usage.record(tier, id, usage, estimated);
                    record_in_scopes(tier, id, usage, estimated);
                    // Recorded once: a field recorded twice is exported twice.
                    let span = Span::current();
                    span.record("llm.endpoint", id.as_str());
                    super::spans::answered(&span, usage, &done.content, &done.tool_calls);
                    span.record("llm.fallovers", failures.len() as u64);
                    return Ok(LlmResponse {
                        content: done.content,
                        tool_calls: done.tool_calls,
                        tier: tier.to_string(),
                        endpoint: id.clone(),
                        usage,
                        finish_reason: done.finish_reason,
                        trimmed_tokens: trimmed,
                    });
                }
                Err(e) => {
                    ep.breaker.failure();
                    tracing::warn!(tier, endpoint = %id, error = %e, "endpoint failed; trying the next one");
                    let stop = matches!(e, CallError::RateLimited { .. }) && !role.fallback_on_429;
                    failures.push(EndpointFailure {
                        endpoint: id.clone(),
                        error: e.to_string(),
                    });
                    if stop {
                        break;
                    }
                }
            }
        }
        Err(LlmError::AllEndpointsFailed {
            tier: tier.to_string(),
            failures,
        })
    }

    async fn call_with_retries(
        &self,
        ep: &Endpoint,
        tier_limiter: Option<&TpmLimiter>,
        body: &ChatRequest,
        prompt_tokens: usize,
        sink: Option<&DeltaSink>,
        attempts: &AtomicU32,
    ) -> Result<Completion, CallError> {
        let emitted = Arc::new(AtomicBool::new(false));
        // Wrap the caller's sink to know whether a retry must tell it to start over.
        let wrapped: Option<DeltaSink> = sink.map(|outer| {
            let outer = outer.clone();
            let emitted = emitted.clone();
            Arc::new(move |ev: StreamEvent<'_>| {
                emitted.store(true, Ordering::Relaxed);
                outer(ev)
            }) as DeltaSink
        });
        with_retries(&self.rate, self.retries_per_endpoint, &ep.id, || async {
            if emitted.swap(false, Ordering::Relaxed) {
                if let Some(s) = sink {
                    s(StreamEvent::Restart);
                }
            }
            // The answer's size is unknown until it arrives: reserve what this endpoint's
            // answers usually cost, then settle with what this one did.
            let estimate = u64::from(ep.completion.tokens(body.max_tokens));
            let cost = (prompt_tokens as u64 + estimate).min(u64::from(u32::MAX)) as u32;
            let tier_reservation = match tier_limiter {
                Some(l) => Some(l.acquire(cost).await),
                None => None,
            };
            let reservation = ep.limiter.acquire(cost).await;
            attempts.fetch_add(1, Ordering::Relaxed);
            let result = ep.client.call(body, wrapped.as_ref()).await;
            let used = match &result {
                Ok(done) => {
                    let (usage, _) = usage_of(done, prompt_tokens);
                    ep.completion.observe(usage.completion_tokens);
                    usage.prompt_tokens + usage.completion_tokens
                }
                // A failed attempt produced no answer; the prompt may have been read.
                Err(_) => prompt_tokens as u64,
            };
            reservation.settle(used);
            if let Some(r) = tier_reservation {
                r.settle(used);
            }
            if let Err(CallError::RateLimited { .. }) = &result {
                // The server's own count says we are over: whatever this process thought
                // was left is not.
                ep.limiter.drain();
                if let Some(l) = tier_limiter {
                    l.drain();
                }
            }
            result
        })
        .await
    }
}

/// Run `op` until it succeeds, fails for good, or `retries` retries are spent: transient
/// failures (429, 5xx, timeouts, broken connections) are retried on `rate`'s schedule,
/// waiting at least the server's `Retry-After` (capped at `rate.max_delay()`).
pub(super) async fn with_retries<T, F, Fut>(
    rate: &RateLimiting,
    retries: u32,
    endpoint: &str,
    op: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let max_delay = rate.max_delay();
    op.retry(backoff(rate, retries))
        .when(CallError::is_transient)
        .adjust(|e, dur| dur.map(|d| e.retry_after().map_or(d, |ra| ra.min(max_delay))))
        .notify(
            |e, after| tracing::info!(endpoint, error = %e, retry_in = ?after, "retrying LLM call"),
        )
        .await
}

/// A completion's usage: the server's count, else (`true`) an estimate from the prompt's
/// size and the answer's text, as for streams whose server sends no usage.
fn usage_of(done: &Completion, prompt_tokens: usize) -> (Usage, bool) {
    match done.usage {
        Some(u) => (u, false),
        None => (
            Usage {
                prompt_tokens: prompt_tokens as u64,
                completion_tokens: tokens::count_answer(&done.content, &done.tool_calls) as u64,
            },
            true,
        ),
    }
}

/// Shape a request for one endpoint: options merged, schema applied, prompt trimmed.
fn shape(
    ep: &Endpoint,
    role: &ModelRole,
    req: &LlmRequest,
) -> Result<(ChatRequest, usize, usize), tokens::Overflow> {
    let window = ep.config.max_context_window;
    let mut max_tokens = req
        .max_tokens
        .or(ep.config.max_tokens)
        .unwrap_or(role.max_tokens);
    // An output budget that leaves no room for the prompt is a config slip; keep a quarter.
    if max_tokens >= window / 2 {
        max_tokens = (window / 4).max(1).min(max_tokens);
    }
    let mut messages = req.messages.clone();
    let mut response_format = None;
    if let Some(spec) = &req.json_schema {
        if ep.config.supports_structured_output {
            response_format = Some(serde_json::json!({
                "type": "json_schema",
                "json_schema": { "name": spec.name, "schema": spec.schema, "strict": false },
            }));
        } else {
            let instruction = format!("{INSTRUCTION_PREFIX}{}", spec.schema);
            match messages.iter_mut().find(|m| m.role == Role::System) {
                Some(sys) => sys.content = format!("{}\n\n{instruction}", sys.content),
                None => messages.insert(0, Message::system(instruction)),
            }
        }
    }
    let margin = (window as usize / 50).max(64);
    // Tool definitions are part of the prompt but cannot be trimmed, so they come off the
    // budget the messages are trimmed to.
    let tool_tokens = tokens::count_tools(&req.tools);
    let budget = (window as usize).saturating_sub(max_tokens as usize + margin + tool_tokens);
    let trimmed = tokens::trim_to_fit(&mut messages, budget)?;
    let prompt_tokens = tokens::count_messages(&messages) + tool_tokens;
    let stream = req.stream.is_some();
    Ok((
        ChatRequest {
            model: Some(ep.config.endpoint_identifier.clone()).filter(|m| !m.is_empty()),
            messages,
            max_tokens,
            temperature: ep.config.supports_temperature.then(|| {
                req.temperature
                    .or(ep.config.temperature)
                    .unwrap_or(role.temperature)
            }),
            reasoning_effort: role
                .reasoning_effort
                .filter(|_| ep.config.supports_reasoning_effort),
            response_format,
            stream,
            stream_options: stream.then(|| serde_json::json!({"include_usage": true})),
            tools: req.tools.clone(),
        },
        prompt_tokens,
        trimmed,
    ))
}

/// The retry schedule from `rate_limiting`, with at most `retries` retries.
fn backoff(rate: &RateLimiting, retries: u32) -> Box<dyn Iterator<Item = Duration> + Send + Sync> {
    let (base, max, jitter) = (rate.base_delay(), rate.max_delay(), rate.jitter);
    match rate.backoff_strategy {
        BackoffStrategy::Exponential => {
            let mut b = ExponentialBuilder::default()
                .with_min_delay(base)
                .with_max_delay(max)
                .with_max_times(retries as usize);
            if jitter {
                b = b.with_jitter();
            }
            Box::new(backon::BackoffBuilder::build(b))
        }
        // backon has no linear schedule; this is its iterator form.
        BackoffStrategy::Linear => Box::new((1..=retries).map(move |n| {
            let d = (base * n).min(max);
            if jitter {
                d + d.mul_f64(fastrand::f64())
            } else {
                d
            }
        })),
    }
}
