//! Research spans: the original's hierarchy in process, and OTLP export from the binary.

use std::collections::HashMap;

use crate::support::llm::{FakeLlm, Reply};
use crate::support::otlp::FakeCollector;
use crate::support::search::BRAVE_KEY;
use crate::support::world::{Fakes, World as RunWorld};
use crate::support::Dra;
use dra::research::run::{Outcome, RunRequest};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

const DATABRICKS_TOKEN: &str = "dapi0123456789abcdef0123456789abcdef";
const OPENAI_KEY: &str = "sk-test-9f8e7d6c5b4a";
const COLLECTOR_AUTH: &str = "Bearer otlp-secret-5a4b3c2d1e";

fn say(v: Value) -> Reply {
    Reply::Text(v.to_string())
}

/// dra's spans, exported in process through the same filter and layer as the binary's.
struct Recorder {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Recorder {
    /// Record on this thread (a current-thread runtime runs every task here).
    fn install() -> Recorder {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("test"))
                .with_filter(tracing_subscriber::filter::filter_fn(
                    dra::telemetry::is_exported,
                )),
        );
        Recorder {
            _guard: tracing::subscriber::set_default(subscriber),
            provider,
            exporter,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    value(span, key).map(|v| v.to_string())
}

fn value<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// An integer attribute, which must be exported as one (MLflow sums token counts).
fn int(span: &SpanData, key: &str) -> Option<i64> {
    match value(span, key)? {
        opentelemetry::Value::I64(i) => Some(*i),
        other => panic!("{key} of {} is not an integer: {other:?}", span.name),
    }
}

/// A JSON-string attribute (`mlflow.spanInputs`, `mlflow.spanOutputs`), parsed.
fn json_attr(span: &SpanData, key: &str) -> Value {
    let text = attr(span, key).unwrap_or_else(|| panic!("{} has no {key}", span.name));
    assert!(
        text.chars().count() <= 1_000,
        "{key} of {}: {text}",
        span.name
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key} of {}: {e}: {text}", span.name))
}

/// A secret a user pasted into the question: no span may carry it.
const PASTED_KEY: &str = "sk-test-0f1e2d3c4b5a69788796";

/// Nothing of `secret` in any span's name, attributes or status.
fn assert_nowhere(spans: &[SpanData], secret: &str) {
    for span in spans {
        let status = format!("{:?}", span.status);
        assert!(
            !status.contains(secret),
            "{secret} in {}: {status}",
            span.name
        );
        assert!(!span.name.contains(secret));
        for kv in &span.attributes {
            let text = kv.value.to_string();
            assert!(
                !text.contains(secret),
                "{secret} in {}.{}: {text}",
                span.name,
                kv.key
            );
        }
    }
}

fn children<'a>(spans: &'a [SpanData], parent: &SpanData) -> Vec<&'a SpanData> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_context.span_id())
        .collect()
}

fn the_root(spans: &[SpanData]) -> &SpanData {
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == SpanId::INVALID)
        .collect();
    assert_eq!(roots.len(), 1, "one root: {spans:#?}");
    roots[0]
}

/// Script the fakes for a light run of one planned step (of two; the reflector completes).
fn script_light_run(llm: &FakeLlm) {
    llm.script(
        "ep-simple",
        vec![
            say(json!({"mode": "deep_research", "depth": "light", "is_ambiguous": false, "clarifying_questions": [], "reasoning": "broad"})),
            say(json!({"decision": "complete", "reasoning": "Covered.", "suggested_changes": null})),
        ],
    );
    llm.script(
        "ep-analytical",
        vec![
            say(json!({"title": "Deltas", "thought": "t", "steps": [
                {"id": "a", "title": "Loss rates", "description": "d", "step_type": "research", "needs_search": true},
                {"id": "b", "title": "Causes", "description": "why", "step_type": "research", "needs_search": true}
            ]})),
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- Deltas lost a fifth of their wetlands [1].".into()),
        ],
    );
    llm.script(
        "ep-complex",
        vec![Reply::Stream(vec![
            "# Deltas\n\nThey lost a fifth [1]. ".into(),
            "Fast.".into(),
        ])],
    );
}

