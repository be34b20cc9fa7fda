//! MCP both ways: dra's client against a real (rmcp) server over streamable HTTP and a stdio
//! child; `dra mcp` driven by rmcp's client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dra::tools::config::McpServer;
use dra::tools::mcp::{connect, McpError};
use dra::tools::{ResearchTool, SourceKind, ToolError};
use serde_json::json;

use crate::support::mcp as fake;
use crate::support::pages::ARTICLE_PARAGRAPHS;
use crate::support::world::Fakes;

fn http_server(url: &str, tools: &[&str]) -> McpServer {
    McpServer {
        url: Some(format!("{url}/mcp")),
        headers: BTreeMap::from([(
            "Authorization".to_string(),
            format!("Bearer {}", fake::TOKEN),
        )]),
        tools: tools.iter().map(|t| t.to_string()).collect(),
        timeout: Duration::from_secs(20),
        ..McpServer::default()
    }
}

fn tool<'a>(tools: &'a [Arc<dyn ResearchTool>], name: &str) -> &'a Arc<dyn ResearchTool> {
    tools
        .iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

#[tokio::test]
async fn http_server_tools_are_listed_through_the_allow_list() {
    let server = fake::start().await;
    let conn = connect(
        "team notes",
        &http_server(&server.url, &["notes", "lookup", "missing"]),
    )
    .await
    .unwrap();
    let tools = conn.tools();
    let mut names: Vec<&str> = tools.iter().map(|t| t.spec().name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["team_notes__lookup", "team_notes__notes"]);
    let notes = tool(&tools, "team_notes__notes");
    let lookup = tool(&tools, "team_notes__lookup");
    assert_eq!(notes.spec().description, "Search the team's notes.");
    assert_eq!(notes.kind(), SourceKind::Mcp);
    assert!(notes.takes_query(), "a lone required string query");
    assert!(!lookup.takes_query(), "lookup has its own schema");
    assert_eq!(
        lookup.spec().parameters["required"],
        json!(["id"]),
        "the server's input schema: {}",
        lookup.spec().parameters
    );
    assert_eq!(conn.process_id(), None);
}

#[tokio::test]
async fn every_tool_is_offered_without_an_allow_list() {
    let server = fake::start().await;
    let conn = connect("notes", &http_server(&server.url, &[]))
        .await
        .unwrap();
    let mut names: Vec<String> = conn.tools().iter().map(|t| t.spec().name.clone()).collect();
    names.sort();
    assert_eq!(names, ["notes__broken", "notes__lookup", "notes__notes"]);
}

#[tokio::test]
async fn a_calls_text_items_become_passages() {
    let server = fake::start().await;
    let conn = connect("notes", &http_server(&server.url, &["notes", "lookup"]))
        .await
        .unwrap();
    let tools = conn.tools();
    let notes = tool(&tools, "notes__notes");
    let out = notes.call(&json!({"query": "deltas"})).await.unwrap();
    assert_eq!(out.passages.len(), 2);
    let first = &out.passages[0];
    assert_eq!(first.text, "Note one about deltas: deltas lose 1% a year.");
    assert_eq!(first.kind, SourceKind::Mcp);
    assert_eq!(first.origin, "notes");
    assert_eq!(first.title.as_deref(), Some("notes notes: deltas"));
    assert!(first.uri.starts_with("mcp://notes/notes/"), "{}", first.uri);
    assert_ne!(first.uri, out.passages[1].uri, "two texts, two sources");
    let again = notes.call(&json!({"query": "deltas"})).await.unwrap();
    assert_eq!(again.passages[0].uri, first.uri, "stable for the same call");

    let out = tool(&tools, "notes__lookup")
        .call(&json!({"id": "42"}))
        .await
        .unwrap();
    assert_eq!(out.passages.len(), 1);
    assert_eq!(out.passages[0].uri, "https://docs.example.com/42");
    assert_eq!(out.passages[0].text, "Document 42 says hello.");
}

