//! Databricks Vector Search indexes and Knowledge Assistant endpoints as research tools,
//! against the fake workspace: what they send, the passages they return, and how they fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dra::databricks::{AuthOptions, DatabricksAuth, WorkspaceClient};
use dra::research::run::{Outcome, RunRequest};
use dra::tools::config::{KnowledgeAssistant, VectorSearchIndex};
use dra::tools::{
    KnowledgeAssistantTool, ResearchTool, SourceKind, ToolError, Toolset, VectorSearchTool,
};
use serde_json::{json, Value};

use crate::support::llm::Reply;
use crate::support::workspace::{
    invocations_of, queries_of, FakeIndex, FakeWorkspace, Serving, PAT,
};
use crate::support::world::{say, World};

const INDEX: &str = "main.docs.product_chunks";
const KA: &str = "ka-1a2b3c4d-endpoint";

fn client_with(ws: &FakeWorkspace, token: &str) -> WorkspaceClient {
    let env: HashMap<String, String> = [
        ("DATABRICKS_HOST".to_string(), ws.url.clone()),
        ("DATABRICKS_TOKEN".to_string(), token.to_string()),
    ]
    .into_iter()
    .collect();
    let auth = DatabricksAuth::resolve(&AuthOptions::default(), &env).unwrap();
    WorkspaceClient::new(Arc::new(auth))
}

fn client(ws: &FakeWorkspace) -> WorkspaceClient {
    client_with(ws, PAT)
}

/// Product documentation chunks: two about Spark (one linked), one about Delta, one
/// without text.
fn product_index() -> FakeIndex {
    FakeIndex::new(
        &[
            "chunk_id",
            "content",
            "title",
            "url",
            "product",
            "embedding",
        ],
        vec![
            (
                json!({"chunk_id": 11, "content": "Spark 4 adds ANSI mode by default.", "title": "Spark 4 release notes", "url": "https://docs.example.com/spark-4", "product": "spark"}),
                0.91,
            ),
            (
                json!({"chunk_id": 12, "content": "Structured streaming keeps state in RocksDB.", "title": null, "url": "dbfs:/Volumes/main/docs/raw/streaming.pdf", "product": "spark"}),
                0.82,
            ),
            (
                json!({"chunk_id": 13, "content": "Delta tables keep a transaction log.", "title": "Delta log", "url": null, "product": "delta"}),
                0.77,
            ),
            (
                json!({"chunk_id": 14, "content": null, "title": "Empty chunk", "url": null, "product": "spark"}),
                0.70,
            ),
        ],
    )
}

fn index_config() -> VectorSearchIndex {
    VectorSearchIndex {
        endpoint: "vs-prod".into(),
        index: INDEX.into(),
        columns: vec!["product".into()],
        id_column: Some("chunk_id".into()),
        num_results: 5,
        ..VectorSearchIndex::default()
    }
}

async fn vs_world() -> FakeWorkspace {
    FakeWorkspace::start()
        .await
        .with_vector_index(INDEX, product_index())
}

