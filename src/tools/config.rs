//! The `tools:` configuration section: private sources and MCP servers the researcher may
//! call. Every entry is off until declared; a declared entry that cannot work is a startup
//! error naming its key (see [`ToolsSection::problems`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `tools:` in the configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ToolsSection {
    /// Databricks Vector Search indexes by name; each is a `search_<name>` tool.
    pub vector_search: BTreeMap<String, VectorSearchIndex>,
    /// Databricks Knowledge Assistant endpoints by name; each is a `retrieve_<name>` tool.
    pub knowledge_assistants: BTreeMap<String, KnowledgeAssistant>,
    /// Local folders indexed at start and searched by one `search_local` tool.
    pub local_docs: LocalDocs,
    /// MCP servers by name; their tools are offered to the ReAct researcher.
    pub mcp_servers: BTreeMap<String, McpServer>,
}

/// One Vector Search index (the original's `vector_search.endpoints.<name>`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct VectorSearchIndex {
    pub enabled: bool,
    /// The Vector Search endpoint that serves the index.
    pub endpoint: String,
    /// The index's full name, `catalog.schema.index`.
    pub index: String,
    /// What the model is told the index holds; a generic sentence naming the index if unset.
    pub description: Option<String>,
    /// Columns to return; the text, title, URL and id columns are added when missing.
    pub columns: Vec<String>,
    /// The column whose text is the passage.
    pub text_column: String,
    /// The column that titles a row, when the index has one.
    pub title_column: Option<String>,
    /// The column with a row's link, when the index has one; the passage's URI then.
    pub url_column: Option<String>,
    /// The primary-key column, so a row's URI is stable; without it the text is hashed.
    pub id_column: Option<String>,
    /// Filters applied to every query (`filters_json` of the query API).
    pub filters: Option<serde_json::Map<String, serde_json::Value>>,
    /// Rows per query unless the model asks for fewer (1 to 100).
    pub num_results: u32,
}

impl Default for VectorSearchIndex {
    fn default() -> Self {
        VectorSearchIndex {
            enabled: true,
            endpoint: String::new(),
            index: String::new(),
            description: None,
            columns: Vec::new(),
            text_column: "content".into(),
            title_column: Some("title".into()),
            url_column: Some("url".into()),
            id_column: None,
            filters: None,
            num_results: 5,
        }
    }
}

