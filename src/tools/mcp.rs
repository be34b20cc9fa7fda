//! MCP servers as research tools (`tools.mcp_servers.<name>`): dra connects as an MCP client
//! over stdio (a child process) or streamable HTTP, lists the server's tools and offers each
//! allowed one to the ReAct researcher.
//!
//! A tool's name for the model is `<server>__<tool>` with every character outside
//! `[a-zA-Z0-9_-]` replaced by `_` and cut to 64 characters (the model APIs' function-name
//! rule). Its description and parameters are the server's. Each text item of a call's result
//! is a [`Passage`] of kind [`SourceKind::Mcp`]; its URI is the resource the result names
//! (an embedded text resource, or resource links paired with the text items in order),
//! else `mcp://<server>/<tool>/<hash>`, stable for the same arguments and text.
//!
//! The protocol is rmcp's; this file only maps configuration to its transports and results
//! to passages.

use std::borrow::Cow;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::model::{
    CallToolRequestParams, ClientConfig, ContentBlock, Implementation, ResourceContents, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use tokio::io::AsyncBufReadExt;

use super::config::McpServer;
use super::{Passage, ResearchTool, SourceKind, ToolError, ToolOutput};
use crate::llm::ToolSpec;

/// Why an MCP server could not be used. Every message names the server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The configuration cannot make a connection (no command or URL, a bad header).
    #[error("MCP server `{server}`: {message}")]
    Config { server: String, message: String },
    /// The command could not be started.
    #[error("MCP server `{server}` could not be started (`{command}`): {cause}")]
    Start {
        server: String,
        command: String,
        cause: std::io::Error,
    },
    /// The server started (or the URL answered) but the MCP handshake failed.
    #[error("MCP server `{server}` did not initialize: {cause}")]
    Initialize { server: String, cause: String },
    /// `tools/list` failed.
    #[error("MCP server `{server}` did not list its tools: {cause}")]
    ListTools { server: String, cause: String },
    /// Connecting and listing took longer than the server's `timeout`.
    #[error("MCP server `{server}` did not answer within {after:?} (tools.mcp_servers.{server}.timeout)")]
    Timeout { server: String, after: Duration },
}

/// A live connection to one MCP server and the tools it offers.
///
/// The server (and a stdio child with its process group) lives as long as this value or any
/// of its tools; dropping the last of them closes the session and kills the child.
pub struct McpConnection {
    name: String,
    tools: Vec<Arc<dyn ResearchTool>>,
    _session: Arc<Session>,
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpConnection")
            .field("name", &self.name)
            .field("tools", &self.tool_names())
            .finish()
    }
}

impl McpConnection {
    /// The configured server name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One research tool per allowed MCP tool, in the server's order.
    pub fn tools(&self) -> Vec<Arc<dyn ResearchTool>> {
        self.tools.clone()
    }

    /// The stdio child's process id (the leader of its process group); `None` over HTTP.
    pub fn process_id(&self) -> Option<u32> {
        self._session.pid
    }

    fn tool_names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.spec().name.clone()).collect()
    }
}

/// Start (stdio) or reach (streamable HTTP) the server `name`, initialize the session and
/// list its tools, all within `config.timeout`. An allow-listed tool the server lacks is
/// logged as a warning, not an error.
pub async fn connect(name: &str, config: &McpServer) -> Result<McpConnection, McpError> {
    let after = config.timeout;
    match tokio::time::timeout(after, connect_unbounded(name, config)).await {
        Ok(result) => result,
        Err(_) => Err(McpError::Timeout {
            server: name.to_string(),
            after,
        }),
    }
}

/// The running rmcp client; dropping it cancels the session, which drops the transport and
/// so kills a stdio child.
struct Session {
    client: RunningService<RoleClient, ClientConfig>,
    pid: Option<u32>,
}

async fn connect_unbounded(name: &str, config: &McpServer) -> Result<McpConnection, McpError> {
    let (client, pid) = match (&config.command, &config.url) {
        (Some(command), None) => start_stdio(name, command, config).await?,
        (None, Some(url)) => (start_http(name, url, config).await?, None),
        _ => {
            return Err(McpError::Config {
                server: name.to_string(),
                message: "set `command` (stdio) or `url` (streamable HTTP), not both".into(),
            })
        }
    };
    let listed = client
        .peer()
        .list_all_tools()
        .await
        .map_err(|e| McpError::ListTools {
            server: name.to_string(),
            cause: crate::redact::scrub(&e.to_string()).into_owned(),
        })?;
    let session = Arc::new(Session { client, pid });
    for wanted in &config.tools {
        if !listed.iter().any(|t| t.name == wanted.as_str()) {
            tracing::warn!(server = %name, tool = %wanted, "an allow-listed MCP tool is not offered by the server");
        }
    }
    let tools = listed
        .into_iter()
        .filter(|t| config.tools.is_empty() || config.tools.iter().any(|w| t.name == w.as_str()))
        .map(|t| {
            Arc::new(McpTool::new(name, t, session.clone(), config.timeout))
                as Arc<dyn ResearchTool>
        })
        .collect();
    Ok(McpConnection {
        name: name.to_string(),
        tools,
        _session: session,
    })
}

