//! A fake MCP server on loopback, speaking streamable HTTP through rmcp's own server: three
//! tools with known answers, and a bearer token it insists on (401 without it), as a hosted
//! server would.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Resource, ServerCapabilities, ServerConfig, TextContent,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;

use super::server::{serve, Served};

/// The token the fake wants in `Authorization: Bearer …`.
pub const TOKEN: &str = "mcp-test-token";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Query {
    /// What to look up.
    pub query: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Lookup {
    pub id: String,
    pub verbose: Option<bool>,
}

#[derive(Clone)]
pub struct FakeMcp;

#[tool_router]
impl FakeMcp {
    fn new() -> FakeMcp {
        FakeMcp
    }

    /// Two text items, one per matching note.
    #[tool(description = "Search the team's notes.")]
    async fn notes(&self, Parameters(q): Parameters<Query>) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::Text(TextContent::new(format!(
                "Note one about {}: deltas lose 1% a year.",
                q.query
            ))),
            ContentBlock::Text(TextContent::new(format!(
                "Note two about {}: sediment supply fell by half.",
                q.query
            ))),
        ])
    }

    /// A document's text with a link to where it lives.
    #[tool(description = "Read one document by id.")]
    async fn lookup(&self, Parameters(l): Parameters<Lookup>) -> CallToolResult {
        let link = Resource::new(format!("https://docs.example.com/{}", l.id), "doc")
            .with_title("The document");
        CallToolResult::success(vec![
            ContentBlock::Text(TextContent::new(format!("Document {} says hello.", l.id))),
            ContentBlock::ResourceLink(link),
        ])
    }

    /// Always fails, as a tool whose backend is down.
    #[tool(description = "A tool whose backend is down.")]
    async fn broken(&self, Parameters(_q): Parameters<Query>) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::Text(TextContent::new(
            "backend unreachable",
        ))])
    }
}

#[tool_handler]
impl ServerHandler for FakeMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Serve the fake at `<url>/mcp`.
pub async fn start() -> Served {
    let service = StreamableHttpService::new(
        || Ok(FakeMcp::new()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(require_token));
    serve(app).await
}

async fn require_token(request: Request, next: Next) -> Result<Response, StatusCode> {
    let expected = format!("Bearer {TOKEN}");
    let ok = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !ok {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(next.run(request).await)
}
