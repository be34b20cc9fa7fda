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
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn a_run_records_the_originals_span_tree_with_token_counts_on_each_llm_span() {
    let w = RunWorld::start().await;
    let llm = &w.llm;
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

    let recorder = Recorder::install();
    let request = RunRequest {
        user: Some("ana@example.com".into()),
        ..RunRequest::new("How fast are deltas losing wetlands?")
    };
    let (outcome, _) = w.run(&request).await;
    assert!(matches!(outcome, Ok(Outcome::Report(_))), "{outcome:?}");
    let spans = recorder.spans();

    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == SpanId::INVALID)
        .collect();
    assert_eq!(roots.len(), 1, "one root: {spans:#?}");
    let root = roots[0];
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

    let agents: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == root.span_context.span_id())
        .collect();
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
    let step = agents
        .iter()
        .find(|s| s.name == "researcher_step_0")
        .unwrap();
    assert_eq!(attr(step, "step.id").as_deref(), Some("step-1"));
    assert_eq!(attr(step, "step.title").as_deref(), Some("Loss rates"));

    // Every other span is a model call under an agent, with what the fake answered.
    let agent_of: HashMap<SpanId, &str> = agents
        .iter()
        .map(|s| (s.span_context.span_id(), s.name.as_ref()))
        .collect();
    let mut calls: Vec<(&str, &str, String, String)> = Vec::new();
    for span in &spans {
        if span.name == "research_orchestration"
            || agent_of.contains_key(&span.span_context.span_id())
        {
            continue;
        }
        let Some(agent) = agent_of.get(&span.parent_span_id) else {
            panic!("{} is not under an agent span: {span:#?}", span.name);
        };
        let tier = span.name.strip_prefix("llm_").expect("an llm_<tier> span");
        assert_eq!(attr(span, "llm.tier").as_deref(), Some(tier));
        assert_eq!(
            attr(span, "llm.endpoint").as_deref(),
            Some(tier),
            "the fake config names each endpoint after its tier"
        );
        assert_eq!(attr(span, "llm.attempts").as_deref(), Some("1"));
        assert!(attr(span, "llm.latency_ms").is_some(), "{span:#?}");
        calls.push((
            agent,
            tier,
            attr(span, "llm.input_tokens").unwrap_or_default(),
            attr(span, "llm.output_tokens").unwrap_or_default(),
        ));
    }
    calls.sort();
    let text = |agent, tier| (agent, tier, "11".to_string(), "7".to_string());
    assert_eq!(
        calls,
        [
            text("coordinator", "simple"),
            text("planner", "analytical"),
            text("reflector", "simple"),
            text("researcher_step_0", "analytical"),
            text("researcher_step_0", "analytical"),
            // The streamed report: the fake's final usage chunk counts pieces.
            ("synthesizer", "complex", "5".to_string(), "2".to_string()),
        ]
    );
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
    assert_eq!(attr(fell_over, "llm.input_tokens").as_deref(), Some("11"));
    assert_eq!(fell_over.status, opentelemetry::trace::Status::Unset);

    assert_eq!(gave_up.name, "llm_backup");
    assert_eq!(attr(gave_up, "llm.endpoint").as_deref(), Some("backup"));
    assert_eq!(attr(gave_up, "llm.input_tokens"), None);
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
            "llm_analytical",
            "llm_analytical",
            "llm_analytical",
            "llm_complex",
            "llm_simple",
            "planner",
            "research_orchestration",
            "researcher_step_0",
            "synthesizer"
        ]
    );
    assert!(spans
        .iter()
        .all(|s| s.service_name.as_deref() == Some("dra")));
    let synth = spans.iter().find(|s| s.name == "llm_complex").unwrap();
    assert_eq!(synth.attr("llm.endpoint"), Some("strong"));
    assert_eq!(synth.attr("llm.output_tokens"), Some("1"));
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