fn client_info() -> ClientConfig {
    let mut info = ClientConfig::default();
    info.client_info = Implementation::new("dra", env!("CARGO_PKG_VERSION"));
    info
}

async fn start_stdio(
    name: &str,
    command: &str,
    config: &McpServer,
) -> Result<(RunningService<RoleClient, ClientConfig>, Option<u32>), McpError> {
    let mut wrap = CommandWrap::with_new(command, |c| {
        c.args(&config.args).envs(&config.env);
    });
    wrap.wrap(ProcessGroup::leader());
    let (transport, stderr) = TokioChildProcess::builder(wrap)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|cause| McpError::Start {
            server: name.to_string(),
            command: command.to_string(),
            cause,
        })?;
    let pid = transport.id();
    if let Some(stderr) = stderr {
        let server = name.to_string();
        // The server's own diagnostics: useful when it misbehaves, noise otherwise.
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %server, "mcp stderr: {}", crate::redact::scrub(&line));
            }
        });
    }
    let client = client_info()
        .serve(transport)
        .await
        .map_err(|e| McpError::Initialize {
            server: name.to_string(),
            cause: crate::redact::scrub(&e.to_string()).into_owned(),
        })?;
    Ok((client, pid))
}

async fn start_http(
    name: &str,
    url: &str,
    config: &McpServer,
) -> Result<RunningService<RoleClient, ClientConfig>, McpError> {
    // rmcp's reqwest is built without a TLS crypto provider; dra's rustls uses ring. An
    // error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HashMap::new();
    for (key, value) in &config.headers {
        let bad = |what: &str| McpError::Config {
            server: name.to_string(),
            // The value is never shown: it is usually a token.
            message: format!("headers.{key}: {what}"),
        };
        let header = http::HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| bad("is not a valid header name"))?;
        let mut value = http::HeaderValue::from_str(value)
            .map_err(|_| bad("has a character a header cannot carry"))?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers),
    );
    client_info()
        .serve(transport)
        .await
        .map_err(|e| McpError::Initialize {
            server: name.to_string(),
            cause: crate::redact::scrub(&e.to_string()).into_owned(),
        })
}

/// One MCP tool as a research tool.
struct McpTool {
    server: String,
    tool: String,
    spec: ToolSpec,
    takes_query: bool,
    session: Arc<Session>,
    timeout: Duration,
}

impl McpTool {
    fn new(server: &str, tool: Tool, session: Arc<Session>, timeout: Duration) -> McpTool {
        let parameters = serde_json::Value::Object((*tool.input_schema).clone());
        let description = tool
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("The `{}` tool of the MCP server `{server}`.", tool.name));
        McpTool {
            server: server.to_string(),
            tool: tool.name.to_string(),
            spec: ToolSpec {
                name: tool_name(server, &tool.name),
                description,
                parameters: parameters.clone(),
            },
            takes_query: is_query_schema(&parameters),
            session,
            timeout,
        }
    }

    fn unavailable(&self, message: impl Into<String>) -> ToolError {
        ToolError::unavailable(&self.spec.name, &message.into())
    }
}

#[async_trait]
impl ResearchTool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Mcp
    }

    fn takes_query(&self) -> bool {
        self.takes_query
    }

    async fn call(&self, arguments: &serde_json::Value) -> Result<ToolOutput, ToolError> {
        let arguments = match arguments {
            serde_json::Value::Object(map) => map.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => {
                return Err(ToolError::Arguments(
                    "send the arguments as a JSON object".into(),
                ))
            }
        };
        let params = CallToolRequestParams::new(Cow::Owned(self.tool.clone()))
            .with_arguments(arguments.clone());
        let call = self.session.client.peer().call_tool(params);
        let result = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                return Err(self.unavailable(format!(
                    "no answer within {:?} (tools.mcp_servers.{}.timeout)",
                    self.timeout, self.server
                )))
            }
            Ok(Err(e)) => return Err(self.unavailable(e.to_string())),
            Ok(Ok(result)) => result,
        };
        let args = serde_json::Value::Object(arguments);
        if result.is_error == Some(true) {
            let text = texts(&result.content).join("\n");
            let message = if text.trim().is_empty() {
                "the tool reported an error".to_string()
            } else {
                format!("the tool reported an error: {}", clip(&text, 500))
            };
            return Err(self.unavailable(message));
        }
        let passages = self.passages(&args, &result.content);
        let note = passages
            .is_empty()
            .then(|| format!("{} returned no text.", self.spec.name));
        Ok(ToolOutput { passages, note })
    }
}

