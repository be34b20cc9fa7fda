//! Text embeddings from a serving endpoint (Databricks `databricks-gte-large`, or any
//! OpenAI-compatible server), for semantic evidence selection.
//!
//! Requests go through the chat client's machinery: the same HTTP client and credentials
//! ([`Connection`]), retries on 429/5xx with `Retry-After` ([`with_retries`]), a
//! tokens-per-minute bucket and a circuit breaker, so a dead endpoint costs one fast
//! rejection per call while it cools down instead of a round of retries.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::breaker::{Admission, CircuitBreaker};
use super::client::{CallError, EndpointClient};
use super::config::{EmbeddingsSection, LlmSection, LlmSettings, RateLimiting};
use super::limiter::TpmLimiter;
use super::router::{with_retries, Connection};
use super::LlmError;
use crate::databricks::{AuthError, DatabricksAuth};

/// Why an embeddings request gave no vectors. Messages name the endpoint, never a
/// credential; server text in them is scrubbed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbeddingsError {
    /// The request failed after its retries (or at once, for a 4xx).
    #[error("embeddings endpoint `{endpoint}`: {error}")]
    Call { endpoint: String, error: CallError },
    /// The endpoint failed repeatedly and is skipped until its cooldown ends.
    #[error("embeddings endpoint `{endpoint}` is cooling down after repeated failures (next try in {:.1}s)", retry_in.as_secs_f64())]
    CoolingDown {
        endpoint: String,
        retry_in: Duration,
    },
    /// The answer does not hold one vector per text.
    #[error("embeddings endpoint `{endpoint}` returned {got} vectors for {expected} texts")]
    Count {
        endpoint: String,
        expected: usize,
        got: usize,
    },
    /// The answer's `index` fields do not number the texts 0..n once each.
    #[error("embeddings endpoint `{endpoint}` returned vector index {index} for {expected} texts")]
    Index {
        endpoint: String,
        index: usize,
        expected: usize,
    },
}

/// A client for one embeddings endpoint. Share it behind an `Arc`.
#[derive(Debug)]
pub struct EmbeddingsClient {
    endpoint: String,
    /// `model` for the request body (OpenAI-compatible servers); none for Databricks
    /// `invocations`, where the path names the endpoint.
    model: Option<String>,
    client: EndpointClient,
    batch_size: usize,
    max_concurrent: usize,
    limiter: TpmLimiter,
    breaker: CircuitBreaker,
    rate: RateLimiting,
    retries: u32,
}

impl EmbeddingsClient {
    /// A client for `embeddings.endpoint_identifier`, or `None` when it is unset (then
    /// `databricks` is not called). Prefer [`super::LlmRouter::embeddings`] next to a
    /// router, which shares its credentials.
    pub fn from_config<'a>(
        config: impl Into<LlmSettings<'a>>,
        databricks: impl FnOnce() -> Result<Arc<DatabricksAuth>, AuthError>,
    ) -> Result<Option<EmbeddingsClient>, LlmError> {
        let config = config.into();
        if config.embeddings.endpoint_identifier.is_none() {
            return Ok(None);
        }
        let connection = Connection::from_config(config, databricks)?;
        Ok(EmbeddingsClient::new(
            config.embeddings,
            config.llm,
            config.rate_limiting,
            &connection,
        ))
    }

    pub(super) fn new(
        e: &EmbeddingsSection,
        llm: &LlmSection,
        rate: &RateLimiting,
        connection: &Connection,
    ) -> Option<EmbeddingsClient> {
        let endpoint = e.endpoint_identifier.clone()?;
        let (url, model) = connection.serving.embeddings_target(&endpoint);
        Some(EmbeddingsClient {
            client: EndpointClient::new(
                connection.http.clone(),
                url,
                connection.credentials.clone(),
                e.request_timeout,
            ),
            model,
            batch_size: (e.batch_size as usize).max(1),
            max_concurrent: (e.max_concurrent_requests as usize).max(1),
            limiter: TpmLimiter::new(e.tokens_per_minute, llm.tpm_burst_window),
            breaker: CircuitBreaker::new(llm.circuit_failure_threshold, llm.circuit_cooldown),
            rate: rate.clone(),
            retries: llm.retries_per_endpoint.min(rate.max_retries),
            endpoint,
        })
    }

    /// The endpoint's name, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One vector per text, in order: `batch_size` texts per request, up to
    /// `max_concurrent_requests` requests at once. Any batch failing fails the call.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingsError> {
        // Futures collected first: a closure inside the stream type trips the compiler's
        // higher-ranked lifetime check when the caller needs the future to be `Send`.
        let requests: Vec<_> = texts
            .chunks(self.batch_size)
            .map(|batch| self.embed_batch(batch))
            .collect();
        let batches: Vec<Vec<Vec<f32>>> = futures::stream::iter(requests)
            .buffered(self.max_concurrent)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    async fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingsError> {
        if let Admission::Rejected { retry_in } = self.breaker.admit() {
            return Err(EmbeddingsError::CoolingDown {
                endpoint: self.endpoint.clone(),
                retry_in,
            });
        }
        let body = EmbeddingsRequest {
            model: self.model.as_deref(),
            input: texts,
        };
        let cost = estimated_tokens(texts);
        let answer = with_retries(&self.rate, self.retries, &self.endpoint, || async {
            self.limiter.acquire(cost).await;
            self.client.post_json::<_, EmbeddingsResponse>(&body).await
        })
        .await;
        let answer = match answer {
            Ok(a) => a,
            Err(error) => {
                self.breaker.failure();
                return Err(EmbeddingsError::Call {
                    endpoint: self.endpoint.clone(),
                    error,
                });
            }
        };
        self.breaker.success();
        tracing::debug!(endpoint = %self.endpoint, texts = texts.len(), "embedded a batch");
        answer.into_vectors(texts.len(), &self.endpoint)
    }
}