/// One Knowledge Assistant serving endpoint (the original's
/// `knowledge_assistants.endpoints.<name>`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct KnowledgeAssistant {
    pub enabled: bool,
    /// The serving endpoint's name.
    pub endpoint: String,
    pub description: Option<String>,
    /// Longest answer asked for, in tokens (1 to 8000).
    pub max_tokens: u32,
    /// Limit for one call; an assistant can take a while to retrieve and answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for KnowledgeAssistant {
    fn default() -> Self {
        KnowledgeAssistant {
            enabled: true,
            endpoint: String::new(),
            description: None,
            max_tokens: 2000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// `tools.local_docs`: folders of markdown, text, HTML and PDF files (`--docs DIR` adds one).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LocalDocs {
    /// Folders, searched recursively; relative paths are taken from the working directory.
    pub paths: Vec<PathBuf>,
    pub description: Option<String>,
    /// Passages per query unless the model asks for fewer (1 to 100).
    pub num_results: u32,
    /// Files larger than this are skipped with a warning.
    pub max_file_bytes: u64,
    /// Characters per indexed passage (files are split at paragraph bounds near it).
    pub chunk_chars: usize,
    /// Rank with the `embeddings:` endpoint as well as BM25, when one is configured.
    pub use_embeddings: bool,
}

impl Default for LocalDocs {
    fn default() -> Self {
        LocalDocs {
            paths: Vec::new(),
            description: None,
            num_results: 5,
            max_file_bytes: 20 * 1024 * 1024,
            chunk_chars: 1500,
            use_embeddings: true,
        }
    }
}

/// One MCP server: a command to start (stdio) or a streamable HTTP URL, not both.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct McpServer {
    pub enabled: bool,
    /// The program to start, speaking MCP on its stdin and stdout.
    pub command: Option<String>,
    pub args: Vec<String>,
    /// Extra environment for the command (values may use `${VAR}`).
    pub env: BTreeMap<String, String>,
    /// The server's streamable HTTP endpoint, e.g. `https://host/mcp`.
    pub url: Option<String>,
    /// Extra request headers for `url` (e.g. `Authorization: Bearer ${TOKEN}`).
    pub headers: BTreeMap<String, String>,
    /// Only these of the server's tools are offered; all when empty.
    pub tools: Vec<String>,
    /// Limit for connecting and for one tool call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for McpServer {
    fn default() -> Self {
        McpServer {
            enabled: true,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            url: None,
            headers: BTreeMap::new(),
            tools: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A configuration problem: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolProblem {
    pub key: String,
    pub message: String,
}

impl ToolsSection {
    /// Every problem with the declared tools, in key order; empty when all can be built.
    pub fn problems(&self) -> Vec<ToolProblem> {
        let mut out = Vec::new();
        let mut bad = |key: String, message: String| out.push(ToolProblem { key, message });
        for (name, vs) in &self.vector_search {
            let key = format!("tools.vector_search.{name}");
            check_name(&key, "search_", name, &mut bad);
            if vs.endpoint.trim().is_empty() {
                bad(
                    format!("{key}.endpoint"),
                    "is required: the Vector Search endpoint's name".into(),
                );
            }
            if !is_three_part_name(&vs.index) {
                bad(
                    format!("{key}.index"),
                    format!(
                        "`{}` is not a full index name `catalog.schema.index`",
                        vs.index
                    ),
                );
            }
            if vs.text_column.trim().is_empty() {
                bad(
                    format!("{key}.text_column"),
                    "must name the column that holds the text".into(),
                );
            }
            if !(1..=100).contains(&vs.num_results) {
                bad(
                    format!("{key}.num_results"),
                    format!("`{}` must be between 1 and 100", vs.num_results),
                );
            }
        }
        for (name, ka) in &self.knowledge_assistants {
            let key = format!("tools.knowledge_assistants.{name}");
            check_name(&key, "retrieve_", name, &mut bad);
            if ka.endpoint.trim().is_empty() {
                bad(
                    format!("{key}.endpoint"),
                    "is required: the serving endpoint's name".into(),
                );
            }
            if !(1..=8000).contains(&ka.max_tokens) {
                bad(
                    format!("{key}.max_tokens"),
                    format!("`{}` must be between 1 and 8000", ka.max_tokens),
                );
            }
            if ka.timeout.is_zero() {
                bad(
                    format!("{key}.timeout"),
                    "must be longer than 0s, e.g. 120s".into(),
                );
            }
        }
        let local = &self.local_docs;
        for (i, path) in local.paths.iter().enumerate() {
            if !path.is_dir() {
                bad(
                    format!("tools.local_docs.paths[{i}]"),
                    format!("`{}` is not a readable folder", path.display()),
                );
            }
        }
        if !(1..=100).contains(&local.num_results) {
            bad(
                "tools.local_docs.num_results".into(),
                format!("`{}` must be between 1 and 100", local.num_results),
            );
        }
        if local.chunk_chars < 200 {
            bad(
                "tools.local_docs.chunk_chars".into(),
                format!("`{}` must be at least 200", local.chunk_chars),
            );
        }
        for (name, mcp) in &self.mcp_servers {
            let key = format!("tools.mcp_servers.{name}");
            match (&mcp.command, &mcp.url) {
                (Some(_), Some(_)) => bad(
                    key.clone(),
                    "set `command` (stdio) or `url` (streamable HTTP), not both".into(),
                ),
                (None, None) => bad(
                    key.clone(),
                    "needs `command` (stdio) or `url` (streamable HTTP)".into(),
                ),
                (Some(c), None) if c.trim().is_empty() => {
                    bad(format!("{key}.command"), "is empty".into())
                }
                (None, Some(u)) if !is_http_url(u) => {
                    bad(format!("{key}.url"), format!("`{u}` is not an http(s) URL"))
                }
                _ => {}
            }
            if mcp.timeout.is_zero() {
                bad(
                    format!("{key}.timeout"),
                    "must be longer than 0s, e.g. 60s".into(),
                );
            }
        }
        out
    }

    /// Whether any tool is declared (enabled or not).
    pub fn is_empty(&self) -> bool {
        self.vector_search.is_empty()
            && self.knowledge_assistants.is_empty()
            && self.local_docs.paths.is_empty()
            && self.mcp_servers.is_empty()
    }
}

/// Tool names are `<prefix><name>`: the model's function-name rules (letters, digits, `_`,
/// at most 64) and the original's `^[a-z][a-z0-9_]*$`.
fn check_name(key: &str, prefix: &str, name: &str, bad: &mut impl FnMut(String, String)) {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && prefix.len() + name.len() <= 64;
    if !ok {
        bad(
            key.to_string(),
            format!("the name `{name}` must be lowercase letters, digits and `_`, start with a letter, and make a tool name `{prefix}{name}` of at most 64 characters"),
        );
    }
}

fn is_three_part_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.trim().is_empty() && !p.contains(char::is_whitespace))
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(yaml: &str) -> Vec<String> {
        let section: ToolsSection = yaml_serde::from_str(yaml).unwrap();
        section.problems().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn an_empty_section_has_no_problem() {
        assert!(ToolsSection::default().problems().is_empty());
    }

    #[test]
    fn each_bad_entry_is_named_by_its_key() {
        let yaml = r#"
vector_search:
  Docs: {endpoint: "", index: "main.docs", num_results: 0}
knowledge_assistants:
  expert: {endpoint: "", max_tokens: 9000}
local_docs:
  paths: [/no/such/folder]
mcp_servers:
  both: {command: x, url: "http://h/mcp"}
  none: {}
  ftp: {url: "ftp://h/mcp"}
"#;
        assert_eq!(
            keys(yaml),
            [
                "tools.vector_search.Docs",
                "tools.vector_search.Docs.endpoint",
                "tools.vector_search.Docs.index",
                "tools.vector_search.Docs.num_results",
                "tools.knowledge_assistants.expert.endpoint",
                "tools.knowledge_assistants.expert.max_tokens",
                "tools.local_docs.paths[0]",
                "tools.mcp_servers.both",
                "tools.mcp_servers.ftp.url",
                "tools.mcp_servers.none",
            ]
        );
    }

    #[test]
    fn a_good_entry_of_each_kind_passes() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            r#"
vector_search:
  product_docs: {{endpoint: vs-prod, index: main.docs.product_index}}
knowledge_assistants:
  product_expert: {{endpoint: ka-product}}
local_docs:
  paths: ["{}"]
mcp_servers:
  files: {{command: mcp-files, args: ["--root", "/srv"]}}
  remote: {{url: "https://mcp.example.com/mcp"}}
"#,
            dir.path().display()
        );
        assert_eq!(keys(&yaml), Vec::<String>::new());
    }
}
