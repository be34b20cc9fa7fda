//! Research tools beyond the web: private sources an administrator declares under `tools:`
//! (Databricks Vector Search indexes, Knowledge Assistant endpoints, local folders, MCP
//! servers). Each tool answers a call with [`Passage`]s: text with a URI and a
//! [`SourceKind`], which the engine registers as numbered sources exactly like fetched
//! pages, so a private passage is quoted, verified and kept in provenance by the same rules.
//!
//! The engine sees tools only through [`ResearchTool`] and the [`Toolset`] built from the
//! configuration; it knows nothing of Databricks, files or MCP.

pub mod build;
pub mod config;
pub mod knowledge_assistant;
pub mod local;
pub mod mcp;
pub mod vector_search;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::llm::ToolSpec;

pub use config::ToolsSection;
pub use knowledge_assistant::KnowledgeAssistantTool;
pub use local::{LocalDocsError, LocalDocsTool};
pub use vector_search::VectorSearchTool;

/// Where a source's text came from: the `source_type` of provenance and the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A fetched web page.
    #[default]
    Web,
    /// A row of a Databricks Vector Search index.
    VectorSearch,
    /// An answer of a Databricks Knowledge Assistant endpoint.
    KnowledgeAssistant,
    /// A file of a local folder (`--docs`, `tools.local_docs`).
    Local,
    /// Text returned by a tool of an MCP server.
    Mcp,
}

impl SourceKind {
    /// The wire name, as `source_type` stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Web => "web",
            SourceKind::VectorSearch => "vector_search",
            SourceKind::KnowledgeAssistant => "knowledge_assistant",
            SourceKind::Local => "local",
            SourceKind::Mcp => "mcp",
        }
    }

    pub fn is_web(&self) -> bool {
        *self == SourceKind::Web
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of text a tool returned, citable as a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// What identifies the passage as a source, and what a citation links to: an `https://`
    /// URL a row names, a `file://` path, or a tool-specific URI such as
    /// `vector-search://main.docs.index/42`. Two passages with one URI are one source.
    pub uri: String,
    pub title: Option<String>,
    /// The text, exactly as the tool returned it: evidence quotes it by offset.
    pub text: String,
    pub kind: SourceKind,
    /// Where it came from, for people: the index, endpoint, folder or server name.
    pub origin: String,
    /// The tool's relevance score, when it gives one.
    pub score: Option<f64>,
}

/// What one tool call produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOutput {
    /// The citable passages, best first.
    pub passages: Vec<Passage>,
    /// Text for the model that is not itself a source (e.g. a notice that nothing matched).
    pub note: Option<String>,
}

/// Why a tool call gave nothing. The message goes to the model and the event log, so it
/// must never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema.
    #[error("bad arguments: {0}")]
    Arguments(String),
    /// The service behind the tool failed or cannot be reached; research goes on without it.
    #[error("{tool} is unavailable: {message}")]
    Unavailable { tool: String, message: String },
}

impl ToolError {
    /// The service behind `tool` failed: `message` says how, with anything secret-looking
    /// scrubbed, since it reaches the model, the events and the log.
    pub fn unavailable(tool: &str, message: &str) -> ToolError {
        ToolError::Unavailable {
            tool: tool.to_string(),
            message: crate::redact::scrub(message).into_owned(),
        }
    }
}

/// A tool the researcher can call.
#[async_trait]
pub trait ResearchTool: Send + Sync {
    /// Name, description and JSON-schema parameters, as offered to the model.
    fn spec(&self) -> &ToolSpec;
    /// The kind of source its passages are.
    fn kind(&self) -> SourceKind;
    /// Whether it takes `{"query": "..."}`, so classic mode can query it with the step's
    /// search queries (MCP tools have their own schemas and are offered in ReAct mode only).
    fn takes_query(&self) -> bool {
        true
    }
    /// Run one call with the model's JSON arguments.
    async fn call(&self, arguments: &serde_json::Value) -> Result<ToolOutput, ToolError>;
}

/// The configured tools of a run, by name.
#[derive(Clone, Default)]
pub struct Toolset {
    tools: Vec<Arc<dyn ResearchTool>>,
}

impl fmt::Debug for Toolset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Toolset {
    /// A set of these tools; a later tool with an earlier one's name is left out.
    pub fn new(tools: Vec<Arc<dyn ResearchTool>>) -> Toolset {
        let mut set = Toolset::default();
        for tool in tools {
            set.push(tool);
        }
        set
    }

    /// Add a tool unless one of that name is there already; returns whether it was added.
    pub fn push(&mut self, tool: Arc<dyn ResearchTool>) -> bool {
        if self.get(&tool.spec().name).is_some() {
            tracing::warn!(tool = %tool.spec().name, "a second tool of this name is left out");
            return false;
        }
        self.tools.push(tool);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn ResearchTool>> {
        self.tools.iter().find(|t| t.spec().name == name)
    }

    /// Every tool, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ResearchTool>> {
        self.tools.iter()
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.spec().name.as_str()).collect()
    }

    /// Every tool's spec, in configuration order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec().clone()).collect()
    }

    /// The tools classic mode queries alongside web search.
    pub fn query_tools(&self) -> impl Iterator<Item = &Arc<dyn ResearchTool>> {
        self.tools.iter().filter(|t| t.takes_query())
    }
}

/// `{"query": "..."}` as a tool's parameters schema, with an optional result count.
pub fn query_parameters(max_results: Option<u32>) -> serde_json::Value {
    let mut properties = serde_json::json!({
        "query": {"type": "string", "description": "What to look for, in natural language."}
    });
    if let Some(max) = max_results {
        properties["num_results"] = serde_json::json!({
            "type": "integer",
            "minimum": 1,
            "maximum": max,
            "description": format!("How many results to return (at most {max})."),
        });
    }
    serde_json::json!({"type": "object", "properties": properties, "required": ["query"]})
}

/// The `query` (trimmed, non-empty) and optional `num_results` of a call's arguments.
pub fn query_arguments(arguments: &serde_json::Value) -> Result<(String, Option<u32>), ToolError> {
    let query = arguments
        .get("query")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .ok_or_else(|| {
            ToolError::Arguments(r#"send {"query": "..."} with a non-empty query"#.into())
        })?;
    let count = match arguments.get("num_results") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    ToolError::Arguments("num_results must be a positive integer".into())
                })?,
        ),
    };
    Ok((query.to_string(), count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_arguments_want_a_non_empty_query_and_a_positive_count() {
        assert_eq!(
            query_arguments(&json!({"query": "  q  "})).unwrap(),
            ("q".to_string(), None)
        );
        assert_eq!(
            query_arguments(&json!({"query": "q", "num_results": 3})).unwrap(),
            ("q".to_string(), Some(3))
        );
        for bad in [
            json!({}),
            json!({"query": " "}),
            json!({"query": "q", "num_results": 0}),
            json!({"query": "q", "num_results": "3"}),
        ] {
            assert!(
                matches!(query_arguments(&bad), Err(ToolError::Arguments(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn source_kinds_have_their_wire_names() {
        for kind in [
            SourceKind::Web,
            SourceKind::VectorSearch,
            SourceKind::KnowledgeAssistant,
            SourceKind::Local,
            SourceKind::Mcp,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }
}
