//! The [`Toolset`] of a `tools:` section: each enabled entry turned into its tools, once at
//! start, so a broken entry stops `dra research` or `dra serve` before any run with a
//! message that names its key.

use std::sync::Arc;

use super::config::ToolsSection;
use super::knowledge_assistant::KnowledgeAssistantTool;
use super::local::{LocalDocsError, LocalDocsTool};
use super::mcp::McpError;
use super::vector_search::VectorSearchTool;
use super::{ResearchTool, Toolset};
use crate::databricks::{AuthError, WorkspaceClient};
use crate::llm::EmbeddingsClient;

/// What building needs from outside: Databricks credentials (only asked for when a Vector
/// Search or Knowledge Assistant entry is enabled) and the embeddings endpoint, if any.
pub struct BuildDeps<W> {
    pub workspace: W,
    pub embeddings: Option<EmbeddingsClient>,
}

/// The tools, and one line per source for people (e.g. what was indexed).
#[derive(Debug, Default)]
pub struct Built {
    pub toolset: Toolset,
    pub summary: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{key} needs Databricks credentials (DATABRICKS_HOST with a token, a service principal or a profile): {source}")]
    Databricks {
        key: String,
        #[source]
        source: AuthError,
    },
    #[error("tools.local_docs: {0}")]
    LocalDocs(#[from] LocalDocsError),
    #[error("tools.mcp_servers.{name}: {source}")]
    Mcp {
        name: String,
        #[source]
        source: McpError,
    },
}

/// Build every enabled tool of `section`.
pub async fn build<W>(section: &ToolsSection, deps: BuildDeps<W>) -> Result<Built, BuildError>
where
    W: FnOnce() -> Result<WorkspaceClient, AuthError>,
{
    let mut tools: Vec<Arc<dyn ResearchTool>> = Vec::new();
    let mut summary = Vec::new();

    let databricks_key = section
        .vector_search
        .iter()
        .find(|(_, c)| c.enabled)
        .map(|(name, _)| format!("tools.vector_search.{name}"))
        .or_else(|| {
            section
                .knowledge_assistants
                .iter()
                .find(|(_, c)| c.enabled)
                .map(|(name, _)| format!("tools.knowledge_assistants.{name}"))
        });
    if let Some(key) = databricks_key {
        let client = (deps.workspace)().map_err(|source| BuildError::Databricks { key, source })?;
        for (name, config) in section.vector_search.iter().filter(|(_, c)| c.enabled) {
            tools.push(Arc::new(VectorSearchTool::new(
                name,
                config,
                client.clone(),
            )));
            summary.push(format!(
                "search_{name}: Vector Search index {}",
                config.index
            ));
        }
        for (name, config) in section
            .knowledge_assistants
            .iter()
            .filter(|(_, c)| c.enabled)
        {
            tools.push(Arc::new(KnowledgeAssistantTool::new(
                name,
                config,
                client.clone(),
            )));
            summary.push(format!(
                "retrieve_{name}: Knowledge Assistant {}",
                config.endpoint
            ));
        }
    }

    let local = &section.local_docs;
    if !local.paths.is_empty() {
        let embeddings = deps.embeddings.filter(|_| local.use_embeddings);
        let tool = LocalDocsTool::index(local, embeddings).await?;
        summary.push(format!("search_local: {}", tool.summary()));
        tools.push(Arc::new(tool));
    }

    // Servers start at once: one slow server costs its own timeout, not the sum of all.
    let servers: Vec<_> = section
        .mcp_servers
        .iter()
        .filter(|(_, c)| c.enabled)
        .collect();
    let connected = futures::future::join_all(
        servers
            .iter()
            .map(|(name, config)| super::mcp::connect(name, config)),
    )
    .await;
    for ((name, _), result) in servers.iter().zip(connected) {
        let connection = result.map_err(|source| BuildError::Mcp {
            name: name.to_string(),
            source,
        })?;
        let offered = connection.tools();
        let names: Vec<String> = offered.iter().map(|t| t.spec().name.clone()).collect();
        summary.push(format!(
            "MCP server {name}: {} {} ({})",
            names.len(),
            if names.len() == 1 { "tool" } else { "tools" },
            names.join(", ")
        ));
        tools.extend(offered);
    }

    Ok(Built {
        toolset: Toolset::new(tools),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::config::VectorSearchIndex;

    fn no_credentials() -> Result<WorkspaceClient, AuthError> {
        Err(AuthError::NoCredentials {
            attempts: Vec::new(),
        })
    }

    fn index(enabled: bool) -> VectorSearchIndex {
        VectorSearchIndex {
            enabled,
            endpoint: "vs".into(),
            index: "main.docs.chunks".into(),
            ..VectorSearchIndex::default()
        }
    }

    #[tokio::test]
    async fn disabled_entries_are_left_out_and_ask_for_no_credentials() {
        let mut section = ToolsSection::default();
        section.vector_search.insert("docs".into(), index(false));
        let asked = std::cell::Cell::new(false);
        let built = build(
            &section,
            BuildDeps {
                workspace: || {
                    asked.set(true);
                    no_credentials()
                },
                embeddings: None,
            },
        )
        .await
        .unwrap();
        assert!(built.toolset.is_empty());
        assert!(built.summary.is_empty());
        assert!(!asked.get());
    }

    #[tokio::test]
    async fn an_enabled_index_without_credentials_names_its_key() {
        let mut section = ToolsSection::default();
        section.vector_search.insert("docs".into(), index(true));
        let err = build(
            &section,
            BuildDeps {
                workspace: no_credentials,
                embeddings: None,
            },
        )
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("tools.vector_search.docs needs Databricks credentials"),
            "{message}"
        );
    }
}
