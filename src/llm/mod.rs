//! LLM access: an OpenAI-compatible client (Databricks serving or any base URL), tiers with
//! endpoint fallback, retries, circuit breakers, tokens-per-minute limits, prompt trimming,
//! structured output and usage accounting.

mod breaker;
mod client;
mod config;
mod embeddings;
mod limiter;
pub mod local;
mod router;
mod spans;
mod structured;
pub mod tokens;
mod usage;
mod wire;

pub use client::{CallError, DeltaSink, StreamEvent};
pub use config::{
    BackoffStrategy, EmbeddingsSection, EndpointConfig, LlmSection, LlmSettings, ModelRole,
    RateLimiting, ReasoningEffort, RotationStrategy, ServingApi,
};
pub use embeddings::{EmbeddingsClient, EmbeddingsError};
pub use router::{EndpointFailure, JsonSchemaSpec, LlmRequest, LlmResponse, LlmRouter};
pub use structured::{parse as parse_structured, Structured};
pub use usage::{UsageRow, UsageScope, UsageTotals};
pub use wire::{FunctionCall, Message, Role, ToolCall, ToolSpec, Usage};

/// Failures of the LLM layer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("no LLM credentials: {0}")]
    Credentials(String),
    #[error("unknown model tier `{tier}` (configured: {})", known.join(", "))]
    UnknownTier { tier: String, known: Vec<String> },
    #[error("every endpoint of tier `{tier}` failed: {}", failures.iter().map(|f| format!("{}: {}", f.endpoint, f.error)).collect::<Vec<_>>().join("; "))]
    AllEndpointsFailed {
        tier: String,
        failures: Vec<EndpointFailure>,
    },
    #[error("tier `{tier}` (endpoint {endpoint}) gave no valid {type_name} after one re-ask: {error}; answer began: {excerpt:?}")]
    StructuredOutput {
        tier: String,
        endpoint: String,
        type_name: String,
        error: String,
        excerpt: String,
    },
}
