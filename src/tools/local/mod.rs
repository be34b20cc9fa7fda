//! `search_local`: folders of markdown, text, HTML and PDF files (`--docs DIR`,
//! `tools.local_docs`), read and indexed once at start, searched by BM25 and, when an
//! embeddings endpoint is configured, by embeddings as well (the two rankings fused).
//!
//! A passage's URI is its file's `file://` URL with an RFC 5147 fragment,
//! `#char=START,END`: the passage's character offsets in the file's extracted text (for
//! markdown and plain text, the file itself less a byte-order mark), so a citation points
//! at the exact words quoted.

mod index;
mod load;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use self::index::{fuse, vector_ranking, Index};
use super::config::LocalDocs;
use super::{query_arguments, query_parameters, Passage, ResearchTool, SourceKind, ToolError};
use super::{ToolOutput, ToolSpec};
use crate::llm::EmbeddingsClient;

/// The tool's name, as offered to the model.
pub const TOOL_NAME: &str = "search_local";

/// How many of the embeddings ranking's best passages take part in fusion, at least.
const MIN_SEMANTIC_CANDIDATES: usize = 50;

/// Why the local folders could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum LocalDocsError {
    /// A configured folder does not exist or is a file.
    #[error("local documents folder `{}` does not exist or is not a folder: fix --docs or tools.local_docs.paths", path.display())]
    NotAFolder { path: PathBuf },
    /// The indexing task itself failed (a bug, reported rather than unwound).
    #[error("indexing the local documents failed: {0}")]
    Indexing(String),
}

/// What indexing found, for the start-up summary and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDocsStats {
    /// Files read into the index.
    pub files: usize,
    /// Passages the files were split into.
    pub passages: usize,
    /// Files and folders left out (too large, unreadable, unparseable, symlink loops).
    pub skipped: usize,
    /// Whether passages are ranked with embeddings as well as BM25.
    pub embedded: bool,
}

/// The `search_local` tool over the indexed folders.
pub struct LocalDocsTool {
    spec: ToolSpec,
    index: Index,
    /// One vector per passage, when embeddings are in use.
    vectors: Option<Vec<Vec<f32>>>,
    embeddings: Option<EmbeddingsClient>,
    /// Set after the first embeddings failure, so a dead endpoint costs one warning.
    warned: AtomicBool,
    /// Why embeddings are not used although configured, for the summary.
    embeddings_problem: Option<String>,
    num_results: u32,
    folders: Vec<String>,
    skipped: usize,
}

impl std::fmt::Debug for LocalDocsTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDocsTool")
            .field("folders", &self.folders)
            .field("stats", &self.stats())
            .finish()
    }
}

impl LocalDocsTool {
    /// Read and index every folder of `config` (file I/O and parsing on a blocking thread);
    /// with `embeddings` and `use_embeddings`, embed every passage too. A folder that does
    /// not exist is an error; anything unreadable inside one is skipped with a warning,
    /// and an embeddings failure leaves BM25 ranking alone.
    pub async fn index(
        config: &LocalDocs,
        embeddings: Option<EmbeddingsClient>,
    ) -> Result<LocalDocsTool, LocalDocsError> {
        let paths = config.paths.clone();
        let (max_bytes, chunk_chars) = (config.max_file_bytes, config.chunk_chars);
        let (index, skipped) = tokio::task::spawn_blocking(move || {
            let loaded = load::load_folders(&paths, max_bytes)?;
            let skipped = loaded.skipped.len();
            Ok::<_, LocalDocsError>((Index::build(loaded.documents, chunk_chars), skipped))
        })
        .await
        .map_err(|e| LocalDocsError::Indexing(e.to_string()))??;

        let embeddings = embeddings.filter(|_| config.use_embeddings && !index.is_empty());
        let mut embeddings_problem = None;
        let vectors = match &embeddings {
            Some(client) => match embed_passages(client, &index).await {
                Ok(vectors) => Some(vectors),
                Err(problem) => {
                    tracing::warn!(%problem, "local documents are ranked by keywords only");
                    embeddings_problem = Some(problem);
                    None
                }
            },
            None => None,
        };
        let folders: Vec<String> = config
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let files = index.documents.len();
        let description = config.description.clone().unwrap_or_else(|| {
            if index.is_empty() {
                format!(
                    "Search local documents: the folders {} hold no documents, so this finds nothing.",
                    folders.join(", ")
                )
            } else {
                format!(
                    "Search the local document folders {} ({files} files of markdown, text, HTML and PDF, in {} passages) for passages relevant to a query. Use it for anything these private documents may answer.",
                    folders.join(", "),
                    index.passages.len()
                )
            }
        });
        let tool = LocalDocsTool {
            spec: ToolSpec {
                name: TOOL_NAME.into(),
                description,
                parameters: query_parameters(Some(config.num_results)),
            },
            warned: AtomicBool::new(embeddings_problem.is_some()),
            embeddings: embeddings.filter(|_| vectors.is_some()),
            vectors,
            index,
            embeddings_problem,
            num_results: config.num_results.max(1),
            folders,
            skipped,
        };
        tracing::info!(summary = %tool.summary(), "local documents indexed");
        Ok(tool)
    }

