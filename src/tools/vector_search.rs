//! `search_<name>`: a Databricks Vector Search index queried by text through the workspace
//! REST API (`POST /api/2.0/vector-search/indexes/{index}/query`), each row a passage.
//!
//! The index embeds the query itself (a Delta Sync index with a model endpoint), so the
//! tool sends `query_text`; the Vector Search endpoint that serves the index is found by
//! the workspace from the index name.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::VectorSearchIndex;
use super::{
    query_arguments, query_parameters, Passage, ResearchTool, SourceKind, ToolError, ToolOutput,
};
use crate::databricks::{ApiError, WorkspaceClient};
use crate::llm::ToolSpec;

/// One configured index as a research tool.
pub struct VectorSearchTool {
    spec: ToolSpec,
    index: String,
    /// The columns asked for: the configured ones, then the text, title, URL and id columns.
    columns: Vec<String>,
    text_column: String,
    title_column: Option<String>,
    url_column: Option<String>,
    id_column: Option<String>,
    /// `filters_json` as sent: the configured filters serialized once.
    filters_json: Option<String>,
    max_results: u32,
    client: WorkspaceClient,
}

/// The query API's request body.
#[derive(Debug, Serialize)]
struct QueryRequest<'a> {
    query_text: &'a str,
    columns: &'a [String],
    num_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters_json: Option<&'a str>,
}

/// The query API's answer: column names in `manifest`, rows in `result.data_array`, each
/// row's similarity score appended as its last value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct QueryResponse {
    manifest: Manifest,
    result: ResultData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Manifest {
    columns: Vec<ColumnInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ColumnInfo {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultData {
    data_array: Vec<Vec<Value>>,
}

impl VectorSearchTool {
    /// The tool `search_<name>` over the index `config` names, queried with `client`.
    pub fn new(
        name: &str,
        config: &VectorSearchIndex,
        client: WorkspaceClient,
    ) -> VectorSearchTool {
        let mut columns: Vec<String> = Vec::new();
        let wanted = config
            .columns
            .iter()
            .chain(std::iter::once(&config.text_column))
            .chain(config.title_column.iter())
            .chain(config.url_column.iter())
            .chain(config.id_column.iter());
        for column in wanted {
            let column = column.trim();
            if !column.is_empty() && !columns.iter().any(|c| c == column) {
                columns.push(column.to_string());
            }
        }
        let filters_json = config
            .filters
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(|f| Value::Object(f.clone()).to_string());
        let description = config.description.clone().unwrap_or_else(|| {
            format!(
                "Search the private Databricks Vector Search index `{}` for passages relevant to a query.",
                config.index
            )
        });
        VectorSearchTool {
            spec: ToolSpec {
                name: format!("search_{name}"),
                description,
                parameters: query_parameters(Some(config.num_results)),
            },
            index: config.index.clone(),
            columns,
            text_column: config.text_column.trim().to_string(),
            title_column: non_empty(&config.title_column),
            url_column: non_empty(&config.url_column),
            id_column: non_empty(&config.id_column),
            filters_json,
            max_results: config.num_results,
            client,
        }
    }

    fn unavailable(&self, message: String) -> ToolError {
        ToolError::unavailable(&self.spec.name, &message)
    }

    /// What a failed query means for this index, in words that say what to check.
    fn explain(&self, error: ApiError) -> ToolError {
        let index = &self.index;
        match error {
            ApiError::NotFound { message, .. } => self.unavailable(format!(
                "Vector Search index `{index}` not found ({message}); check tools.vector_search index names"
            )),
            ApiError::PermissionDenied { message, .. } => self.unavailable(format!(
                "no permission to query Vector Search index `{index}` ({message}); the identity needs USE CATALOG, USE SCHEMA and SELECT on it"
            )),
            other => self.unavailable(format!("querying Vector Search index `{index}` failed: {other}")),
        }
    }

    /// The rows of an answer as passages, in the index's order, one per URI.
    fn passages(&self, response: QueryResponse) -> Vec<Passage> {
        let names: Vec<&str> = response
            .manifest
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let position = |column: &Option<String>| {
            column
                .as_deref()
                .and_then(|c| names.iter().position(|n| *n == c))
        };
        let text_at = names.iter().position(|n| *n == self.text_column);
        let title_at = position(&self.title_column);
        let url_at = position(&self.url_column);
        let id_at = position(&self.id_column);
        // The score is not a column one can ask for: it is named `score` at the end of the
        // manifest, or (in older answers) only present as an extra last value.
        let score_at = names
            .iter()
            .rposition(|n| *n == "score")
            .filter(|_| !self.columns.iter().any(|c| c == "score"));
        let mut out: Vec<Passage> = Vec::new();
        for row in &response.result.data_array {
            let Some(text) = text_at
                .and_then(|i| row.get(i))
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
            else {
                continue;
            };
            let id = id_at.and_then(|i| row.get(i)).and_then(scalar);
            let key = id.clone().unwrap_or_else(|| stable_hash(text));
            let uri = url_at
                .and_then(|i| row.get(i))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|u| is_http_url(u))
                .map(str::to_string)
                .unwrap_or_else(|| format!("vector-search://{}/{key}", self.index));
            if out.iter().any(|p| p.uri == uri) {
                continue;
            }
            let title = title_at
                .and_then(|i| row.get(i))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} row {key}", self.index));
            let score = match score_at {
                Some(i) => row.get(i),
                None if row.len() > names.len() => row.last(),
                None => None,
            }
            .and_then(Value::as_f64);
            out.push(Passage {
                uri,
                title: Some(title),
                text: text.to_string(),
                kind: SourceKind::VectorSearch,
                origin: self.index.clone(),
                score,
            });
        }
        out
    }
}

