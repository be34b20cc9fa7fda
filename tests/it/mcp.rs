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
