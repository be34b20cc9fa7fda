//! `search_local` over a real folder: markdown, text, HTML and PDF files indexed, searched
//! by BM25 and (with the fake embeddings endpoint) by embeddings fused in, each passage a
//! `file://` URI whose `#char=` offsets name its exact text; and `dra research --docs`.

use std::path::Path;

use crate::support::cli::Dra;
use crate::support::llm::{add_tiers, FakeLlm, Reply};
use crate::support::pages::tiny_pdf;
use dra::config::AppConfig;
use dra::llm::EmbeddingsClient;
use dra::tools::config::LocalDocs;
use dra::tools::{LocalDocsTool, Passage, ResearchTool, SourceKind};
use serde_json::json;
use url::Url;

const NOTES: &str = "# Widget Plant Notes\n\nThe Leeds widget plant opened in 2019.\n\nIts kilns fire ceramic widgets at 1200 °C — très chaud, 非常热.\n";
const PLAIN: &str =
    "Quarterly logistics memo.\r\n\r\nShipments to Rotterdam doubled after the canal reopened.\r\n";
const GUIDE: &str = "<html><head><title>Maintenance Guide</title></head><body><nav>Home | About</nav><main><h1>Maintenance</h1><p>Lubricate the conveyor bearings every forty operating hours.</p><p>Replace the drive belt yearly.</p></main></body></html>";
const PDF_TEXT: &str = "Annual revenue reached 48 million euros";

/// A folder with one file of each kind (the text file one folder down), plus files that
/// must be left out.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("memos")).unwrap();
    std::fs::write(root.join("plant notes.md"), NOTES).unwrap();
    std::fs::write(root.join("memos/logistics.txt"), PLAIN).unwrap();
    std::fs::write(root.join("guide.html"), GUIDE).unwrap();
    std::fs::write(root.join("report.pdf"), tiny_pdf(PDF_TEXT)).unwrap();
    std::fs::write(root.join(".draft.md"), "Rotterdam secret draft").unwrap();
    std::fs::write(root.join("photo.jpg"), [0xFF, 0xD8, 0xFF]).unwrap();
    dir
}

fn local(dir: &Path) -> LocalDocs {
    LocalDocs {
        paths: vec![dir.to_path_buf()],
        ..LocalDocs::default()
    }
}

async fn search(tool: &LocalDocsTool, query: &str) -> Vec<Passage> {
    tool.call(&json!({"query": query})).await.unwrap().passages
}

/// The `#char=START,END` of a passage URI, and the URI's file path.
fn offsets(uri: &str) -> (std::path::PathBuf, usize, usize) {
    let url = Url::parse(uri).unwrap();
    let (start, end) = url
        .fragment()
        .and_then(|f| f.strip_prefix("char="))
        .and_then(|f| f.split_once(','))
        .unwrap_or_else(|| panic!("no char fragment in {uri}"));
    let mut file = url.clone();
    file.set_fragment(None);
    (
        file.to_file_path().unwrap(),
        start.parse().unwrap(),
        end.parse().unwrap(),
    )
}

fn chars(text: &str, start: usize, end: usize) -> String {
    text.chars().skip(start).take(end - start).collect()
}

#[tokio::test]
async fn each_kind_of_file_is_found_and_cited_at_its_exact_offsets() {
    let dir = folder();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let tool = LocalDocsTool::index(&local(dir.path()), None)
        .await
        .unwrap();
    let stats = tool.stats();
    assert_eq!((stats.files, stats.skipped, stats.embedded), (4, 0, false));
    assert_eq!(tool.spec().name, "search_local");
    assert!(
        tool.spec().description.contains("4 files"),
        "{}",
        tool.spec().description
    );
    assert!(
        tool.summary().starts_with("indexed 4 files ("),
        "{}",
        tool.summary()
    );

    // Markdown: offsets count characters of the file itself (é, °, CJK are one each).
    let hit = &search(&tool, "ceramic kilns temperature").await[0];
    assert_eq!(hit.kind, SourceKind::Local);
    assert_eq!(hit.title.as_deref(), Some("Widget Plant Notes"));
    assert!(hit.uri.contains("/plant%20notes.md#char="), "{}", hit.uri);
    let (path, start, end) = offsets(&hit.uri);
    assert_eq!(path, root.join("plant notes.md"));
    assert_eq!(chars(NOTES, start, end), hit.text);
    assert!(hit.text.contains("非常热"));
    assert_eq!(hit.origin, dir.path().display().to_string());

    // Plain text one folder down, CRLF line ends kept.
    let hit = &search(&tool, "Rotterdam shipments").await[0];
    let (path, start, end) = offsets(&hit.uri);
    assert_eq!(path, root.join("memos/logistics.txt"));
    assert_eq!(hit.title.as_deref(), Some("logistics.txt"));
    assert_eq!(chars(PLAIN, start, end), hit.text);
    assert!(hit.text.contains("Rotterdam doubled"));

    // HTML: the page title, and offsets into the extracted text (navigation left out).
    let hit = &search(&tool, "conveyor bearings lubricate").await[0];
    let (path, start, end) = offsets(&hit.uri);
    assert_eq!(path, root.join("guide.html"));
    assert_eq!(hit.title.as_deref(), Some("Maintenance Guide"));
    let url = Url::from_file_path(&path).unwrap();
    let extracted = dra::web::extract_html(GUIDE, &url).text;
    assert_eq!(chars(&extracted, start, end), hit.text);
    assert!(hit.text.contains("forty operating hours") && !hit.text.contains("About"));

    // PDF: its text, offsets into what the PDF reader gives.
    let hit = &search(&tool, "annual revenue euros").await[0];
    let (path, start, end) = offsets(&hit.uri);
    assert_eq!(path, root.join("report.pdf"));
    assert_eq!(hit.title.as_deref(), Some("report.pdf"));
    let pdf = dra::web::pdf_to_text(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(chars(&pdf, start, end), hit.text);
    assert!(hit.text.contains("48 million"));

    // A hidden file is never indexed.
    let hits = search(&tool, "secret draft").await;
    assert!(hits.iter().all(|p| !p.uri.contains("draft")), "{hits:?}");
}

#[tokio::test]
async fn num_results_caps_the_passages_and_the_model_may_ask_for_fewer() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        std::fs::write(
            dir.path().join(format!("note{i}.md")),
            format!("Widget batch {i} passed inspection."),
        )
        .unwrap();
    }
    let mut config = local(dir.path());
    config.num_results = 4;
    let tool = LocalDocsTool::index(&config, None).await.unwrap();
    assert_eq!(
        tool.spec().parameters["properties"]["num_results"]["maximum"],
        4
    );
    assert_eq!(search(&tool, "widget inspection").await.len(), 4);
    let two = tool
        .call(&json!({"query": "widget inspection", "num_results": 2}))
        .await
        .unwrap();
    assert_eq!(two.passages.len(), 2);
    let many = tool
        .call(&json!({"query": "widget inspection", "num_results": 50}))
        .await
        .unwrap();
    assert_eq!(many.passages.len(), 4);
}

