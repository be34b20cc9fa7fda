//! Spans to MLflow from MLflow's own variables: a tracking server (experiment found or
//! created by name, its id on every export, no proxy on loopback), a Databricks workspace
//! (its OTLP ingestion, the shared auth's token), and failures said once, never fatal.

use axum::http::StatusCode;

use crate::support::mlflow::FakeMlflow;
use crate::support::world::Fakes;
use crate::support::{Dra, FakeWorkspace};

const DATABRICKS_TOKEN: &str = "dapi0123456789abcdef0123456789abcdef";
const OPENAI_KEY: &str = "sk-test-9f8e7d6c5b4a";
/// Nothing listens here: a request sent through this proxy fails.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

struct World(Fakes);

impl World {
    async fn start() -> World {
        let fakes = Fakes::start().await;
        fakes.script_one_step_run("Deltas");
        World(fakes)
    }

    fn research(&self) -> Dra {
        self.0
            .dra([
                "research",
                "--no-clarify",
                "How fast are deltas losing wetlands?",
            ])
            .env("OPENAI_API_KEY", OPENAI_KEY)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_only_mlflows_variables_is_one_trace_in_that_experiment() {
    let w = World::start().await;
    let mlflow = FakeMlflow::start().await;
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", &mlflow.url)
        .env("MLFLOW_EXPERIMENT_NAME", "dra")
        .env("HTTP_PROXY", DEAD_PROXY)
        .env("http_proxy", DEAD_PROXY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");

    assert_eq!(
        mlflow.calls(),
        ["GET get-by-name", "POST create"],
        "an unknown experiment is created, as mlflow.set_experiment does"
    );
    let id = mlflow.experiment_id("dra").expect("created");
    assert!(mlflow.refused().is_empty(), "{:?}", mlflow.refused());
    let exports = mlflow.exports();
    assert!(!exports.is_empty(), "the spans reached MLflow before exit");
    for export in &exports {
        assert_eq!(export.headers["x-mlflow-experiment-id"], id.as_str());
    }
    let spans = mlflow.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "research_orchestration")
        .expect("the root span");
    assert!(root.parent_span_id.is_empty(), "the root has no parent");
    assert!(
        spans.iter().all(|s| s.trace_id == root.trace_id),
        "one run, one trace"
    );
    for agent in ["planner", "synthesizer", "researcher_step_0"] {
        assert!(
            spans.iter().any(|s| s.name == agent),
            "{agent} in {spans:?}"
        );
    }
    assert!(spans.iter().any(|s| s.name.starts_with("llm_")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_experiment_on_loopback_is_reached_past_a_proxy_that_would_fail() {
    let mlflow = FakeMlflow::start().await;
    // A command that exports nothing still sets the exporter up, experiment lookup included.
    let out = Dra::new(["config", "show"])
        .env("MLFLOW_TRACKING_URI", &mlflow.url)
        .env("MLFLOW_EXPERIMENT_NAME", "dra")
        .env("HTTP_PROXY", DEAD_PROXY)
        .env("http_proxy", DEAD_PROXY)
        .env("ALL_PROXY", DEAD_PROXY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        mlflow.calls(),
        ["GET get-by-name", "POST create"],
        "{out:?}"
    );
    assert!(!out.stderr.contains("not exported"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_experiment_is_found_not_created_and_an_id_needs_no_lookup() {
    let w = World::start().await;
    let mlflow = FakeMlflow::start().await;
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", &mlflow.url)
        .env("MLFLOW_EXPERIMENT_NAME", "Default")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(mlflow.calls(), ["GET get-by-name"]);
    assert!(mlflow
        .exports()
        .iter()
        .all(|e| e.headers["x-mlflow-experiment-id"] == "0"));

    let w = World::start().await;
    let mlflow = FakeMlflow::start().await;
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", &mlflow.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .env("MLFLOW_EXPERIMENT_NAME", "ignored when an id is given")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(mlflow.calls().is_empty());
    assert!(!mlflow.exports().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_mlflow_refuses_are_reported_once_with_its_answer_and_the_run_succeeds() {
    let w = World::start().await;
    let mlflow = FakeMlflow::start().await;
    mlflow.refuse_exports(StatusCode::SERVICE_UNAVAILABLE);
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", &mlflow.url)
        .env("MLFLOW_EXPERIMENT_ID", "0")
        .run()
        .await;
    assert!(out.ok(), "a tracing failure never fails the run: {out:?}");
    assert!(!mlflow.refused().is_empty(), "exports were tried");
    let said = out.stderr.matches("cannot export trace spans").count();
    assert_eq!(said, 1, "said once: {}", out.stderr);
    assert!(out.stderr.contains("503"), "{}", out.stderr);
    assert!(
        out.stderr.contains("read-only"),
        "with MLflow's answer: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_mlflow_is_a_warning_not_a_failure() {
    let w = World::start().await;
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
        .env("MLFLOW_EXPERIMENT_NAME", "dra")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("trace spans are not exported")
            && out
                .stderr
                .contains("cannot reach MLflow at http://127.0.0.1:1"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn databricks_as_tracking_uri_exports_to_the_workspace_with_its_token() {
    let w = World::start().await;
    let workspace = FakeMlflow::start().await;
    workspace.require_token(DATABRICKS_TOKEN);
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", "databricks")
        .env(
            "MLFLOW_EXPERIMENT_NAME",
            "/Shared/deep-research-agent-experiments",
        )
        .env("MLFLOW_TRACING_DESTINATION", "main.dra_traces")
        .env("DATABRICKS_HOST", &workspace.url)
        .env("DATABRICKS_TOKEN", DATABRICKS_TOKEN)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(workspace.refused().is_empty(), "{:?}", workspace.refused());
    assert_eq!(workspace.calls(), ["GET get-by-name", "POST create"]);
    let id = workspace
        .experiment_id("/Shared/deep-research-agent-experiments")
        .expect("created");
    let exports = workspace.exports();
    assert!(!exports.is_empty(), "{}", out.stderr);
    for export in &exports {
        assert_eq!(
            export.headers["authorization"],
            format!("Bearer {DATABRICKS_TOKEN}").as_str()
        );
        assert_eq!(export.headers["x-mlflow-experiment-id"], id.as_str());
        assert_eq!(export.headers["content-type"], "application/x-protobuf");
        // MLflow's own client names the Unity Catalog spans table the same way.
        assert_eq!(
            export.headers["x-databricks-uc-table-name"],
            "main.dra_traces.mlflow_experiment_trace_otel_spans"
        );
    }
    assert!(workspace
        .spans()
        .iter()
        .any(|s| s.name == "research_orchestration"));
    assert!(!out.stderr.contains(DATABRICKS_TOKEN));
}

/// `make test-mlflow`: against a real `mlflow server` (MLflow 3), the run is one trace in the
/// experiment, with the hierarchy, span types, user, session and token totals MLflow reads.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a real mlflow server: make test-mlflow"]
async fn a_real_mlflow_server_stores_the_trace() {
    let Ok(url) = std::env::var("DRA_REAL_MLFLOW_URL") else {
        panic!("set DRA_REAL_MLFLOW_URL (make test-mlflow does)");
    };
    let experiment = format!("dra-{}", uuid::Uuid::new_v4());
    let w = World::start().await;
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", &url)
        .env("MLFLOW_EXPERIMENT_NAME", &experiment)
        .env("USER", "ana-mlflow")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!out.stderr.contains("trace spans"), "{}", out.stderr);

    let http = reqwest::Client::new();
    let id = http
        .get(format!("{url}/api/2.0/mlflow/experiments/get-by-name"))
        .query(&[("experiment_name", &experiment)])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["experiment"]["experiment_id"]
        .as_str()
        .expect("dra created the experiment")
        .to_string();
    // The server stores spans as they arrive; give it a moment to settle the trace.
    let mut traces = serde_json::Value::Null;
    for _ in 0..20 {
        traces = http
            .post(format!("{url}/api/3.0/mlflow/traces/search"))
            .json(&serde_json::json!({
                "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": id}}],
                "max_results": 10
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if traces["traces"].as_array().is_some_and(|t| !t.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let found = traces["traces"].as_array().expect("traces").clone();
    assert_eq!(found.len(), 1, "one run, one trace: {traces}");
    let info = &found[0];
    let meta = &info["trace_metadata"];
    assert_eq!(meta["mlflow.trace.user"], "ana-mlflow", "{info}");
    assert!(
        meta["mlflow.trace.session"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{info}"
    );
    let trace_id = info["trace_id"].as_str().expect("trace id");
    let full: serde_json::Value = http
        .get(format!("{url}/api/3.0/mlflow/traces/get"))
        .query(&[("trace_id", trace_id)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spans = full["trace"]["spans"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kind = |name: &str| -> Option<String> {
        let span = spans
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))?;
        let attrs = span["attributes"].as_array()?;
        let kv = attrs.iter().find(|kv| kv["key"] == "mlflow.spanType")?;
        kv["value"]["string_value"].as_str().map(str::to_string)
    };
    assert_eq!(
        kind("research_orchestration").as_deref(),
        Some("CHAIN"),
        "{full}"
    );
    assert_eq!(kind("planner").as_deref(), Some("AGENT"));
    assert_eq!(kind("llm_").as_deref(), Some("LLM"));
    assert_eq!(kind("web_search").as_deref(), Some("TOOL"));
    let usage = meta["mlflow.trace.tokenUsage"].as_str().unwrap_or_default();
    assert!(usage.contains("input_tokens"), "token totals: {info}");
}

/// On Databricks Apps the app's own OAuth M2M credentials are the auth; its tokens expire,
/// so each export asks the shared auth for a current one (here every token expires at once,
/// so every export carries one issued for it).
#[tokio::test(flavor = "multi_thread")]
async fn the_workspace_gets_a_current_app_token_on_every_export() {
    let w = World::start().await;
    let ws = FakeWorkspace::start().await.with_m2m_client(
        "dra-app",
        "app-secret-0123",
        std::time::Duration::ZERO,
    );
    let out = w
        .research()
        .env("MLFLOW_TRACKING_URI", "databricks")
        .env(
            "MLFLOW_EXPERIMENT_NAME",
            "/Shared/deep-research-agent-experiments",
        )
        .env("DATABRICKS_HOST", &ws.url)
        .env("DATABRICKS_CLIENT_ID", "dra-app")
        .env("DATABRICKS_CLIENT_SECRET", "app-secret-0123")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!out.stderr.contains("trace spans"), "{}", out.stderr);
    let id = ws
        .experiment_id("/Shared/deep-research-agent-experiments")
        .expect("created in the workspace");
    let lookup_bearer = ws
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/experiments/get-by-name"))
        .and_then(|r| r.authorization)
        .expect("the lookup was authenticated");
    let exports = ws.otlp_exports();
    assert!(!exports.is_empty(), "{}", out.stderr);
    let mut bearers = std::collections::HashSet::new();
    for export in &exports {
        assert_eq!(export.headers["x-mlflow-experiment-id"], id.as_str());
        let bearer = export.headers["authorization"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(bearer.starts_with("Bearer m2m-token-"), "{bearer}");
        assert_ne!(bearer, lookup_bearer, "a token fetched for the export");
        assert!(bearers.insert(bearer), "one token per export");
    }
    assert!(crate::support::otlp::decode(&exports)
        .iter()
        .any(|s| s.name == "research_orchestration"));
}
