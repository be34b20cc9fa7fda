//! Router overhead per call against a zero-latency fake endpoint: the same request through
//! `LlmRouter` and as a bare reqwest POST; the difference is what routing, token counting,
//! limiting and breakers cost. Results: `bench-results/llm_router.json`.

mod common;
#[allow(dead_code)]
#[path = "../tests/it/support/llm.rs"]
mod fake;
#[path = "../tests/it/support/server.rs"]
mod server;

use std::time::Instant;

use dra::config::AppConfig;
use dra::llm::{EndpointConfig, LlmRequest, LlmRouter, Message, ModelRole};
use serde_json::json;

const CALLS: u32 = 2000;

fn main() -> anyhow::Result<()> {
    common::block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let server = fake::FakeLlm::start().await;
    let mut c = AppConfig::default();
    c.endpoints.insert(
        "a".into(),
        EndpointConfig {
            endpoint_identifier: "ep-a".into(),
            tokens_per_minute: u32::MAX,
            ..EndpointConfig::default()
        },
    );
    c.models.insert(
        "analytical".into(),
        ModelRole {
            endpoints: vec!["a".into()],
            ..ModelRole::default()
        },
    );
    c.llm.base_url = Some(format!("{}/v1", server.url));
    let router = LlmRouter::from_config(&c, || Err(unreachable_auth()))?;
    let messages = vec![
        Message::system("You are a research assistant. Answer briefly."),
        Message::user("What is the capital of France? Explain in one sentence with a citation."),
    ];

    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.url);
    let body = json!({"model": "ep-a", "messages": messages, "max_tokens": 100});
    for _ in 0..100 {
        http.post(&url).json(&body).send().await?.bytes().await?;
        router
            .complete(
                None,
                LlmRequest {
                    messages: messages.clone(),
                    ..LlmRequest::default()
                },
            )
            .await?;
    }

    let started = Instant::now();
    for _ in 0..CALLS {
        http.post(&url).json(&body).send().await?.bytes().await?;
    }
    let raw = started.elapsed() / CALLS;

    let started = Instant::now();
    for _ in 0..CALLS {
        router
            .complete(
                None,
                LlmRequest {
                    messages: messages.clone(),
                    ..LlmRequest::default()
                },
            )
            .await?;
    }
    let routed = started.elapsed() / CALLS;

    let overhead_us = routed.as_secs_f64() * 1e6 - raw.as_secs_f64() * 1e6;
    let result = json!({
        "benchmark": "llm_router",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "calls": CALLS,
        "raw_http_call_us": raw.as_secs_f64() * 1e6,
        "router_call_us": routed.as_secs_f64() * 1e6,
        "router_overhead_us": overhead_us,
        "goal_overhead_us": 1000,
    });
    common::report("llm_router", &result)?;
    Ok(())
}

fn unreachable_auth() -> dra::databricks::AuthError {
    dra::databricks::AuthError::NoCredentials { attempts: vec![] }
}