    /// What indexing found.
    pub fn stats(&self) -> LocalDocsStats {
        LocalDocsStats {
            files: self.index.documents.len(),
            passages: self.index.passages.len(),
            skipped: self.skipped,
            embedded: self.vectors.is_some(),
        }
    }

    /// One line for people, e.g. `indexed 42 files (310 passages) from ./docs; skipped 2`.
    pub fn summary(&self) -> String {
        let stats = self.stats();
        let mut line = format!(
            "indexed {} {} ({} {}) from {}",
            stats.files,
            plural(stats.files, "file", "files"),
            stats.passages,
            plural(stats.passages, "passage", "passages"),
            self.folders.join(", ")
        );
        if stats.skipped > 0 {
            line.push_str(&format!("; skipped {} (see the warnings)", stats.skipped));
        }
        if let (true, Some(client)) = (stats.embedded, &self.embeddings) {
            line.push_str(&format!(
                "; ranked with embeddings from `{}`",
                client.endpoint()
            ));
        }
        if let Some(problem) = &self.embeddings_problem {
            line.push_str(&format!("; keyword ranking only ({problem})"));
        }
        line
    }

    /// The best passages for `query`, at most `count`.
    async fn search(&self, query: &str, count: usize) -> Vec<Passage> {
        let keyword = self.index.keyword_ranking(query);
        let semantic = self.semantic_ranking(query, count).await;
        let ranked = match &semantic {
            Some(semantic) => fuse(&[&keyword, semantic]),
            None => keyword,
        };
        ranked
            .into_iter()
            .take(count)
            .filter_map(|(i, score)| self.passage(i, score))
            .collect()
    }

    /// Passages by embeddings, or `None` when embeddings are off or fail now.
    async fn semantic_ranking(&self, query: &str, count: usize) -> Option<Vec<(usize, f64)>> {
        let (client, vectors) = (self.embeddings.as_ref()?, self.vectors.as_ref()?);
        match client.embed(&[query]).await {
            Ok(q) => {
                let q = q.into_iter().next()?;
                Some(vector_ranking(
                    &q,
                    vectors,
                    (count * 4).max(MIN_SEMANTIC_CANDIDATES),
                ))
            }
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "embedding a local search query failed; ranking by keywords only");
                }
                None
            }
        }
    }

    fn passage(&self, i: usize, score: f64) -> Option<Passage> {
        let (d, chunk) = self.index.passages.get(i)?;
        let doc = self.index.documents.get(*d)?;
        let mut url = doc.url.clone();
        url.set_fragment(Some(&format!(
            "char={},{}",
            chunk.chars.start, chunk.chars.end
        )));
        Some(Passage {
            uri: url.to_string(),
            title: Some(doc.title.clone()),
            text: self.index.text(i).to_string(),
            kind: SourceKind::Local,
            origin: doc.folder.clone(),
            score: Some(score),
        })
    }
}