#[tokio::test]
async fn a_run_records_the_originals_span_tree_with_token_counts_on_each_llm_span() {
    let w = RunWorld::start().await;
    script_light_run(&w.llm);

    let recorder = Recorder::install();
    let chat = uuid::Uuid::new_v4();
    let request = RunRequest {
        user: Some("ana@example.com".into()),
        chat_id: Some(chat),
        ..RunRequest::new(format!(
            "How fast are deltas losing wetlands? My key is {PASTED_KEY}."
        ))
    };
    let (outcome, _) = w.run(&request).await;
    assert!(matches!(outcome, Ok(Outcome::Report(_))), "{outcome:?}");
    let spans = recorder.spans();
    assert_nowhere(&spans, PASTED_KEY);

    let root = the_root(&spans);
    assert_eq!(root.name, "research_orchestration");
    assert_eq!(
        attr(root, "research.session_id"),
        Some(request.session_id.to_string())
    );
    assert_eq!(
        attr(root, "research.message_id"),
        Some(request.message_id.to_string())
    );
    assert_eq!(
        attr(root, "research.user").as_deref(),
        Some("ana@example.com")
    );
    assert_eq!(
        attr(root, "research.mode").as_deref(),
        Some("deep_research")
    );
    assert_eq!(attr(root, "research.depth").as_deref(), Some("light"));
    // What MLflow reads on the root: a CHAIN, whose user and chat (its session).
    assert_eq!(attr(root, "mlflow.spanType").as_deref(), Some("CHAIN"));
    assert_eq!(attr(root, "user.id").as_deref(), Some("ana@example.com"));
    assert_eq!(attr(root, "session.id"), Some(chat.to_string()));
    let question = json_attr(root, "mlflow.spanInputs")["question"].clone();
    assert_eq!(
        question,
        "How fast are deltas losing wetlands? My key is [REDACTED]."
    );
    let out = json_attr(root, "mlflow.spanOutputs");
    assert_eq!(out["outcome"], "report");
    assert!(
        out["report"].as_str().unwrap().starts_with("# Deltas"),
        "{out}"
    );
    assert_eq!(root.status, opentelemetry::trace::Status::Unset);

    let agents = children(&spans, root);
    let mut agent_names: Vec<&str> = agents.iter().map(|s| s.name.as_ref()).collect();
    agent_names.sort();
    assert_eq!(
        agent_names,
        [
            "background_investigation",
            "coordinator",
            "planner",
            "reflector",
            "researcher_step_0",
            "synthesizer"
        ]
    );
    for agent in &agents {
        assert_eq!(
            attr(agent, "mlflow.spanType").as_deref(),
            Some("AGENT"),
            "{}",
            agent.name
        );
        assert_eq!(agent.status, opentelemetry::trace::Status::Unset);
    }
    let step = agents
        .iter()
        .find(|s| s.name == "researcher_step_0")
        .unwrap();
    assert_eq!(attr(step, "step.id").as_deref(), Some("step-1"));
    assert_eq!(attr(step, "step.title").as_deref(), Some("Loss rates"));

    // Under the agents: model calls, with what the fake answered, and the searches and
    // fetches the agents made.
    let agent_of: HashMap<SpanId, &str> = agents
        .iter()
        .map(|s| (s.span_context.span_id(), s.name.as_ref()))
        .collect();
    let mut calls: Vec<(&str, &str, i64, i64)> = Vec::new();
    let mut tools: Vec<(&str, &str)> = Vec::new();
    for span in &spans {
        if span.name == "research_orchestration"
            || agent_of.contains_key(&span.span_context.span_id())
        {
            continue;
        }
        let Some(agent) = agent_of.get(&span.parent_span_id) else {
            panic!("{} is not under an agent span: {span:#?}", span.name);
        };
        if let Some(tier) = span.name.strip_prefix("llm_") {
            assert_eq!(attr(span, "mlflow.spanType").as_deref(), Some("LLM"));
            assert_eq!(attr(span, "llm.tier").as_deref(), Some(tier));
            assert_eq!(
                attr(span, "llm.endpoint").as_deref(),
                Some(tier),
                "the fake config names each endpoint after its tier"
            );
            assert_eq!(attr(span, "llm.attempts").as_deref(), Some("1"));
            assert!(attr(span, "llm.latency_ms").is_some(), "{span:#?}");
            let asked = json_attr(span, "mlflow.spanInputs");
            assert_eq!(asked["messages"][0]["role"], "user", "{asked}");
            let answered = json_attr(span, "mlflow.spanOutputs");
            assert_eq!(answered["role"], "assistant", "{answered}");
            assert!(answered["content"].is_string(), "{answered}");
            calls.push((
                agent,
                tier,
                int(span, "gen_ai.usage.input_tokens").unwrap_or_default(),
                int(span, "gen_ai.usage.output_tokens").unwrap_or_default(),
            ));
            continue;
        }
        assert_eq!(
            attr(span, "mlflow.spanType").as_deref(),
            Some("TOOL"),
            "{span:#?}"
        );
        let (asked, answered) = (
            json_attr(span, "mlflow.spanInputs"),
            json_attr(span, "mlflow.spanOutputs"),
        );
        match span.name.as_ref() {
            "web_search" => {
                assert!(asked["query"].is_string(), "{asked}");
                assert_eq!(answered["hits"], 2, "{answered}");
            }
            "fetch_page" => {
                assert!(
                    asked["url"].as_str().unwrap().starts_with("http"),
                    "{asked}"
                );
                assert!(answered["words"].as_u64().unwrap() > 0, "{answered}");
            }
            other => panic!("an unexpected span {other}"),
        }
        tools.push((agent, span.name.as_ref()));
    }
    calls.sort();
    let text = |agent, tier| (agent, tier, 11, 7);
    assert_eq!(
        calls,
        [
            text("coordinator", "simple"),
            text("planner", "analytical"),
            text("reflector", "simple"),
            text("researcher_step_0", "analytical"),
            text("researcher_step_0", "analytical"),
            // The streamed report: the fake's final usage chunk counts pieces.
            ("synthesizer", "complex", 5, 2),
        ]
    );
    tools.sort();
    assert_eq!(
        tools,
        [
            ("background_investigation", "web_search"),
            ("researcher_step_0", "fetch_page"),
            ("researcher_step_0", "fetch_page"),
            ("researcher_step_0", "web_search"),
        ]
    );

    // The root's totals are the run's: the sum of its model calls.
    let sum = |i: fn(&(&str, &str, i64, i64)) -> i64| calls.iter().map(i).sum::<i64>();
    assert_eq!(int(root, "gen_ai.usage.input_tokens"), Some(sum(|c| c.2)));
    assert_eq!(int(root, "gen_ai.usage.output_tokens"), Some(sum(|c| c.3)));
}

