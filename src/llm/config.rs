//! Model configuration, in the Python original's shape: top-level `default_role`,
//! `endpoints`, `models` (tiers) and `rate_limiting`, plus our `llm` section.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One serving endpoint (`endpoints.<id>` in the file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct EndpointConfig {
    /// The serving endpoint name (Databricks) or model name (OpenAI-compatible servers).
    pub endpoint_identifier: String,
    pub max_context_window: u32,
    pub tokens_per_minute: u32,
    pub supports_structured_output: bool,
    pub supports_temperature: bool,
    pub supports_prompt_caching: bool,
    /// Send the tier's `reasoning_effort` (GPT-5 style endpoints accept it; others may not).
    pub supports_reasoning_effort: bool,
    /// Overrides the tier's `max_tokens` for this endpoint.
    pub max_tokens: Option<u32>,
    /// Overrides the tier's temperature for this endpoint.
    pub temperature: Option<f32>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            endpoint_identifier: String::new(),
            max_context_window: 128_000,
            tokens_per_minute: 50_000,
            supports_structured_output: true,
            supports_temperature: true,
            supports_prompt_caching: false,
            supports_reasoning_effort: false,
            max_tokens: None,
            temperature: None,
        }
    }
}

/// Reasoning effort hint passed to models that support it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
}

/// A model tier (`models.<role>`): an ordered list of endpoints and call options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ModelRole {
    /// Endpoint ids, tried in order.
    pub endpoints: Vec<String>,
    pub temperature: f32,
    pub max_tokens: u32,
    pub reasoning_effort: Option<ReasoningEffort>,
    pub reasoning_budget: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    /// Only `priority` (try in order) is supported.
    pub rotation_strategy: RotationStrategy,
    /// Fall over to the next endpoint when one is rate limited.
    pub fallback_on_429: bool,
}

impl Default for ModelRole {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            temperature: 0.7,
            max_tokens: 8000,
            reasoning_effort: None,
            reasoning_budget: None,
            tokens_per_minute: None,
            rotation_strategy: RotationStrategy::Priority,
            fallback_on_429: true,
        }
    }
}

/// How a tier picks its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStrategy {
    #[default]
    Priority,
}

/// `rate_limiting`: backoff between retries of one endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimiting {
    /// Upper bound on retries of one endpoint; the effective number is the smaller of this
    /// and `llm.retries_per_endpoint`, so the original's `max_retries: 50` cannot stall a
    /// tier for minutes before falling over.
    pub max_retries: u32,
    pub base_delay_seconds: f64,
    pub max_delay_seconds: f64,
    pub backoff_strategy: BackoffStrategy,
    pub jitter: bool,
}

impl Default for RateLimiting {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay_seconds: 1.0,
            max_delay_seconds: 60.0,
            backoff_strategy: BackoffStrategy::Exponential,
            jitter: true,
        }
    }
}

impl RateLimiting {
    pub fn base_delay(&self) -> Duration {
        Duration::from_secs_f64(self.base_delay_seconds.max(0.0))
    }

    pub fn max_delay(&self) -> Duration {
        Duration::from_secs_f64(self.max_delay_seconds.max(0.0))
    }
}

/// `exponential` (base·2ⁿ) or `linear` (base·(n+1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffStrategy {
    #[default]
    Exponential,
    Linear,
}

/// Which Databricks serving API to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServingApi {
    /// `POST {host}/serving-endpoints/chat/completions` with the endpoint as `model`.
    #[default]
    ChatCompletions,
    /// `POST {host}/serving-endpoints/{name}/invocations`.
    Invocations,
}

/// Our `llm` section: where to send requests and how hard to try.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LlmSection {
    /// An OpenAI-compatible base URL (vLLM, Ollama, OpenAI: `https://api.openai.com/v1`).
    /// When set, Databricks serving is not used. Env: `OPENAI_BASE_URL`.
    pub base_url: Option<String>,
    /// The model every endpoint asks `base_url` for (env `OPENAI_MODEL`, `dra research
    /// --model`). Unset: the configured endpoint names if the server lists them all, else
    /// the one model it serves.
    #[serde(deserialize_with = "crate::env::opt_string")]
    pub model: Option<String>,
    /// Key for `base_url` (env `OPENAI_API_KEY`); never printed.
    pub api_key: Option<crate::env::Secret>,
    pub serving_api: ServingApi,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries of one endpoint on 429/5xx/timeouts before falling over.
    pub retries_per_endpoint: u32,
    /// Consecutive failures that open an endpoint's circuit.
    pub circuit_failure_threshold: u32,
    /// How long an open circuit stays open before one probe is allowed.
    #[serde(with = "humantime_serde")]
    pub circuit_cooldown: Duration,
    /// The tokens-per-minute limiter allows bursts of this much time's worth of tokens.
    #[serde(with = "humantime_serde")]
    pub tpm_burst_window: Duration,
}

impl Default for LlmSection {
    fn default() -> Self {
        Self {
            base_url: None,
            model: None,
            api_key: None,
            serving_api: ServingApi::ChatCompletions,
            request_timeout: Duration::from_secs(300),
            retries_per_endpoint: 2,
            circuit_failure_threshold: 3,
            circuit_cooldown: Duration::from_secs(30),
            tpm_burst_window: Duration::from_secs(60),
        }
    }
}

/// `embeddings`: the serving endpoint that embeds evidence for semantic and hybrid
/// relevance (`citation_verification.evidence_preselection.relevance_computation_method`).
/// Requests go where the `llm` section sends chat requests, with the same credentials,
/// retries (`llm.retries_per_endpoint`, `rate_limiting`) and circuit breaker settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct EmbeddingsSection {
    /// The serving endpoint name (Databricks: `databricks-gte-large`) or model name
    /// (OpenAI-compatible servers). Unset or empty: evidence is ranked by keywords alone.
    #[serde(deserialize_with = "crate::env::opt_string")]
    pub endpoint_identifier: Option<String>,
    /// Texts per request (the original's 50).
    pub batch_size: u32,
    /// Requests in flight at once when many texts are embedded.
    pub max_concurrent_requests: u32,
    /// Input tokens per minute the endpoint allows; callers wait for capacity.
    pub tokens_per_minute: u32,
    /// Longest wait for one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for EmbeddingsSection {
    fn default() -> Self {
        Self {
            endpoint_identifier: None,
            batch_size: 50,
            max_concurrent_requests: 4,
            tokens_per_minute: 500_000,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything the router needs, borrowed from `AppConfig`.
#[derive(Debug, Clone, Copy)]
pub struct LlmSettings<'a> {
    pub default_role: &'a str,
    pub endpoints: &'a BTreeMap<String, EndpointConfig>,
    pub models: &'a BTreeMap<String, ModelRole>,
    pub rate_limiting: &'a RateLimiting,
    pub llm: &'a LlmSection,
    pub embeddings: &'a EmbeddingsSection,
}