#[async_trait]
impl ResearchTool for LocalDocsTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Local
    }

    async fn call(&self, arguments: &serde_json::Value) -> Result<ToolOutput, ToolError> {
        let (query, count) = query_arguments(arguments)?;
        if self.index.is_empty() {
            return Ok(ToolOutput {
                passages: Vec::new(),
                note: Some(format!(
                    "no documents: the local folders {} hold no readable files",
                    self.folders.join(", ")
                )),
            });
        }
        let count = count.map_or(self.num_results, |c| c.min(self.num_results)) as usize;
        let passages = self.search(&query, count).await;
        let note = passages.is_empty().then(|| {
            format!("no passage of the local documents matches `{query}`; try other words")
        });
        Ok(ToolOutput { passages, note })
    }
}

/// One vector per passage (its title and text), checked to be of one length.
async fn embed_passages(client: &EmbeddingsClient, index: &Index) -> Result<Vec<Vec<f32>>, String> {
    let texts = index.indexed_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = client.embed(&refs).await.map_err(|e| e.to_string())?;
    let dims = vectors.first().map_or(0, Vec::len);
    if dims == 0 || vectors.iter().any(|v| v.len() != dims) {
        return Err(format!(
            "embeddings endpoint `{}` returned vectors of differing or zero length",
            client.endpoint()
        ));
    }
    Ok(vectors)
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(dir: &std::path::Path) -> LocalDocs {
        LocalDocs {
            paths: vec![dir.to_path_buf()],
            ..LocalDocs::default()
        }
    }

    #[tokio::test]
    async fn passages_cite_their_file_with_exact_char_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# Überblick\n\nDie Fabrik in Köln baut Widgets.\n\nElse: tomatoes need sun.";
        std::fs::write(dir.path().join("köln notes.md"), text).unwrap();
        std::fs::write(dir.path().join("other.txt"), "Nothing relevant.").unwrap();
        let mut c = config(dir.path());
        c.chunk_chars = 200;
        let tool = LocalDocsTool::index(&c, None).await.unwrap();
        assert_eq!(
            tool.stats(),
            LocalDocsStats {
                files: 2,
                passages: 2,
                skipped: 0,
                embedded: false
            }
        );
        let out = tool.call(&json!({"query": "Widgets Köln"})).await.unwrap();
        let p = &out.passages[0];
        assert_eq!(p.kind, SourceKind::Local);
        assert_eq!(p.title.as_deref(), Some("Überblick"));
        let url = url::Url::parse(&p.uri).unwrap();
        assert_eq!(url.scheme(), "file");
        assert!(p.uri.contains("k%C3%B6ln%20notes.md#char="), "{}", p.uri);
        let fragment = url.fragment().unwrap().strip_prefix("char=").unwrap();
        let (start, end) = fragment.split_once(',').unwrap();
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        let quoted: String = text.chars().skip(start).take(end - start).collect();
        assert_eq!(quoted, p.text);
        assert_eq!(p.origin, dir.path().display().to_string());
    }

    #[tokio::test]
    async fn an_empty_folder_gives_a_tool_that_says_no_documents() {
        let dir = tempfile::tempdir().unwrap();
        let tool = LocalDocsTool::index(&config(dir.path()), None)
            .await
            .unwrap();
        assert!(tool.spec().description.contains("hold no documents"));
        let out = tool.call(&json!({"query": "anything"})).await.unwrap();
        assert!(out.passages.is_empty());
        assert!(out.note.unwrap().starts_with("no documents"));
        assert!(tool
            .summary()
            .starts_with("indexed 0 files (0 passages) from"));
    }

    #[tokio::test]
    async fn a_missing_folder_fails_naming_it_and_bad_arguments_are_refused() {
        let err = LocalDocsTool::index(&config(std::path::Path::new("/no/such/dir")), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`/no/such/dir`"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "alpha").unwrap();
        let tool = LocalDocsTool::index(&config(dir.path()), None)
            .await
            .unwrap();
        assert!(matches!(
            tool.call(&json!({"q": "x"})).await,
            Err(ToolError::Arguments(_))
        ));
        let none = tool.call(&json!({"query": "zebra"})).await.unwrap();
        assert!(none.passages.is_empty() && none.note.is_some());
    }
}