/// The request body: OpenAI's embeddings shape, which Databricks `invocations` accepts too.
#[derive(Debug, Serialize)]
struct EmbeddingsRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    input: &'a [&'a str],
}

/// The answer: `{"data": [{"embedding": [...], "index": i}], ...}` (other fields ignored).
#[derive(Debug, Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    /// Position of the input text; servers may answer out of order. Absent: in order.
    #[serde(default)]
    index: Option<usize>,
}

impl EmbeddingsResponse {
    /// The vectors in input order, checked to be exactly one per text.
    fn into_vectors(
        self,
        expected: usize,
        endpoint: &str,
    ) -> Result<Vec<Vec<f32>>, EmbeddingsError> {
        if self.data.len() != expected {
            return Err(EmbeddingsError::Count {
                endpoint: endpoint.to_string(),
                expected,
                got: self.data.len(),
            });
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for (position, item) in self.data.into_iter().enumerate() {
            let index = item.index.unwrap_or(position);
            match slots.get_mut(index) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => {
                    return Err(EmbeddingsError::Index {
                        endpoint: endpoint.to_string(),
                        index,
                        expected,
                    })
                }
            }
        }
        // Every slot is filled: `expected` items, each into a distinct slot below `expected`.
        Ok(slots.into_iter().flatten().collect())
    }
}

/// Tokens a batch will cost, for the rate limiter: about four bytes a token. GTE's own
/// tokenizer is not bundled, and the limiter only needs the order of magnitude.
fn estimated_tokens(texts: &[&str]) -> u32 {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    u32::try_from(bytes / 4 + texts.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `databricks-gte-large` answers on `invocations` (vectors shortened), with the
    /// items out of order as servers are allowed to send them.
    const DATABRICKS_ANSWER: &str = r#"{
        "object": "list",
        "model": "gte-large-en-v1.5",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 0, "embedding": [0.125, 1.0]}
        ],
        "usage": {"prompt_tokens": 9, "total_tokens": 9}
    }"#;

    #[test]
    fn the_databricks_answer_is_read_in_input_order() {
        let answer: EmbeddingsResponse = serde_json::from_str(DATABRICKS_ANSWER).unwrap();
        let vectors = answer.into_vectors(2, "gte").unwrap();
        assert_eq!(vectors, [vec![0.125, 1.0], vec![0.5, -0.25]]);
    }

    #[test]
    fn the_request_is_the_openai_shape_with_model_only_when_named() {
        let input = ["a", "b"];
        let databricks = EmbeddingsRequest {
            model: None,
            input: &input,
        };
        assert_eq!(
            serde_json::to_value(&databricks).unwrap(),
            serde_json::json!({"input": ["a", "b"]})
        );
        let openai = EmbeddingsRequest {
            model: Some("text-embedding-3-small"),
            input: &input,
        };
        assert_eq!(
            serde_json::to_value(&openai).unwrap(),
            serde_json::json!({"model": "text-embedding-3-small", "input": ["a", "b"]})
        );
    }

    #[test]
    fn a_wrong_count_or_a_repeated_index_is_a_typed_error() {
        let one: EmbeddingsResponse =
            serde_json::from_str(r#"{"data": [{"embedding": [1.0], "index": 0}]}"#).unwrap();
        assert!(matches!(
            one.into_vectors(2, "gte"),
            Err(EmbeddingsError::Count {
                expected: 2,
                got: 1,
                ..
            })
        ));
        let twice: EmbeddingsResponse = serde_json::from_str(
            r#"{"data": [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": 0}]}"#,
        )
        .unwrap();
        assert!(matches!(
            twice.into_vectors(2, "gte"),
            Err(EmbeddingsError::Index { index: 0, .. })
        ));
    }
}