fn unavailable_message(result: Result<dra::tools::ToolOutput, ToolError>) -> String {
    match result {
        Err(ToolError::Unavailable { message, .. }) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vector_search_rows_become_passages_with_kind_score_origin_and_uri() {
    let ws = vs_world().await;
    let tool = VectorSearchTool::new("product_docs", &index_config(), client(&ws));
    assert_eq!(tool.spec().name, "search_product_docs");
    assert_eq!(tool.kind(), SourceKind::VectorSearch);

    let out = tool
        .call(&json!({"query": "what changed in spark 4"}))
        .await
        .unwrap();

    let uris: Vec<&str> = out.passages.iter().map(|p| p.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "https://docs.example.com/spark-4",
            &format!("vector-search://{INDEX}/12"),
            &format!("vector-search://{INDEX}/13"),
        ],
        "a non-http URL is not a link; a row without text is left out"
    );
    let first = &out.passages[0];
    assert_eq!(first.kind, SourceKind::VectorSearch);
    assert_eq!(first.origin, INDEX);
    assert_eq!(first.score, Some(0.91));
    assert_eq!(first.title.as_deref(), Some("Spark 4 release notes"));
    assert_eq!(first.text, "Spark 4 adds ANSI mode by default.");
    assert_eq!(
        out.passages[1].title.as_deref(),
        Some(format!("{INDEX} row 12").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_filters_columns_and_num_results_are_sent() {
    let ws = vs_world().await;
    let mut config = index_config();
    config.num_results = 3;
    config.filters = Some(json!({"product": "spark"}).as_object().unwrap().clone());
    let tool = VectorSearchTool::new("product_docs", &config, client(&ws));

    let out = tool
        .call(&json!({"query": "streaming state"}))
        .await
        .unwrap();

    let sent = queries_of(&ws.requests(), INDEX);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["query_text"], "streaming state");
    assert_eq!(sent[0]["num_results"], 3);
    assert_eq!(
        sent[0]["columns"],
        json!(["product", "content", "title", "url", "chunk_id"])
    );
    let filters = sent[0]["filters_json"].as_str().expect("a JSON string");
    assert_eq!(
        serde_json::from_str::<Value>(filters).unwrap(),
        json!({"product": "spark"})
    );
    assert!(
        out.passages.iter().all(|p| !p.text.contains("Delta")),
        "{:?}",
        out.passages
    );
    assert_eq!(out.passages.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_models_num_results_is_capped_at_the_configured_count() {
    let ws = vs_world().await;
    let mut config = index_config();
    config.num_results = 2;
    let tool = VectorSearchTool::new("product_docs", &config, client(&ws));

    let many = tool
        .call(&json!({"query": "spark", "num_results": 50}))
        .await
        .unwrap();
    tool.call(&json!({"query": "spark", "num_results": 1}))
        .await
        .unwrap();

    let sent: Vec<Value> = queries_of(&ws.requests(), INDEX)
        .iter()
        .map(|b| b["num_results"].clone())
        .collect();
    assert_eq!(sent, [json!(2), json!(1)]);
    assert_eq!(many.passages.len(), 2);
    assert_eq!(
        tool.spec().parameters["properties"]["num_results"]["maximum"],
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_index_is_unavailable_and_named() {
    let ws = vs_world().await;
    let mut config = index_config();
    config.index = "main.docs.gone".into();
    let tool = VectorSearchTool::new("gone", &config, client(&ws));

    let message = unavailable_message(tool.call(&json!({"query": "anything"})).await);

    assert!(message.contains("main.docs.gone"), "{message}");
    assert!(message.contains("not found"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_without_select_permission_says_which_privileges_are_missing() {
    let mut index = product_index();
    index.forbidden = true;
    let ws = FakeWorkspace::start().await.with_vector_index(INDEX, index);
    let tool = VectorSearchTool::new("product_docs", &index_config(), client(&ws));

    let message = unavailable_message(tool.call(&json!({"query": "anything"})).await);

    assert!(message.contains(INDEX), "{message}");
    assert!(message.contains("SELECT"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_never_appears_in_the_error() {
    let ws = vs_world()
        .await
        .with_serving_endpoint(KA, Serving::Unavailable);
    let bad = "dapiffffffffffffffffffffffffffffffff";
    let vs = VectorSearchTool::new("product_docs", &index_config(), client_with(&ws, bad));
    let ka = KnowledgeAssistantTool::new("expert", &ka_config(), client_with(&ws, bad));

    for result in [
        vs.call(&json!({"query": "q"})).await,
        ka.call(&json!({"query": "q"})).await,
    ] {
        let err = result.expect_err("the fake refuses the token");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(bad), "{text}");
        assert!(!text.contains("fffffff"), "{text}");
        assert!(text.contains("unauthorized"), "{text}");
    }
}

fn ka_config() -> KnowledgeAssistant {
    KnowledgeAssistant {
        endpoint: KA.into(),
        max_tokens: 1500,
        timeout: Duration::from_secs(10),
        ..KnowledgeAssistant::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_knowledge_assistants_answer_and_its_citations_become_attributed_passages() {
    let ws = FakeWorkspace::start().await.with_serving_endpoint(
        KA,
        Serving::Responses {
            text: "Refunds are paid within 14 days of the return.".into(),
            annotations: vec![
                json!({"type": "url_citation", "url": "https://kb.example.com/refunds.pdf", "title": "Refund policy", "start_index": 0, "end_index": 47, "text": "Refunds are issued within 14 days."}),
                json!({"type": "url_citation", "url": "https://kb.example.com/returns.pdf", "title": "Returns guide", "start_index": 0, "end_index": 47}),
            ],
        },
    );
    let tool = KnowledgeAssistantTool::new("product_expert", &ka_config(), client(&ws));
    assert_eq!(tool.spec().name, "retrieve_product_expert");
    let question = "How long do refunds take?";

    let out = tool.call(&json!({"query": question})).await.unwrap();

    let sent = invocations_of(&ws.requests(), KA);
    assert_eq!(
        sent,
        [json!({"input": [{"role": "user", "content": question}], "max_output_tokens": 1500})]
    );
    assert_eq!(out.passages.len(), 2, "{:?}", out.passages);
    let answer = &out.passages[0];
    assert!(
        answer
            .uri
            .starts_with(&format!("knowledge-assistant://{KA}/")),
        "{}",
        answer.uri
    );
    assert_eq!(
        answer.title.as_deref(),
        Some(format!("{KA}: {question}").as_str())
    );
    assert!(answer
        .text
        .starts_with("Refunds are paid within 14 days of the return."));
    assert!(
        answer.text.contains(
            "Sources cited by the assistant:\n- Returns guide (https://kb.example.com/returns.pdf)"
        ),
        "{}",
        answer.text
    );
    let quoted = &out.passages[1];
    assert_eq!(quoted.uri, "https://kb.example.com/refunds.pdf");
    assert_eq!(quoted.text, "Refunds are issued within 14 days.");
    assert_eq!(quoted.title.as_deref(), Some("Refund policy"));
    for p in &out.passages {
        assert_eq!(p.kind, SourceKind::KnowledgeAssistant);
        assert_eq!(p.origin, KA);
    }
    // The same question and answer name the same source on every run.
    let again = tool.call(&json!({"question": question})).await.unwrap();
    assert_eq!(again.passages[0].uri, answer.uri);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_shaped_answer_is_read_too() {
    let ws = FakeWorkspace::start().await.with_serving_endpoint(
        KA,
        Serving::ChatReply {
            content: "The warranty lasts two years.".into(),
            citations: vec![
                json!({"source": "warranty.pdf", "title": "Warranty", "url": "https://kb.example.com/warranty.pdf", "snippet": "Two-year limited warranty."}),
            ],
        },
    );
    let tool = KnowledgeAssistantTool::new("product_expert", &ka_config(), client(&ws));

    let out = tool
        .call(&json!({"query": "How long is the warranty?"}))
        .await
        .unwrap();

    assert_eq!(out.passages.len(), 2, "{:?}", out.passages);
    assert_eq!(out.passages[0].text, "The warranty lasts two years.");
    assert_eq!(out.passages[1].uri, "https://kb.example.com/warranty.pdf");
    assert_eq!(out.passages[1].text, "Two-year limited warranty.");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_or_hung_endpoint_is_an_error_within_its_timeout() {
    let ws = FakeWorkspace::start()
        .await
        .with_serving_endpoint("ka-down", Serving::Unavailable)
        .with_serving_endpoint("ka-hung", Serving::Hangs);
    for endpoint in ["ka-down", "ka-hung", "ka-missing"] {
        let config = KnowledgeAssistant {
            endpoint: endpoint.into(),
            timeout: Duration::from_millis(300),
            ..KnowledgeAssistant::default()
        };
        let tool = KnowledgeAssistantTool::new("expert", &config, client(&ws));
        // The bound only keeps a broken test from hanging; the tool's own limit is 300 ms.
        let result =
            tokio::time::timeout(Duration::from_secs(60), tool.call(&json!({"query": "q"})))
                .await
                .expect("the tool gives up on its own");
        let message = unavailable_message(result);
        assert!(message.contains(endpoint), "{endpoint}: {message}");
    }
    assert!(!invocations_of(&ws.requests(), "ka-down").is_empty());
}

/// A light classic run whose only step queries the index: the private passage is source
/// [1] (tool passages are registered before web pages are fetched), and the report cites it.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_cites_a_vector_search_passage_as_a_numbered_source() {
    let ws = vs_world().await;
    let mut w = World::start().await;
    w.tools = Toolset::new(vec![Arc::new(VectorSearchTool::new(
        "product_docs",
        &index_config(),
        client(&ws),
    ))]);
    w.llm.script(
        "ep-simple",
        vec![
            say(json!({"mode": "deep_research", "depth": "light", "is_ambiguous": false, "clarifying_questions": [], "reasoning": "r"})),
            say(json!({"decision": "complete", "reasoning": "Covered.", "suggested_changes": null})),
        ],
    );
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"title": "Spark 4", "thought": "t", "steps": [
                {"id": "a", "title": "Defaults", "description": "what changed", "step_type": "research", "needs_search": true}
            ]})),
            say(json!({"queries": ["spark 4 defaults"]})),
            Reply::Text("- Spark 4 turns ANSI mode on by default [1].".into()),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec![
            "# Spark 4\n\nSpark 4 turns ANSI mode on by default [1].".into(),
        ])],
    );

    let (outcome, events) = w
        .run(&RunRequest::new("What changed in Spark 4's defaults?"))
        .await;

    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}\n{events:#?}");
    };
    assert!(
        report.markdown.contains("by default [1]."),
        "{}",
        report.markdown
    );
    let first = &report.sources[0];
    assert_eq!(first.number, 1);
    assert_eq!(first.url, "https://docs.example.com/spark-4");
    assert_eq!(first.kind, SourceKind::VectorSearch);
    assert_eq!(first.origin.as_deref(), Some(INDEX));
    assert_eq!(
        serde_json::to_value(first).unwrap()["source_type"],
        "vector_search"
    );
    assert_eq!(
        queries_of(&ws.requests(), INDEX)[0]["query_text"],
        "spark 4 defaults"
    );
    // The planner was told which private sources the researcher can search.
    let planner = w.llm.calls_to("ep-analytical")[0].body.to_string();
    assert!(
        planner.contains("Private sources the researcher can search")
            && planner.contains("- search_product_docs: "),
        "{planner}"
    );
}

/// The example in docs/tools.md and the commented one in config/app.yaml are the same
/// configuration, and it is valid.
#[test]
fn the_documented_tools_example_is_valid_and_matches_the_shipped_comment() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/tools.md")).unwrap();
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block");
    let app = std::fs::read_to_string(root.join("config/app.yaml")).unwrap();
    let commented: String = app
        .lines()
        .skip_while(|l| *l != "# tools:")
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or("")))
        .collect();
    #[derive(serde::Deserialize)]
    struct Root {
        tools: dra::tools::ToolsSection,
    }
    let parse = |yaml: &str| yaml_serde::from_str::<Root>(yaml).unwrap().tools;
    let documented = parse(example);
    let shipped = parse(&commented);
    assert_eq!(
        serde_json::to_value(&documented).unwrap(),
        serde_json::to_value(&shipped).unwrap()
    );
    assert!(
        documented.problems().is_empty(),
        "{:?}",
        documented.problems()
    );
    assert_eq!(documented.vector_search.len(), 1);
    assert_eq!(documented.knowledge_assistants.len(), 1);
}