#[tokio::test]
async fn an_error_result_is_unavailable() {
    let server = fake::start().await;
    let conn = connect("notes", &http_server(&server.url, &["broken"]))
        .await
        .unwrap();
    let err = conn.tools()[0]
        .call(&json!({"query": "x"}))
        .await
        .unwrap_err();
    match err {
        ToolError::Unavailable { tool, message } => {
            assert_eq!(tool, "notes__broken");
            assert!(message.contains("backend unreachable"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_refusing_the_credentials_is_an_error_naming_it() {
    let server = fake::start().await;
    let mut config = http_server(&server.url, &[]);
    config.headers.clear();
    let err = connect("hosted", &config).await.unwrap_err();
    assert!(matches!(err, McpError::Initialize { .. }), "{err:?}");
    assert!(err.to_string().contains("`hosted`"), "{err}");
}

#[tokio::test]
async fn a_stdio_server_that_exits_at_start_is_an_error_naming_it() {
    let config = McpServer {
        command: Some("sh".into()),
        args: vec!["-c".into(), "echo failing >&2; exit 3".into()],
        timeout: Duration::from_secs(20),
        ..McpServer::default()
    };
    let err = connect("quitter", &config).await.unwrap_err();
    assert!(err.to_string().contains("MCP server `quitter`"), "{err}");
    assert!(matches!(err, McpError::Initialize { .. }), "{err:?}");

    let config = McpServer {
        command: Some("/no/such/mcp-server".into()),
        timeout: Duration::from_secs(20),
        ..McpServer::default()
    };
    let err = connect("ghost", &config).await.unwrap_err();
    assert!(matches!(err, McpError::Start { .. }), "{err:?}");
    assert!(err.to_string().contains("`ghost`"), "{err}");
}

// --- `dra mcp`, driven by rmcp's client over stdio ---

/// Records the progress messages the server sends.
#[derive(Clone, Default)]
struct ProgressLog(Arc<std::sync::Mutex<Vec<String>>>);

impl rmcp::ClientHandler for ProgressLog {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push(params.message.unwrap_or_default());
    }
}

async fn dra_mcp(
    w: &Fakes,
    log: ProgressLog,
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, ProgressLog>,
    tempfile::TempDir,
) {
    use rmcp::ServiceExt;
    let (cmd, home) = w.dra(["mcp"]).into_command();
    let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (log.serve(transport).await.unwrap(), home)
}

fn call(name: &'static str, args: serde_json::Value) -> rmcp::model::CallToolRequestParams {
    rmcp::model::CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone())
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| match c {
            rmcp::model::ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_mcp_offers_research_search_and_fetch() {
    let w = Fakes::start().await;
    let (client, _home) = dra_mcp(&w, ProgressLog::default()).await;
    let mut names: Vec<String> = client
        .peer()
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["fetch", "research", "search"]);

    let found = client
        .peer()
        .call_tool(call("search", json!({"query": "delta wetland loss"})))
        .await
        .unwrap();
    assert_ne!(found.is_error, Some(true), "{}", text_of(&found));
    let hits = &found.structured_content.as_ref().unwrap()["hits"];
    assert_eq!(hits[0]["url"], w.pages.url("/article"), "{hits}");

    let page = client
        .peer()
        .call_tool(call("fetch", json!({"url": w.pages.url("/article")})))
        .await
        .unwrap();
    let text = text_of(&page);
    assert!(text.contains(ARTICLE_PARAGRAPHS[0]), "{text}");

    let missing = client
        .peer()
        .call_tool(call("fetch", json!({"url": w.pages.url("/status/404")})))
        .await
        .unwrap();
    assert_eq!(missing.is_error, Some(true), "{}", text_of(&missing));
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_mcp_research_returns_the_report_with_sources_and_progress() {
    use rmcp::model::{ClientRequest, Request, ServerResult};
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    let log = ProgressLog::default();
    let (client, _home) = dra_mcp(&w, log.clone()).await;
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(call(
                "research",
                json!({"question": "How fast are deltas losing wetlands?"}),
            ))),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let ServerResult::CallToolResult(result) = handle.await_response().await.unwrap() else {
        panic!("not a tool result");
    };
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    let report = text_of(&result);
    assert!(report.starts_with("# Deltas"), "{report}");
    assert!(report.contains("wetlands [1]."), "{report}");
    let details = result.structured_content.unwrap();
    let sources = details["sources"].as_array().unwrap();
    assert_eq!(sources[0]["number"], 1, "{details}");
    assert_eq!(sources[0]["source_type"], "web", "{details}");
    assert!(sources[0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&w.pages.url("/")));
    let progress = log.0.lock().unwrap().clone();
    assert!(
        progress.iter().any(|m| m.starts_with("step 1 started")),
        "{progress:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_mcp_as_a_stdio_tool_server_and_its_child_killed_on_drop() {
    let w = Fakes::start().await;
    let home = tempfile::tempdir().unwrap();
    let config = McpServer {
        command: Some(env!("CARGO_BIN_EXE_dra").into()),
        args: vec!["mcp".into()],
        env: BTreeMap::from([
            ("HOME".to_string(), home.path().display().to_string()),
            (
                "APP_CONFIG_PATH".to_string(),
                crate::support::cli::config_path("app.test.yaml")
                    .display()
                    .to_string(),
            ),
            ("OLLAMA_HOST".to_string(), "127.0.0.1:1".to_string()),
            ("OPENAI_BASE_URL".to_string(), format!("{}/v1", w.llm.url)),
            ("BRAVE_BASE_URL".to_string(), w.search.url.clone()),
            (
                "BRAVE_API_KEY".to_string(),
                crate::support::search::BRAVE_KEY.to_string(),
            ),
        ]),
        tools: vec!["fetch".into(), "no_such_tool".into()],
        timeout: Duration::from_secs(60),
        ..McpServer::default()
    };
    let conn = connect("dra", &config).await.unwrap();
    let tools = conn.tools();
    let names: Vec<&str> = tools.iter().map(|t| t.spec().name.as_str()).collect();
    assert_eq!(names, ["dra__fetch"]);
    let out = tools[0]
        .call(&json!({"url": w.pages.url("/article")}))
        .await
        .unwrap();
    assert!(out.passages[0].text.contains(ARTICLE_PARAGRAPHS[0]));
    assert_eq!(out.passages[0].origin, "dra");

    let pid = conn.process_id().unwrap();
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc.exists());
    drop(tools);
    drop(conn);
    // Killing and reaping happen on a spawned task: wait for them, within a bound.
    let mut gone = false;
    for _ in 0..100 {
        if !proc.exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "dra mcp (pid {pid}) still exists or is a zombie");
}

// --- `/mcp` under `dra serve` ---

/// `dra serve` in development on a free loopback port, without a database, once healthy.
async fn dra_serve(w: &Fakes) -> (tokio::process::Child, String, tempfile::TempDir) {
    dra_serve_with(w, &["--local-user", "alice@example.com"], &[]).await
}

/// `dra serve ARGS…` with extra environment, once healthy.
async fn dra_serve_with(
    w: &Fakes,
    args: &[&str],
    env: &[(&str, String)],
) -> (tokio::process::Child, String, tempfile::TempDir) {
    let port = crate::support::browser::free_port();
    let port_arg = port.to_string();
    let mut dra = w.dra(
        ["serve", "--port", port_arg.as_str()]
            .into_iter()
            .chain(args.iter().copied()),
    );
    for (k, v) in env {
        dra = dra.env(k, v);
    }
    let (child, home) = dra.spawn();
    let url = format!("http://127.0.0.1:{port}");
    crate::support::serve::wait_healthy(&url).await;
    (child, url, home)
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_serve_offers_the_same_tools_at_mcp_over_streamable_http() {
    let w = Fakes::start().await;
    let (_child, url, _home) = dra_serve(&w).await;
    let server = McpServer {
        url: Some(format!("{url}/mcp")),
        timeout: Duration::from_secs(30),
        ..McpServer::default()
    };
    let conn = connect("served", &server).await.unwrap();
    let tools = conn.tools();
    let mut names: Vec<&str> = tools.iter().map(|t| t.spec().name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["served__fetch", "served__research", "served__search"]
    );

    let page = tool(&tools, "served__fetch")
        .call(&json!({"url": w.pages.url("/article")}))
        .await
        .unwrap();
    assert!(page.passages[0].text.contains(ARTICLE_PARAGRAPHS[0]));
    let hits = tool(&tools, "served__search")
        .call(&json!({"query": "delta wetland loss"}))
        .await
        .unwrap();
    assert!(
        hits.passages[0].text.contains(&w.pages.url("/article")),
        "{:?}",
        hits.passages
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_under_dra_serve_refuses_a_foreign_host_header() {
    let w = Fakes::start().await;
    let (_child, url, _home) = dra_serve(&w).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    });
    let client = reqwest::Client::new();
    let send = |host: &'static str| {
        client
            .post(format!("{url}/mcp"))
            .header("Host", host)
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
    };
    let rebound = send("attacker.example").await.unwrap();
    assert_eq!(rebound.status(), 403, "DNS rebinding is refused");
    let local = send("localhost").await.unwrap();
    assert_eq!(local.status(), 200, "{:?}", local.text().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_under_a_production_server_wants_the_proxys_identity() {
    let w = Fakes::start().await;
    let db = crate::support::TestDb::new().await;
    crate::support::serve::migrate(&db).await;
    let (_child, url, _home) = dra_serve_with(
        &w,
        &["--production", "--host", "127.0.0.1"],
        &[("DATABASE_URL", db.url())],
    )
    .await;
    let anonymous = McpServer {
        url: Some(format!("{url}/mcp")),
        timeout: Duration::from_secs(30),
        ..McpServer::default()
    };
    let err = connect("served", &anonymous).await.unwrap_err();
    assert!(err.to_string().contains("`served`"), "{err}");
    let signed_in = McpServer {
        headers: BTreeMap::from([(
            "X-Forwarded-Email".to_string(),
            "alice@example.com".to_string(),
        )]),
        ..anonymous
    };
    let conn = connect("served", &signed_in).await.unwrap();
    assert_eq!(conn.tools().len(), 3);
}