#[async_trait]
impl ResearchTool for VectorSearchTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn kind(&self) -> SourceKind {
        SourceKind::VectorSearch
    }

    async fn call(&self, arguments: &Value) -> Result<ToolOutput, ToolError> {
        let (query, asked) = query_arguments(arguments)?;
        let body = QueryRequest {
            query_text: &query,
            columns: &self.columns,
            num_results: asked.map_or(self.max_results, |n| n.min(self.max_results)),
            filters_json: self.filters_json.as_deref(),
        };
        let path = format!(
            "/api/2.0/vector-search/indexes/{}/query",
            percent_encoding::utf8_percent_encode(&self.index, PATH_SEGMENT)
        );
        let what = format!("Vector Search index `{}`", self.index);
        let response: QueryResponse = self
            .client
            .post(&path, &body, &what)
            .await
            .map_err(|e| self.explain(e))?;
        let passages = self.passages(response);
        let note = passages
            .is_empty()
            .then(|| format!("No rows of the index `{}` matched this query.", self.index));
        Ok(ToolOutput { passages, note })
    }
}

/// Characters escaped in a path segment: everything but unreserved ones (an index name is
/// `catalog.schema.index`, whose parts may hold characters a URL path cannot).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

fn non_empty(column: &Option<String>) -> Option<String> {
    column
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// A primary key as text: strings as they are, numbers as written.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// A short name for text that stays the same across runs and processes (unlike std's
/// randomly seeded hasher): the first 16 hex digits of its UUIDv5.
pub(super) fn stable_hash(text: &str) -> String {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, text.as_bytes());
    id.simple().to_string().chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(config: VectorSearchIndex) -> VectorSearchTool {
        let env: crate::env::Env = [
            (
                "DATABRICKS_HOST".to_string(),
                "https://ws.example.com".to_string(),
            ),
            ("DATABRICKS_TOKEN".to_string(), "dapi-test".to_string()),
        ]
        .into_iter()
        .collect();
        let auth = crate::databricks::DatabricksAuth::resolve(&Default::default(), &env).unwrap();
        VectorSearchTool::new(
            "docs",
            &config,
            WorkspaceClient::new(std::sync::Arc::new(auth)),
        )
    }

    fn config() -> VectorSearchIndex {
        VectorSearchIndex {
            endpoint: "vs".into(),
            index: "main.docs.chunks".into(),
            columns: vec!["section".into(), "content".into()],
            id_column: Some("chunk_id".into()),
            ..VectorSearchIndex::default()
        }
    }

    #[test]
    fn columns_add_the_text_title_url_and_id_columns_once() {
        let t = tool(config());
        assert_eq!(
            t.columns,
            ["section", "content", "title", "url", "chunk_id"]
        );
        assert_eq!(t.spec.name, "search_docs");
        assert_eq!(t.spec.parameters["properties"]["num_results"]["maximum"], 5);
    }

    #[test]
    fn rows_become_passages_with_stable_uris() {
        let t = tool(config());
        let response: QueryResponse = serde_json::from_value(json!({
            "manifest": {"column_count": 6, "columns": [
                {"name": "section"}, {"name": "content"}, {"name": "title"}, {"name": "url"},
                {"name": "chunk_id"}, {"name": "score"}
            ]},
            "result": {"row_count": 4, "data_array": [
                ["a", "Linked text", "Linked", "https://docs.example.com/a", 1, 0.9],
                ["b", "Unlinked text", null, "s3://bucket/b", "b-7", 0.8],
                ["c", null, "No text", null, 3, 0.7],
                ["d", "Linked text again", "Linked", "https://docs.example.com/a", 4, 0.6]
            ]}
        }))
        .unwrap();
        let passages = t.passages(response);
        assert_eq!(passages.len(), 2, "{passages:?}");
        assert_eq!(passages[0].uri, "https://docs.example.com/a");
        assert_eq!(passages[0].score, Some(0.9));
        assert_eq!(passages[1].uri, "vector-search://main.docs.chunks/b-7");
        assert_eq!(
            passages[1].title.as_deref(),
            Some("main.docs.chunks row b-7")
        );
        assert_eq!(passages[1].origin, "main.docs.chunks");
    }

    #[test]
    fn a_row_without_an_id_is_named_by_its_text_and_a_bare_score_is_read() {
        let t = tool(VectorSearchIndex {
            id_column: None,
            ..config()
        });
        let response: QueryResponse = serde_json::from_value(json!({
            "manifest": {"columns": [{"name": "content"}]},
            "result": {"data_array": [["Some text", 0.5]]}
        }))
        .unwrap();
        let passages = t.passages(response);
        assert_eq!(
            passages[0].uri,
            format!(
                "vector-search://main.docs.chunks/{}",
                stable_hash("Some text")
            )
        );
        assert_eq!(passages[0].score, Some(0.5));
        assert_eq!(stable_hash("Some text"), stable_hash("Some text"));
        assert_ne!(stable_hash("Some text"), stable_hash("Other text"));
    }

    #[test]
    fn server_messages_are_scrubbed_of_tokens() {
        let t = tool(config());
        let err = t.explain(ApiError::Status {
            method: reqwest::Method::POST,
            path: "/x".into(),
            status: reqwest::StatusCode::BAD_REQUEST,
            code: None,
            message: "bad header Bearer dapi0123456789abcdef0123456789abcdef".into(),
        });
        assert!(!err.to_string().contains("dapi0123"), "{err}");
    }
}
