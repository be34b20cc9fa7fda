//! The LLM router against a fake serving endpoint on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::llm::{pause, FakeLlm, Reply};
use dra::config::{AppConfig, Secret};
use dra::databricks::{AuthOptions, DatabricksAuth};
use dra::llm::{
    EndpointConfig, LlmError, LlmRequest, LlmRouter, Message, ModelRole, ServingApi, StreamEvent,
    ToolCall, ToolSpec, UsageScope, UsageTotals,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Two endpoints `a` (model ep-a) and `b` (model ep-b) in tier `analytical`, fast retries.
fn config(fake: &FakeLlm) -> AppConfig {
    let mut c = AppConfig::default();
    for (id, model) in [("a", "ep-a"), ("b", "ep-b")] {
        c.endpoints.insert(
            id.into(),
            EndpointConfig {
                endpoint_identifier: model.into(),
                ..EndpointConfig::default()
            },
        );
    }
    c.models.insert(
        "analytical".into(),
        ModelRole {
            endpoints: vec!["a".into(), "b".into()],
            max_tokens: 200,
            ..ModelRole::default()
        },
    );
    c.rate_limiting.base_delay_seconds = 0.01;
    c.rate_limiting.max_delay_seconds = 5.0;
    c.rate_limiting.jitter = false;
    c.llm.retries_per_endpoint = 2;
    c.llm.base_url = Some(format!("{}/v1", fake.url));
    c
}

fn router(c: &AppConfig) -> LlmRouter {
    LlmRouter::from_config(c, || {
        unreachable!("base_url is set; Databricks auth is not used")
    })
    .unwrap()
}

fn ask(text: &str) -> LlmRequest {
    LlmRequest {
        messages: vec![Message::system("You are terse."), Message::user(text)],
        ..LlmRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_then_the_call_succeeds() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-a",
        vec![Reply::Status(429, Some(1)), Reply::Text("fine".into())],
    );
    let r = router(&config(&fake));
    let resp = r.complete(None, ask("hi")).await.unwrap();
    assert_eq!(
        (resp.content.as_str(), resp.endpoint.as_str()),
        ("fine", "a")
    );
    let calls = fake.calls_to("ep-a");
    assert_eq!(calls.len(), 2);
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, Retry-After said 1s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_503_falls_over_to_the_next_endpoint() {
    let fake = FakeLlm::start().await;
    fake.always("ep-a", Reply::Status(503, None));
    fake.always("ep-b", Reply::Text("from b".into()));
    let r = router(&config(&fake));
    let resp = r.complete(Some("analytical"), ask("hi")).await.unwrap();
    assert_eq!(resp.endpoint, "b");
    assert_eq!(fake.calls_to("ep-a").len(), 3, "one call and two retries");
    assert_eq!(fake.calls_to("ep-b").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn all_endpoints_down_is_a_typed_error_naming_them() {
    let fake = FakeLlm::start().await;
    fake.always("ep-a", Reply::Status(503, None));
    fake.always("ep-b", Reply::Status(500, None));
    let err = router(&config(&fake))
        .complete(None, ask("hi"))
        .await
        .unwrap_err();
    let LlmError::AllEndpointsFailed { tier, failures } = &err else {
        panic!("wrong error: {err}");
    };
    assert_eq!(tier, "analytical");
    assert_eq!(
        failures
            .iter()
            .map(|f| f.endpoint.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 503") && msg.contains("HTTP 500"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_request_falls_over_without_retrying() {
    let fake = FakeLlm::start().await;
    fake.always("ep-a", Reply::Status(400, None));
    let resp = router(&config(&fake))
        .complete(None, ask("hi"))
        .await
        .unwrap();
    assert_eq!(resp.endpoint, "b");
    assert_eq!(fake.calls_to("ep-a").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_opens_then_half_opens_for_one_probe() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.llm.circuit_failure_threshold = 1;
    c.llm.circuit_cooldown = Duration::from_millis(400);
    c.llm.retries_per_endpoint = 0;
    fake.script("ep-a", vec![Reply::Status(503, None)]);
    let r = router(&c);
    assert_eq!(r.complete(None, ask("1")).await.unwrap().endpoint, "b");
    assert_eq!(r.complete(None, ask("2")).await.unwrap().endpoint, "b");
    assert_eq!(fake.calls_to("ep-a").len(), 1, "open circuit: a is skipped");
    pause(Duration::from_millis(450)).await;
    assert_eq!(
        r.complete(None, ask("3")).await.unwrap().endpoint,
        "a",
        "the probe succeeds"
    );
    assert_eq!(
        r.complete(None, ask("4")).await.unwrap().endpoint,
        "a",
        "closed again"
    );
}

/// An answer "ok" whose server-reported usage is 10 prompt and `completion` completion
/// tokens.
fn answer_using(completion: u64) -> Reply {
    Reply::Json(serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion},
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_per_minute_limiter_spaces_calls() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    // 6000 tokens/min = 100 tokens/s; a 1 s burst window holds 100 tokens. Each call
    // really uses 100 tokens, so after the first each waits about a second.
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.tokens_per_minute = 6000;
    }
    c.llm.tpm_burst_window = Duration::from_secs(1);
    fake.always("ep-a", answer_using(90));
    let r = router(&c);
    for i in 0..3 {
        let req = LlmRequest {
            max_tokens: Some(90),
            ..ask(&format!("call {i}"))
        };
        r.complete(None, req).await.unwrap();
    }
    let calls = fake.calls_to("ep-a");
    assert_eq!(calls.len(), 3);
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(800),
            "calls only {gap:?} apart"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tier_budget_spaces_calls_across_its_endpoints() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    if let Some(m) = c.models.get_mut("analytical") {
        m.tokens_per_minute = Some(6000);
    }
    c.llm.tpm_burst_window = Duration::from_secs(1);
    fake.always("ep-a", Reply::Status(400, None));
    fake.always("ep-b", answer_using(90));
    let r = router(&c);
    for i in 0..2 {
        let req = LlmRequest {
            max_tokens: Some(90),
            ..ask(&format!("call {i}"))
        };
        r.complete(None, req).await.unwrap();
    }
    // a fails at once and b answers; each attempt draws on the tier's one bucket.
    let calls = fake.calls();
    let gap = calls[2].at - calls[1].at;
    assert!(
        gap >= Duration::from_millis(800),
        "second call's first attempt only {gap:?} after the first answer"
    );
}

/// The shipped config's shape: 50,000 tokens a minute, 8,000 tokens of output allowed, a
/// 10 s burst window (8,333 tokens).
fn shipped_limits(fake: &FakeLlm) -> AppConfig {
    let mut c = config(fake);
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.tokens_per_minute = 50_000;
    }
    if let Some(m) = c.models.get_mut("analytical") {
        m.max_tokens = 8_000;
    }
    c.llm.tpm_burst_window = Duration::from_secs(10);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn short_calls_do_not_wait_for_output_they_never_use() {
    let fake = FakeLlm::start().await;
    let r = router(&shipped_limits(&fake));
    // Ten calls of about 40 tokens each are 400 of 8,333. Reserving the 8,000 output
    // tokens each call may use, every call after the first waited ~10 s.
    let ten = async {
        for i in 0..10 {
            r.complete(None, ask(&format!("short call {i}")))
                .await
                .unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ten)
        .await
        .expect("ten short calls were held back by the tokens-per-minute limiter");
    assert_eq!(fake.calls_to("ep-a").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_used_more_than_it_reserved_makes_the_next_one_wait() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    // 60,000 tokens/min = 1,000 tokens/s, and a 1 s bucket of 1,000 tokens. The first
    // call reserves its prompt and at most 200 output tokens, but the server reports 3,000:
    // the bucket owes 2,000 and the next call waits until it is paid.
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.tokens_per_minute = 60_000;
    }
    c.llm.tpm_burst_window = Duration::from_secs(1);
    fake.script("ep-a", vec![answer_using(2_990)]);
    let r = router(&c);
    r.complete(None, ask("a long answer please")).await.unwrap();
    r.complete(None, ask("and a short one")).await.unwrap();
    let calls = fake.calls_to("ep-a");
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "the next call went out {gap:?} after one that overspent by 2,000 tokens"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_empties_the_bucket_so_the_retry_waits_for_a_refill() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    // 60,000 tokens/min = 1,000 tokens/s; a 10 s bucket holds 10,000, far more than a call
    // reserves (its prompt and 200 output tokens). The server's 429 says otherwise, so the
    // bucket is emptied and the retry, though Retry-After is 0, waits for the ~220 tokens
    // it reserves to refill (~0.22 s).
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.tokens_per_minute = 60_000;
    }
    fake.script(
        "ep-a",
        vec![Reply::Status(429, Some(0)), Reply::Text("fine".into())],
    );
    let r = router(&c);
    let resp = r.complete(None, ask("hi")).await.unwrap();
    assert_eq!(resp.content, "fine");
    let calls = fake.calls_to("ep-a");
    assert_eq!(calls.len(), 2, "the 429 was retried on the same endpoint");
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(200),
        "retried {gap:?} after the 429, before the emptied bucket could refill"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_deltas_are_assembled_and_a_cut_stream_is_retried() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-a",
        vec![
            Reply::StreamCut(vec!["par".into(), "tial".into()]),
            Reply::Stream(vec!["Hel".into(), "lo ".into(), "world".into()]),
        ],
    );
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink_events = events.clone();
    let req = LlmRequest {
        stream: Some(Arc::new(move |ev: StreamEvent<'_>| {
            sink_events.lock().unwrap().push(match ev {
                StreamEvent::Delta(t) => t.to_string(),
                StreamEvent::Restart => "<restart>".into(),
            })
        })),
        ..ask("stream please")
    };
    let resp = router(&config(&fake)).complete(None, req).await.unwrap();
    assert_eq!(resp.content, "Hello world");
    assert_eq!(
        resp.usage.completion_tokens, 3,
        "usage from the final chunk"
    );
    assert_eq!(
        *events.lock().unwrap(),
        ["par", "tial", "<restart>", "Hel", "lo ", "world"]
    );
    let calls = fake.calls_to("ep-a");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].body["stream"], true);
    assert_eq!(calls[1].body["stream_options"]["include_usage"], true);
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Verdict {
    decision: String,
    confidence: f64,
}

#[tokio::test(flavor = "multi_thread")]
async fn structured_output_uses_response_format_or_an_instruction() {
    let fake = FakeLlm::start().await;
    fake.always(
        "ep-a",
        Reply::Text(r#"{"decision":"continue","confidence":0.8}"#.into()),
    );
    let mut c = config(&fake);
    let r = router(&c);
    let out = r
        .complete_json::<Verdict>(None, vec![Message::user("decide")])
        .await
        .unwrap();
    assert_eq!(out.value.decision, "continue");
    assert!(!out.reasked);
    let body = &fake.calls_to("ep-a")[0].body;
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(
        body["response_format"]["json_schema"]["schema"]["properties"]["confidence"].is_object()
    );

    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.supports_structured_output = false;
    }
    let r = router(&c);
    r.complete_json::<Verdict>(None, vec![Message::user("decide")])
        .await
        .unwrap();
    let body = &fake.calls_to("ep-a")[1].body;
    assert!(body.get("response_format").is_none());
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("JSON Schema") && system.contains("confidence"),
        "{system}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_structured_output_is_reasked_once_then_a_typed_error() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-a",
        vec![
            Reply::Text(r#"{"decision": 7, "confidence": "high"}"#.into()),
            Reply::Text("```json\n{\"decision\":\"complete\",\"confidence\":0.9,}\n```".into()),
        ],
    );
    let r = router(&config(&fake));
    let out = r
        .complete_json::<Verdict>(None, vec![Message::user("decide")])
        .await
        .unwrap();
    assert!(out.reasked);
    assert_eq!(
        out.value,
        Verdict {
            decision: "complete".into(),
            confidence: 0.9
        }
    );
    let reask = &fake.calls_to("ep-a")[1].body["messages"];
    let last = reask.as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.contains("not valid") && last.contains("/decision"),
        "{last}"
    );

    fake.always("ep-a", Reply::Text("I'd rather not.".into()));
    let err = r
        .complete_json::<Verdict>(None, vec![Message::user("decide")])
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::StructuredOutput { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prompts_over_the_context_window_are_trimmed_not_sent_to_fail() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.max_context_window = 2048;
    }
    let huge = format!(
        "QUESTION START {} QUESTION END",
        "evidence sentence number. ".repeat(4000)
    );
    let resp = router(&c).complete(None, ask(&huge)).await.unwrap();
    assert!(
        resp.trimmed_tokens > 10_000,
        "trimmed {}",
        resp.trimmed_tokens
    );
    let sent = fake.calls_to("ep-a")[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dra::llm::tokens::count(&sent) < 2048 - 200);
    assert!(
        sent.starts_with("QUESTION START")
            && sent.ends_with("QUESTION END")
            && sent.contains("tokens trimmed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_offered_and_tool_calls_come_back_without_content() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-a",
        vec![
            Reply::tools(&[("lookup", serde_json::json!({"key": "k"}))]),
            Reply::Text("done".into()),
        ],
    );
    let r = router(&config(&fake));
    let tool = ToolSpec {
        name: "lookup".into(),
        description: "Look a key up.".into(),
        parameters: serde_json::json!({"type": "object", "properties": {"key": {"type": "string"}}}),
    };
    let first = r
        .complete(
            None,
            LlmRequest {
                tools: vec![tool.clone()],
                ..ask("find k")
            },
        )
        .await
        .expect("a tool-only answer is an answer");
    assert_eq!(first.content, "");
    assert_eq!(first.tool_calls.len(), 1);
    let call = &first.tool_calls[0];
    assert_eq!(call.function.name, "lookup");
    assert_eq!(call.function.arguments, r#"{"key":"k"}"#);

    let mut messages = ask("find k").messages;
    messages.push(Message::assistant_tool_calls("", first.tool_calls.clone()));
    messages.push(Message::tool(call.id.clone(), "k = 42"));
    let second = r
        .complete(
            None,
            LlmRequest {
                messages,
                tools: vec![tool],
                ..LlmRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.content, "done");
    assert!(second.tool_calls.is_empty());

    let calls = fake.calls_to("ep-a");
    assert_eq!(calls[0].body["tools"][0]["function"]["name"], "lookup");
    let sent = &calls[1].body["messages"];
    assert_eq!(sent[2]["tool_calls"][0]["id"], serde_json::json!(call.id));
    assert_eq!(sent[3]["role"], "tool");
    assert_eq!(sent[3]["tool_call_id"], serde_json::json!(call.id));
    // Plain requests are unchanged: no `tools` key at all.
    r.complete(None, ask("plain")).await.unwrap();
    assert!(fake.calls_to("ep-a")[2].body.get("tools").is_none());
}

#[test]
fn tool_calls_and_definitions_count_toward_the_prompt() {
    use dra::llm::tokens;
    let plain = vec![
        Message::user("q"),
        Message::assistant_tool_calls("", Vec::new()),
    ];
    let args = r#"{"query": "river delta wetland loss rates since 1990"}"#;
    let with_call = vec![
        Message::user("q"),
        Message::assistant_tool_calls("", vec![ToolCall::function("c1", "web_search", args)]),
    ];
    assert!(
        tokens::count_messages(&with_call) >= tokens::count_messages(&plain) + tokens::count(args)
    );
    let tool = ToolSpec {
        name: "web_search".into(),
        description: "Search the web for pages about a query.".into(),
        parameters: serde_json::json!({"type": "object"}),
    };
    assert_eq!(tokens::count_tools(&[]), 0);
    assert!(tokens::count_tools(&[tool]) > 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_compatible_servers_get_their_key_and_model_name() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.llm.api_key = Some(Secret("sk-test-123".to_string().into()));
    if let Some(ep) = c.endpoints.get_mut("a") {
        ep.supports_temperature = false;
    }
    router(&c).complete(None, ask("hi")).await.unwrap();
    let call = &fake.calls_to("ep-a")[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(call.authorization.as_deref(), Some("Bearer sk-test-123"));
    assert!(
        call.body.get("temperature").is_none(),
        "temperature unsupported on this endpoint"
    );
    assert_eq!(call.body["max_tokens"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn databricks_serving_uses_the_shared_auth() {
    let fake = FakeLlm::start().await;
    let mut c = config(&fake);
    c.llm.base_url = None;
    let env: HashMap<String, String> = [
        ("DATABRICKS_HOST", fake.url.as_str()),
        ("DATABRICKS_TOKEN", "dapi-llm-test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let auth = || DatabricksAuth::resolve(&AuthOptions::default(), &env).map(Arc::new);
    LlmRouter::from_config(&c, auth)
        .unwrap()
        .complete(None, ask("hi"))
        .await
        .unwrap();
    let call = &fake.calls_to("ep-a")[0];
    assert_eq!(call.path, "/serving-endpoints/chat/completions");
    assert_eq!(call.authorization.as_deref(), Some("Bearer dapi-llm-test"));

    c.llm.serving_api = ServingApi::Invocations;
    let auth = || DatabricksAuth::resolve(&AuthOptions::default(), &env).map(Arc::new);
    LlmRouter::from_config(&c, auth)
        .unwrap()
        .complete(None, ask("hi"))
        .await
        .unwrap();
    let call = fake.calls_to("ep-a").pop().unwrap();
    assert_eq!(call.path, "/serving-endpoints/ep-a/invocations");
    assert!(call.body.get("model").is_none());

    let no_creds = LlmRouter::from_config(&c, || {
        DatabricksAuth::resolve(&AuthOptions::default(), &HashMap::new()).map(Arc::new)
    });
    let msg = no_creds.unwrap_err().to_string();
    assert!(
        msg.contains("OPENAI_BASE_URL") && msg.contains("DATABRICKS_HOST"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_recorded_per_tier_and_endpoint_and_unknown_tiers_are_errors() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-a",
        vec![
            Reply::Status(500, None),
            Reply::Status(500, None),
            Reply::Status(500, None),
        ],
    );
    let r = router(&config(&fake));
    r.complete(None, ask("1")).await.unwrap();
    r.complete(None, ask("2")).await.unwrap();
    let usage = r.usage();
    let b = usage.iter().find(|u| u.endpoint == "b").unwrap();
    let a = usage.iter().find(|u| u.endpoint == "a").unwrap();
    assert_eq!(
        (
            b.tier.as_str(),
            b.calls,
            b.prompt_tokens,
            b.completion_tokens
        ),
        ("analytical", 1, 11, 7)
    );
    assert_eq!(a.calls, 1);

    let err = r
        .complete(Some("nonexistent"), ask("x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown model tier `nonexistent`") && err.contains("analytical"),
        "{err}"
    );
    let empty = LlmRouter::from_config(&AppConfig::default(), || unreachable!()).unwrap_err();
    assert!(matches!(empty, LlmError::NotConfigured(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_usage_scope_counts_its_own_calls_and_enclosing_scopes_count_them_too() {
    let fake = FakeLlm::start().await;
    let r = router(&config(&fake));
    let (run, verification, other, composed) = (
        UsageScope::new(),
        UsageScope::new(),
        UsageScope::new(),
        UsageScope::new(),
    );
    // Two "runs" interleaved in one task on one router; the first has a sub-scope.
    let first = run.enter(async {
        r.complete(None, ask("run")).await.unwrap();
        verification
            .enter(async {
                r.complete(None, ask("verify 1")).await.unwrap();
                r.complete(None, ask("verify 2")).await.unwrap();
            })
            .await;
        // Entering a scope already in effect does not count its calls twice.
        run.enter(r.complete(None, ask("again"))).await.unwrap();
    });
    let second = other.enter(r.complete(None, ask("other")));
    let (_, answer) = tokio::join!(first, second);
    answer.unwrap();
    // A scope built inside-out still nests: the inner one is set up when first polled.
    run.enter(composed.enter(r.complete(None, ask("composed"))))
        .await
        .unwrap();

    let each = |calls: u64| UsageTotals {
        calls,
        prompt_tokens: 11 * calls,
        completion_tokens: 7 * calls,
    };
    assert_eq!(run.totals(), each(5));
    assert_eq!(verification.totals(), each(2));
    assert_eq!(other.totals(), each(1));
    assert_eq!(composed.totals(), each(1));
    assert_eq!(run.tokens(), 5 * 18);
    let rows = run.usage();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].tier.as_str(),
            rows[0].endpoint.as_str(),
            rows[0].calls
        ),
        ("analytical", "a", 5)
    );
    // The process-wide ledger still has every call, scoped or not.
    r.complete(None, ask("unscoped")).await.unwrap();
    assert_eq!(r.tokens_used(), 7 * 18);
    assert_eq!(fake.calls().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spawned_task_counts_in_a_scope_only_when_it_carries_the_scope() {
    let fake = FakeLlm::start().await;
    let r = Arc::new(router(&config(&fake)));
    let scope = UsageScope::new();
    scope
        .enter(async {
            let carried = {
                let r = Arc::clone(&r);
                tokio::spawn(UsageScope::carry(async move {
                    r.complete(None, ask("carried")).await
                }))
            };
            // tokio::spawn does not inherit task-locals: this call is outside the scope.
            let bare = {
                let r = Arc::clone(&r);
                tokio::spawn(async move { r.complete(None, ask("bare")).await })
            };
            carried.await.unwrap().unwrap();
            bare.await.unwrap().unwrap();
        })
        .await;
    assert_eq!(scope.totals().calls, 1);
    assert_eq!(scope.tokens(), 18);
    assert_eq!(r.tokens_used(), 36);
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_models_lists_tiers_and_checks_each_endpoint_once() {
    let fake = FakeLlm::start().await;
    let base = format!("{}/v1", fake.url);
    let out = crate::support::Dra::new(["models"])
        .env("OPENAI_BASE_URL", &base)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout.contains("analytical") && out.stdout.contains("test-strong"),
        "{}",
        out.stdout
    );
    assert!(fake.calls().is_empty(), "no calls without --check");

    fake.always("test-strong", Reply::Status(503, None));
    let out = crate::support::Dra::new(["models", "--check", "--json"])
        .env("OPENAI_BASE_URL", &base)
        .run()
        .await;
    assert_eq!(out.code, 10, "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let strong = rows.iter().find(|r| r["endpoint"] == "strong").unwrap();
    assert_eq!(strong["ok"], false);
    assert!(strong["error"].as_str().unwrap().contains("HTTP 503"));
    let fast = rows.iter().find(|r| r["endpoint"] == "fast").unwrap();
    assert_eq!(fast["ok"], true);
    assert_eq!(
        fake.calls_to("test-fast").len(),
        1,
        "shared endpoints are probed once"
    );

    let out = crate::support::Dra::new(["models"]).run().await;
    assert_eq!(
        out.code, 4,
        "no Databricks credentials and no base URL: {out:?}"
    );
    assert!(out.stderr.contains("OPENAI_BASE_URL"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_go_through_http_proxy_when_set() {
    // The fake answers absolute-form proxy requests too, so it can stand in for a proxy.
    let proxy = FakeLlm::start().await;
    let out = crate::support::Dra::new(["models", "--check"])
        .env("OPENAI_BASE_URL", "http://llm.invalid/v1")
        .env("HTTP_PROXY", &proxy.url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(proxy.calls_to("test-fast").len(), 1);
}

/// The shipped configuration, as `make install` puts it in the binary.
const SHIPPED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml");

#[tokio::test(flavor = "multi_thread")]
async fn a_local_server_that_knows_only_its_own_model_runs_the_shipped_config() {
    let w = crate::support::world::Fakes::start().await;
    crate::support::schema_llm::SchemaModel::plain(18).serve(&w.llm, &["qwen3:4b"]);
    w.llm.only_knows(&["qwen3:4b"]);
    // The shipped file as it is, but for fetching from loopback, where the fake pages live.
    let shipped = std::fs::read_to_string(SHIPPED_CONFIG).unwrap();
    assert!(shipped.contains("allow_private_addresses: false"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("app.yaml");
    std::fs::write(
        &config,
        shipped.replace(
            "allow_private_addresses: false",
            "allow_private_addresses: true",
        ),
    )
    .unwrap();
    // The schema-driven fake's coordinator may pick a direct answer; a report is asked for.
    let out = w
        .dra([
            "research",
            "--no-clarify",
            "--mode",
            "deep-research",
            "How fast are deltas losing wetlands?",
        ])
        .env("APP_CONFIG_PATH", &config)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("using model qwen3:4b, the one model"),
        "{}",
        out.stderr
    );
    assert!(
        regex::Regex::new(r"\[\d+\]").unwrap().is_match(&out.stdout)
            && out.stdout.contains("## References"),
        "a cited report: {}\n{}",
        out.stdout,
        out.stderr
    );
    let calls = w.llm.calls();
    assert!(!calls.is_empty());
    let others: Vec<&str> = calls
        .iter()
        .map(|c| c.model.as_str())
        .filter(|m| *m != "qwen3:4b")
        .collect();
    assert!(
        others.is_empty(),
        "asked for models it does not serve: {others:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_with_several_models_needs_one_chosen() {
    let fake = FakeLlm::start().await;
    fake.only_knows(&["llama3.2", "qwen3:4b"]);
    let base = format!("{}/v1", fake.url);
    let out = crate::support::Dra::new(["models", "--check"])
        .env("OPENAI_BASE_URL", &base)
        .env("APP_CONFIG_PATH", SHIPPED_CONFIG)
        .run()
        .await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("serves 2 models")
            && out.stderr.contains("llama3.2, qwen3:4b")
            && out.stderr.contains("OPENAI_MODEL")
            && out.stderr.contains("--model"),
        "{}",
        out.stderr
    );
    assert!(
        fake.calls().is_empty(),
        "nothing sent before a model is chosen"
    );

    let out = crate::support::Dra::new(["models", "--check"])
        .env("OPENAI_BASE_URL", &base)
        .env("OPENAI_MODEL", "llama3.2")
        .env("APP_CONFIG_PATH", SHIPPED_CONFIG)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!fake.calls_to("llama3.2").is_empty());
    assert!(fake.calls().iter().all(|c| c.model == "llama3.2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn research_model_flag_names_the_model_for_every_tier() {
    let w = crate::support::world::Fakes::start().await;
    crate::support::schema_llm::SchemaModel::plain(19).serve(&w.llm, &["mistral-small"]);
    // A server without a model list: the flag is the only way to name the model.
    let out = w
        .dra([
            "research",
            "--no-clarify",
            "--model",
            "mistral-small",
            "How fast are deltas losing wetlands?",
        ])
        .env("APP_CONFIG_PATH", SHIPPED_CONFIG)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let calls = w.llm.calls();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.model == "mistral-small"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_model_server_configured_an_ollama_on_its_port_is_used() {
    let fake = FakeLlm::start().await;
    fake.only_knows(&["llama3.2"]);
    let host = fake.url.trim_start_matches("http://").to_string();
    let out = crate::support::Dra::new(["models", "--check"])
        .env("OLLAMA_HOST", &host)
        .env("APP_CONFIG_PATH", SHIPPED_CONFIG)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("using Ollama at http://{host}/v1"))
            && out.stderr.contains("using model llama3.2"),
        "{}",
        out.stderr
    );
    assert!(!fake.calls_to("llama3.2").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_nothing_to_talk_to_the_error_lists_every_option_in_order() {
    let out = crate::support::Dra::new(["research", "q"])
        .env("APP_CONFIG_PATH", SHIPPED_CONFIG)
        .run()
        .await;
    assert_eq!(out.code, 4, "{out:?}");
    let at = |s: &str| {
        out.stderr
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} missing: {}", out.stderr))
    };
    assert!(at("OPENAI_BASE_URL is not set") < at("2. Databricks serving"));
    assert!(at("2. Databricks serving") < at("3. Ollama at http://127.0.0.1:1/v1"));
    assert!(out.stderr.contains("OPENAI_MODEL"), "{}", out.stderr);
}
