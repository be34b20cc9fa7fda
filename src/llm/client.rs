//! One HTTP call to one endpoint: plain or streamed chat completions.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{ChatRequest, ChatResponse, ToolCall, Usage};
use crate::databricks::{AuthError, DatabricksAuth};

/// What a streaming caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// More answer text.
    Delta(&'a str),
    /// The stream broke and the request is being retried: discard the text so far.
    Restart,
}

/// Receives streamed text as it arrives.
pub type DeltaSink = Arc<dyn Fn(StreamEvent<'_>) + Send + Sync>;

/// How a call to one endpoint failed. The router decides whether to retry or fall over.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("rate limited (HTTP 429){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("stream ended before the answer was complete ({received} characters received)")]
    StreamInterrupted { received: usize },
    #[error("unreadable response: {0}")]
    Decode(String),
    #[error("the response has no answer")]
    Empty,
    #[error("credentials: {0}")]
    Auth(String),
}

impl CallError {
    /// Worth retrying on the same endpoint.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::RateLimited { .. }
            | CallError::Timeout(_)
            | CallError::Connect(_)
            | CallError::StreamInterrupted { .. } => true,
            CallError::Status { status, .. } => *status >= 500,
            CallError::Decode(_) | CallError::Empty | CallError::Auth(_) => false,
        }
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

impl From<AuthError> for CallError {
    fn from(e: AuthError) -> Self {
        CallError::Auth(e.to_string())
    }
}

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// The shared Databricks auth (PAT, OAuth M2M, profile).
    Databricks(Arc<DatabricksAuth>),
    /// A bearer key for an OpenAI-compatible server, or none (local servers).
    ApiKey(Option<SecretString>),
}

/// A completed answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub content: String,
    /// The tools the model asked to call (non-streamed answers only), each with an id.
    pub tool_calls: Vec<ToolCall>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
}

/// Sends requests to one URL.
#[derive(Clone, Debug)]
pub struct EndpointClient {
    http: reqwest::Client,
    url: String,
    credentials: Credentials,
    timeout: Duration,
}

impl EndpointClient {
    pub fn new(
        http: reqwest::Client,
        url: String,
        credentials: Credentials,
        timeout: Duration,
    ) -> EndpointClient {
        EndpointClient {
            http,
            url,
            credentials,
            timeout,
        }
    }

    /// Send one request; stream it into `sink` when given.
    pub async fn call(
        &self,
        body: &ChatRequest,
        sink: Option<&DeltaSink>,
    ) -> Result<Completion, CallError> {
        let resp = self.send(body).await?;
        match (body.stream, sink) {
            (true, Some(sink)) => read_stream(resp, sink, self).await,
            _ => {
                let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
                let parsed: ChatResponse =
                    serde_json::from_slice(&bytes).map_err(|e| CallError::Decode(e.to_string()))?;
                let choice = parsed.choices.into_iter().next().ok_or(CallError::Empty)?;
                let message = choice.message.ok_or(CallError::Empty)?;
                let mut tool_calls = message.tool_calls;
                // A turn that only calls tools has no content; one with neither is no answer.
                let content = match message.content {
                    Some(c) => c.into_text(),
                    None if !tool_calls.is_empty() => String::new(),
                    None => return Err(CallError::Empty),
                };
                // The id pairs a call with its result message; a server that left it out
                // still needs distinct ones back.
                for (i, call) in tool_calls.iter_mut().enumerate() {
                    if call.id.is_empty() {
                        call.id = format!("call_{i}");
                    }
                }
                Ok(Completion {
                    content,
                    tool_calls,
                    usage: parsed.usage,
                    finish_reason: choice.finish_reason,
                })
            }
        }
    }

    /// Send `body` and read the whole answer as `T` (non-chat APIs such as embeddings),
    /// with the same authentication and error mapping as [`EndpointClient::call`].
    pub async fn post_json<B, T>(&self, body: &B) -> Result<T, CallError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let resp = self.send(body).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|e| CallError::Decode(e.to_string()))
    }

    /// POST `body` with credentials; a 429 or other non-success status is an error.
    async fn send<B: Serialize + ?Sized>(&self, body: &B) -> Result<reqwest::Response, CallError> {
        let mut req = self.http.post(&self.url).timeout(self.timeout).json(body);
        match &self.credentials {
            Credentials::Databricks(auth) => {
                req = req.bearer_auth(auth.token().await?.expose_secret())
            }
            Credentials::ApiKey(Some(key)) => req = req.bearer_auth(key.expose_secret()),
            Credentials::ApiKey(None) => {}
        }
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(CallError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(CallError::Status {
                status: status.as_u16(),
                message: error_message(&text),
            });
        }
        Ok(resp)
    }

    fn transport(&self, e: reqwest::Error) -> CallError {
        if e.is_timeout() {
            CallError::Timeout(self.timeout)
        } else if e.is_decode() || e.is_body() {
            CallError::StreamInterrupted { received: 0 }
        } else {
            // Where it tried and why (reqwest's own message is only "error sending request");
            // the origin names the server to check without a path or query that could carry
            // anything private.
            let origin = url::Url::parse(&self.url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let e = e.without_url();
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(": ");
                message.push_str(&c.to_string());
                cause = c.source();
            }
            CallError::Connect(format!("{origin}: {message}"))
        }
    }
}

/// Server-sent events: `data: {chunk}` lines, ending with `data: [DONE]`.
async fn read_stream(
    resp: reqwest::Response,
    sink: &DeltaSink,
    client: &EndpointClient,
) -> Result<Completion, CallError> {
    let mut stream = resp.bytes_stream();
    let mut buffer = Vec::new();
    let mut content = String::new();
    let mut usage = None;
    let mut finish_reason = None;
    let mut done = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match client.transport(e) {
            CallError::StreamInterrupted { .. } | CallError::Connect(_) => {
                CallError::StreamInterrupted {
                    received: content.len(),
                }
            }
            other => other,
        })?;
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let parsed: ChatResponse =
                serde_json::from_str(data).map_err(|e| CallError::Decode(e.to_string()))?;
            if let Some(u) = parsed.usage {
                usage = Some(u);
            }
            for choice in parsed.choices {
                if let Some(text) = choice.delta.and_then(|d| d.content).map(|c| c.into_text()) {
                    if !text.is_empty() {
                        sink(StreamEvent::Delta(&text));
                        content.push_str(&text);
                    }
                }
                if choice.finish_reason.is_some() {
                    finish_reason = choice.finish_reason;
                }
            }
        }
    }
    if !done && finish_reason.is_none() {
        return Err(CallError::StreamInterrupted {
            received: content.len(),
        });
    }
    if content.is_empty() {
        return Err(CallError::Empty);
    }
    Ok(Completion {
        content,
        tool_calls: Vec::new(),
        usage,
        finish_reason,
    })
}

/// `Retry-After` in seconds (HTTP dates are rare on these APIs and treated as absent).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The `message` (or `error.message`) of an error body, else its first 200 characters,
/// scrubbed of anything secret-looking.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        v.get("message")
            .or_else(|| v.get("error").and_then(|e| e.get("message")))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    let text = msg.unwrap_or_else(|| body.chars().take(200).collect());
    crate::redact::scrub(&text).into_owned()
}