/// A paraphrase of the query that shares no word with it: only embeddings find it.
const PARAPHRASE: &str =
    "Automobile manufacturing climbed steeply in the previous twelvemonth at the works.";

fn paraphrase_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("paraphrase.md"), PARAPHRASE).unwrap();
    std::fs::write(
        dir.path().join("fleet.md"),
        "The car fleet was washed on Tuesday.",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("garden.txt"),
        "Tomatoes need sun and water every day.",
    )
    .unwrap();
    dir
}

/// An embeddings client for endpoint `gte` on `fake`, no retries.
fn embeddings(fake: &FakeLlm) -> EmbeddingsClient {
    let mut c = AppConfig::default();
    add_tiers(&mut c, fake, &["simple"]);
    c.embeddings.endpoint_identifier = Some("gte".into());
    c.embeddings.batch_size = 2;
    EmbeddingsClient::from_config(&c, || {
        unreachable!("base_url is set; Databricks auth is not used")
    })
    .unwrap()
    .expect("an embeddings endpoint is configured")
}

const QUERY: &str = "car production rose sharply last year";

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_find_a_paraphrase_that_keywords_miss() {
    let dir = paraphrase_folder();
    let keywords_only = LocalDocsTool::index(&local(dir.path()), None)
        .await
        .unwrap();
    let hits = search(&keywords_only, QUERY).await;
    assert!(hits.iter().all(|p| p.text != PARAPHRASE), "{hits:?}");

    let fake = FakeLlm::start().await;
    let tool = LocalDocsTool::index(&local(dir.path()), Some(embeddings(&fake)))
        .await
        .unwrap();
    assert!(tool.stats().embedded);
    assert!(
        tool.summary().contains("embeddings from `gte`"),
        "{}",
        tool.summary()
    );
    // Three passages in batches of two at index time.
    let batches: Vec<usize> = fake
        .calls_to("gte")
        .iter()
        .map(|c| c.body["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), 3, "{batches:?}");

    let hits = search(&tool, QUERY).await;
    let texts: Vec<&str> = hits.iter().map(|p| p.text.as_str()).collect();
    // Fused: the keyword hit and the embeddings hit, each first in its own ranking.
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.contains(&PARAPHRASE), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("car fleet")), "{texts:?}");
    assert!(
        texts.iter().all(|t| !t.contains("Tomatoes")),
        "unrelated text is not fused in: {texts:?}"
    );
    let last = fake.calls_to("gte").pop().unwrap();
    assert_eq!(last.body["input"], json!([QUERY]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_embeddings_endpoint_leaves_keyword_search_working() {
    let dir = paraphrase_folder();
    let fake = FakeLlm::start().await;
    fake.always("gte", Reply::Status(500, None));
    let tool = LocalDocsTool::index(&local(dir.path()), Some(embeddings(&fake)))
        .await
        .unwrap();
    assert!(!tool.stats().embedded);
    assert!(
        tool.summary().contains("keyword ranking only"),
        "{}",
        tool.summary()
    );
    let calls = fake.calls_to("gte").len();
    let hits = search(&tool, "car fleet washed").await;
    assert!(hits[0].text.contains("car fleet"), "{hits:?}");
    assert_eq!(
        fake.calls_to("gte").len(),
        calls,
        "no query is embedded after a failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embeddings_failure_at_query_time_falls_back_to_keywords() {
    let dir = paraphrase_folder();
    let fake = FakeLlm::start().await;
    let tool = LocalDocsTool::index(&local(dir.path()), Some(embeddings(&fake)))
        .await
        .unwrap();
    assert!(tool.stats().embedded);
    fake.always("gte", Reply::Status(500, None));
    let hits = search(&tool, "car fleet washed").await;
    assert!(hits[0].text.contains("car fleet"), "{hits:?}");
    assert!(hits.iter().all(|p| p.text != PARAPHRASE), "{hits:?}");
}

#[tokio::test]
async fn research_with_a_missing_docs_folder_is_a_usage_error_naming_it() {
    let file = tempfile::NamedTempFile::new().unwrap();
    for (dir, problem) in [
        ("/no/such/folder".to_string(), "does not exist"),
        (file.path().display().to_string(), "is a file, not a folder"),
    ] {
        let out = Dra::new(["research", "--docs", &dir, "q"]).run().await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("--docs {dir}: the folder {problem}")),
            "{out:?}"
        );
    }
}