impl McpTool {
    fn passages(&self, args: &serde_json::Value, content: &[ContentBlock]) -> Vec<Passage> {
        let title = format!("{} {}: {}", self.server, self.tool, args_summary(args));
        let links: Vec<&str> = content
            .iter()
            .filter_map(|c| match c {
                ContentBlock::ResourceLink(r) => Some(r.uri.as_str()),
                _ => None,
            })
            .collect();
        let text_items = content
            .iter()
            .filter(|c| matches!(c, ContentBlock::Text(_)))
            .count();
        let mut text_index = 0;
        let mut out = Vec::new();
        for item in content {
            let (text, uri) = match item {
                ContentBlock::Text(t) => {
                    // A link per text item pairs them in order; one link for one text is
                    // that text's source. Otherwise links do not say which text is whose.
                    let uri = (links.len() == text_items)
                        .then(|| links.get(text_index))
                        .flatten();
                    text_index += 1;
                    (t.text.as_str(), uri.map(|u| u.to_string()))
                }
                ContentBlock::Resource(r) => match &r.resource {
                    ResourceContents::TextResourceContents { uri, text, .. } => {
                        (text.as_str(), Some(uri.clone()))
                    }
                    _ => continue,
                },
                _ => continue,
            };
            if text.trim().is_empty() {
                continue;
            }
            let uri = uri.unwrap_or_else(|| self.fallback_uri(args, text));
            out.push(Passage {
                uri,
                title: Some(title.clone()),
                text: text.to_string(),
                kind: SourceKind::Mcp,
                origin: self.server.clone(),
                score: None,
            });
        }
        out
    }

    fn fallback_uri(&self, args: &serde_json::Value, text: &str) -> String {
        let seed = format!("{args}\n{text}");
        let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes()).simple();
        let hash = hash.to_string();
        let short = hash.get(..16).unwrap_or(&hash);
        format!(
            "mcp://{}/{}/{short}",
            uri_segment(&self.server),
            uri_segment(&self.tool)
        )
    }
}

/// `<server>__<tool>` in the model APIs' function-name alphabet, at most 64 characters.
pub fn tool_name(server: &str, tool: &str) -> String {
    format!("{server}__{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// Whether a schema is exactly `{"query": string}`, required: then classic mode can send it
/// the step's search queries.
fn is_query_schema(schema: &serde_json::Value) -> bool {
    let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
        return false;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    properties.len() == 1
        && properties
            .get("query")
            .and_then(|q| q.get("type"))
            .and_then(|t| t.as_str())
            == Some("string")
        && required == ["query"]
}

fn texts(content: &[ContentBlock]) -> Vec<&str> {
    content
        .iter()
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.as_str()),
            _ => None,
        })
        .collect()
}

/// The arguments for a title: a lone string argument as itself, else compact JSON; clipped.
fn args_summary(args: &serde_json::Value) -> String {
    let text = match args.as_object() {
        Some(map) if map.len() == 1 => match map.values().next() {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => args.to_string(),
        },
        Some(map) if map.is_empty() => "no arguments".to_string(),
        _ => args.to_string(),
    };
    clip(&text, 80)
}

/// At most `max` characters, with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or(text)),
        None => text.to_string(),
    }
}

fn uri_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_names_keep_the_model_alphabet_and_length() {
        assert_eq!(tool_name("files", "read_file"), "files__read_file");
        assert_eq!(
            tool_name("my server", "get.doc/v2"),
            "my_server__get_doc_v2"
        );
        assert_eq!(tool_name("é", "ü"), "____");
        let long = tool_name(&"s".repeat(40), &"t".repeat(40));
        assert_eq!(long.len(), 64);
    }

    #[test]
    fn only_a_lone_required_string_query_takes_queries() {
        let query = json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]});
        assert!(is_query_schema(&query));
        for other in [
            json!({"type": "object", "properties": {"query": {"type": "string"}}}),
            json!({"type": "object", "properties": {"query": {"type": "integer"}}, "required": ["query"]}),
            json!({"type": "object", "properties": {"query": {"type": "string"}, "k": {"type": "integer"}}, "required": ["query"]}),
            json!({"type": "object"}),
        ] {
            assert!(!is_query_schema(&other), "{other}");
        }
    }

    #[test]
    fn summaries_are_clipped_at_characters() {
        assert_eq!(args_summary(&json!({"query": "rivers"})), "rivers");
        assert_eq!(args_summary(&json!({})), "no arguments");
        assert_eq!(clip(&"é".repeat(100), 3), "ééé…");
        assert_eq!(
            args_summary(&json!({"a": 1, "b": "x"})),
            r#"{"a":1,"b":"x"}"#
        );
    }
}