#[tokio::test]
async fn verification_model_calls_hang_under_a_citation_verification_span() {
    let mut w = RunWorld::start().await;
    w.config.citation_verification.enabled = true;
    script_light_run(&w.llm);
    let verdict = |_: &Value| say(json!({"verdict": "supported", "reasoning": "In the evidence."}));
    for model in ["ep-simple", "ep-analytical", "ep-complex"] {
        w.llm.respond(model, verdict);
    }

    let recorder = Recorder::install();
    let (outcome, _) = w
        .run(&RunRequest::new("How fast are deltas losing wetlands?"))
        .await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("{outcome:?}");
    };
    let checks = report.verification.expect("verified").model_calls;
    assert!(checks > 0, "a claim was checked by the model");
    let spans = recorder.spans();
    let root = the_root(&spans);
    let verification: Vec<&SpanData> = children(&spans, root)
        .into_iter()
        .filter(|s| s.name == "citation_verification")
        .collect();
    let [verification] = verification.as_slice() else {
        panic!("one citation_verification span under the root: {spans:#?}");
    };
    assert_eq!(
        attr(verification, "mlflow.spanType").as_deref(),
        Some("AGENT")
    );
    let under = children(&spans, verification);
    assert_eq!(under.len() as u32, checks, "{under:#?}");
    assert!(under.iter().all(
        |s| s.name.starts_with("llm_") && attr(s, "mlflow.spanType").as_deref() == Some("LLM")
    ));
    // No model call hangs straight under the root.
    assert!(children(&spans, root)
        .iter()
        .all(|s| attr(s, "mlflow.spanType").as_deref() == Some("AGENT")));
}

#[tokio::test]
async fn a_failed_run_marks_its_root_and_the_failed_spans_error() {
    let w = RunWorld::start().await;
    w.llm.always("ep-analytical", Reply::Status(400, None));
    w.llm.script(
        "ep-simple",
        vec![say(
            json!({"mode": "web_search", "depth": "light", "reasoning": "quick"}),
        )],
    );
    let recorder = Recorder::install();
    let (outcome, _) = w
        .run(&RunRequest::new(format!("anything {PASTED_KEY}")))
        .await;
    assert!(
        matches!(
            outcome,
            Err(dra::research::run::RunError::NothingFound { failed: 1 })
        ),
        "{outcome:?}"
    );
    let spans = recorder.spans();
    assert_nowhere(&spans, PASTED_KEY);
    let error = |span: &SpanData| match &span.status {
        opentelemetry::trace::Status::Error { description } => description.to_string(),
        other => panic!("{} is not an error: {other:?}", span.name),
    };
    let root = the_root(&spans);
    assert!(
        error(root).contains("no research step produced findings"),
        "{}",
        error(root)
    );
    assert_eq!(json_attr(root, "mlflow.spanOutputs")["outcome"], "error");
    // The root's session is the run's own when it has no chat.
    assert_eq!(attr(root, "session.id"), attr(root, "research.session_id"));
    assert_eq!(attr(root, "user.id"), None);
    let step = spans
        .iter()
        .find(|s| s.name == "researcher_step_0")
        .expect("a step span");
    assert!(error(step).contains("400"), "{}", error(step));
    let call = children(&spans, step)
        .into_iter()
        .find(|s| s.name == "llm_analytical")
        .expect("the step's failed model call");
    assert!(error(call).contains("HTTP 400"), "{}", error(call));
    // The coordinator did its part.
    let coordinator = spans.iter().find(|s| s.name == "coordinator").unwrap();
    assert_eq!(coordinator.status, opentelemetry::trace::Status::Unset);
}

#[tokio::test]
async fn an_llm_span_counts_attempts_and_fallovers_and_marks_failure() {
    let llm = FakeLlm::start().await;
    let mut config = dra::config::AppConfig::default();
    crate::support::llm::add_tiers(&mut config, &llm, &["primary", "backup"]);
    config.models.get_mut("primary").unwrap().endpoints = vec!["primary".into(), "backup".into()];
    llm.always("ep-primary", Reply::Status(500, None));
    let router = crate::support::llm::router(&config);
    let recorder = Recorder::install();
    let ask = || dra::llm::LlmRequest {
        messages: vec![dra::llm::Message::user("hi")],
        ..Default::default()
    };

    router.complete(Some("primary"), ask()).await.unwrap();
    llm.always("ep-backup", Reply::Status(503, None));
    let failed = router.complete(Some("backup"), ask()).await;
    assert!(failed.is_err());

    let spans = recorder.spans();
    let [fell_over, gave_up] = spans.as_slice() else {
        panic!("two llm spans: {spans:#?}");
    };
    assert_eq!(fell_over.name, "llm_primary");
    assert_eq!(attr(fell_over, "llm.endpoint").as_deref(), Some("backup"));
    assert_eq!(attr(fell_over, "llm.fallovers").as_deref(), Some("1"));
    assert_eq!(attr(fell_over, "llm.attempts").as_deref(), Some("2"));
    assert_eq!(int(fell_over, "gen_ai.usage.input_tokens"), Some(11));
    assert_eq!(fell_over.status, opentelemetry::trace::Status::Unset);

    assert_eq!(gave_up.name, "llm_backup");
    assert_eq!(attr(gave_up, "llm.endpoint").as_deref(), Some("backup"));
    assert_eq!(int(gave_up, "gen_ai.usage.input_tokens"), None);
    assert_eq!(attr(gave_up, "mlflow.spanType").as_deref(), Some("LLM"));
    assert!(matches!(
        gave_up.status,
        opentelemetry::trace::Status::Error { .. }
    ));
    let error = attr(gave_up, "error").unwrap_or_default();
    assert!(error.contains("HTTP 503"), "{error}");
}

/// The fakes `dra research` needs, answering a one-step run.
struct World(Fakes);

impl World {
    async fn start() -> World {
        let fakes = Fakes::start().await;
        fakes.script_one_step_run("Deltas");
        World(fakes)
    }

    fn research(&self, flags: &[&str]) -> Dra {
        let question = ["--no-clarify", "How fast are deltas losing wetlands?"];
        self.0
            .dra(["research"].iter().chain(flags).chain(&question))
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("DATABRICKS_TOKEN", DATABRICKS_TOKEN)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn research_exports_its_spans_to_the_otlp_endpoint_without_secrets() {
    let w = World::start().await;
    let collector = FakeCollector::start().await;
    let out = w
        .research(&[])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("x-mlflow-experiment-id=42,authorization={COLLECTOR_AUTH}"),
        )
        // Every library at debug too (a filter, not a bare level): none may log a secret.
        .env("LOG_LEVEL", "debug,dra=debug")
        // An unsaved run's trace names the OS user.
        .env("USER", "ana-cli")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");

    let exports = collector.exports();
    assert!(!exports.is_empty(), "the spans were flushed before exit");
    for export in &exports {
        assert_eq!(export.headers["x-mlflow-experiment-id"], "42");
        assert_eq!(export.headers["authorization"], COLLECTOR_AUTH);
        for secret in [DATABRICKS_TOKEN, OPENAI_KEY, BRAVE_KEY, COLLECTOR_AUTH] {
            assert!(
                !export
                    .body
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret} in the exported spans"
            );
        }
    }
    for secret in ["otlp-secret-5a4b3c2d1e", OPENAI_KEY] {
        assert!(
            !out.stderr.contains(secret),
            "{secret} logged: {}",
            out.stderr
        );
    }

    let spans = collector.spans();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "background_investigation",
            "coordinator",
            "fetch_page",
            "fetch_page",
            "llm_analytical",
            "llm_analytical",
            "llm_analytical",
            "llm_complex",
            "llm_simple",
            "planner",
            "research_orchestration",
            "researcher_step_0",
            "synthesizer",
            "web_search",
            "web_search"
        ]
    );
    assert!(spans
        .iter()
        .all(|s| s.service_name.as_deref() == Some("dra")));
    let root = spans
        .iter()
        .find(|s| s.name == "research_orchestration")
        .unwrap();
    assert_eq!(root.attr("mlflow.spanType"), Some("CHAIN"));
    assert_eq!(root.attr("user.id"), Some("ana-cli"));
    // Unsaved: the run's own session stands for its chat.
    assert!(root.attr("session.id").is_some());
    assert_eq!(root.attr("session.id"), root.attr("research.session_id"));
    let synth = spans.iter().find(|s| s.name == "llm_complex").unwrap();
    assert_eq!(synth.attr("llm.endpoint"), Some("strong"));
    assert_eq!(synth.attr("gen_ai.usage.output_tokens"), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tracing_disabled_in_the_config_file_exports_nothing_despite_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("app.yaml");
    let base = std::fs::read_to_string(crate::support::cli::config_path("app.test.yaml")).unwrap();
    std::fs::write(&config, format!("{base}\ntracing:\n  enabled: false\n")).unwrap();
    let w = World::start().await;
    let collector = FakeCollector::start().await;
    let out = w
        .research(&[])
        .env("APP_CONFIG_PATH", &config)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(collector.exports().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_collector_costs_a_warning_not_the_run() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let w = World::start().await;
    let out = w.research(&["--otlp-endpoint", &url]).run().await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    assert!(
        out.stderr.contains("could not export trace spans"),
        "{}",
        out.stderr
    );
}
