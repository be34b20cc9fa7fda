//! A whole `dra research` run over a private source: `--docs DIR` indexes a folder, the
//! classic researcher queries `search_local` alongside the web, the report cites the local
//! passage, verification quotes it by exact offsets, and the saved run keeps it with its
//! `source_type`.

use serde_json::Value;

use crate::support::llm::Reply;
use crate::support::world::{say, Fakes};

use crate::support::{Dra, TestDb};

const QUESTION: &str = "How many days a week may staff work remotely?";
const POLICY: &str = "Staff may work remotely up to three days a week.";

struct World {
    fakes: Fakes,
    db: TestDb,
    docs: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let w = World {
            fakes: Fakes::start().await,
            db: TestDb::new().await,
            docs: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            w.docs.path().join("remote-work.md"),
            format!("# Remote work policy\n\nThe policy took effect in 2024.\n\n{POLICY} Requests go to the team lead.\n"),
        )
        .unwrap();
        std::fs::write(
            w.docs.path().join("expenses.txt"),
            "Travel expenses are reimbursed within thirty days of the claim.\n",
        )
        .unwrap();
        // No web result: whatever the report cites came from the folder.
        w.fakes.search.serve_pages(&w.fakes.pages, &[]);
        let migrated = Dra::new(["migrate"])
            .env("DATABASE_URL", w.db.url())
            .run()
            .await;
        assert!(migrated.ok(), "{migrated:?}");
        w
    }

    fn script(&self) {
        self.fakes.llm.script(
            "test-fast",
            vec![
                say(serde_json::json!({"mode": "deep_research", "depth": "light", "reasoning": "r"})),
                say(serde_json::json!({"title": "Plan", "thought": "t", "steps": [
                    {"id": "a", "title": "Remote work rules", "description": "d", "step_type": "research", "needs_search": true}
                ]})),
                say(serde_json::json!({"queries": ["remote work days per week"]})),
                Reply::Text(format!("- {POLICY} [1]")),
            ],
        );
        self.fakes.llm.script(
            "test-strong",
            vec![Reply::Stream(vec![format!(
                "# Remote work\n\n{POLICY} [1]\n"
            )])],
        );
        self.fakes.verifier_says_supported();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_a_docs_folder_cites_the_local_passage_and_keeps_its_provenance() {
    let w = World::start().await;
    w.script();
    let out_dir = tempfile::tempdir().unwrap();
    let docs = w.docs.path().to_str().unwrap();
    let out = w
        .fakes
        .dra([
            "research",
            QUESTION,
            "--docs",
            docs,
            "--verify",
            "--out",
            out_dir.path().to_str().unwrap(),
        ])
        .env("DATABASE_URL", w.db.url())
        .env("DRA_USER", "alice@example.com")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("tools: search_local: indexed 2 files"),
        "the index is announced: {}",
        out.stderr
    );

    // Classic mode asked search_local the step's query: both files match a word of it,
    // the policy best, so its passage is source 1.
    let sources: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("sources.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(
        sources.iter().all(|s| s["source_type"] == "local"),
        "{sources:?}"
    );
    let uri = sources[0]["url"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with("file://") && uri.contains("remote-work.md#char="),
        "{uri}"
    );
    assert_eq!(sources[0]["source_type"], "local");
    assert!(
        out.stdout.contains(&format!("{POLICY} [1]")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&uri),
        "the references list the file URI: {}",
        out.stdout
    );

    // Verification quoted the passage.
    let provenance: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("provenance.json")).unwrap(),
    )
    .unwrap();
    let text = provenance.to_string();
    assert!(text.contains("supported"), "{text}");
    assert!(text.contains(&uri), "{text}");

    // The saved run keeps the source with its type, its text and evidence into that text.
    let c = w.db.client().await;
    let row = c
        .query_one(
            "SELECT url, source_type, content, is_cited, source_metadata->>'origin' FROM sources WHERE is_cited",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), uri);
    assert_eq!(row.get::<_, String>(1), "local");
    assert!(row.get::<_, String>(2).contains(POLICY));
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, Option<String>>(4).as_deref(), Some(docs));
    let spans = c
        .query_one(
            "SELECT count(*), bool_and(substring(s.content FROM e.start_offset + 1 \
             FOR e.end_offset - e.start_offset) = e.quote_text) \
             FROM evidence_spans e JOIN sources s ON s.id = e.source_id",
            &[],
        )
        .await
        .unwrap();
    assert!(spans.get::<_, i64>(0) >= 1, "evidence is stored");
    assert_eq!(
        spans.get::<_, Option<bool>>(1),
        Some(true),
        "quotes are exact offsets into the passage"
    );
}

#[tokio::test]
async fn a_docs_folder_that_does_not_exist_is_a_usage_error_naming_it() {
    let fakes = Fakes::start().await;
    let out = fakes
        .dra(["research", QUESTION, "--docs", "/no/such/handbook"])
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--docs /no/such/handbook"),
        "{}",
        out.stderr
    );
    assert!(fakes.llm.calls().is_empty(), "nothing ran");
}

/// The test configuration with `tools:` appended, written to a temporary file.
fn config_with_tools(dir: &std::path::Path, tools: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string(crate::support::cli::config_path("app.test.yaml")).unwrap();
    let path = dir.join("app.yaml");
    std::fs::write(&path, format!("{base}\ntools:\n{tools}")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_an_mcp_server_cites_the_text_its_tool_returned() {
    let fakes = Fakes::start().await;
    fakes.search.serve_pages(&fakes.pages, &[]);
    let mcp = crate::support::mcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_tools(
        dir.path(),
        &format!(
            "  mcp_servers:\n    team:\n      url: {}/mcp\n      headers: {{Authorization: \"Bearer ${{TEAM_MCP_TOKEN}}\"}}\n      tools: [notes]\n",
            mcp.url
        ),
    );
    fakes.llm.script(
        "test-fast",
        vec![
            say(serde_json::json!({"mode": "deep_research", "depth": "light", "reasoning": "r"})),
            say(serde_json::json!({"title": "Plan", "thought": "t", "steps": [
                {"id": "a", "title": "Loss rates", "description": "d", "step_type": "research", "needs_search": true}
            ]})),
            say(serde_json::json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- Deltas lose 1% a year [1].".into()),
        ],
    );
    fakes.llm.script(
        "test-strong",
        vec![Reply::Stream(vec![
            "# Deltas\n\nDeltas lose 1% a year [1].\n".into(),
        ])],
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out = fakes
        .dra([
            "research",
            "How fast do deltas shrink?",
            "--out",
            out_dir.path().to_str().unwrap(),
        ])
        .env("APP_CONFIG_PATH", &config)
        .env("TEAM_MCP_TOKEN", crate::support::mcp::TOKEN)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr
            .contains("tools: MCP server team: 1 tool (team__notes)"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(crate::support::mcp::TOKEN),
        "the token stays secret"
    );
    let sources: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("sources.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sources[0]["source_type"], "mcp", "{sources:?}");
    assert_eq!(sources[0]["origin"], "team", "{sources:?}");
    let uri = sources[0]["url"].as_str().unwrap();
    assert!(uri.starts_with("mcp://team/notes/"), "{uri}");
    assert!(
        out.stdout.contains("Deltas lose 1% a year [1]."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(uri),
        "references list it: {}",
        out.stdout
    );
    let events = std::fs::read_to_string(out_dir.path().join("events.jsonl")).unwrap();
    assert!(
        events.contains(r#""toolName":"team__notes""#),
        "the call is in the events: {events}"
    );
}

#[tokio::test]
async fn an_mcp_server_that_cannot_start_stops_the_run_naming_its_key() {
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_tools(
        dir.path(),
        "  mcp_servers:\n    files:\n      command: /no/such/mcp-server\n",
    );
    let out = fakes
        .dra(["research", "q"])
        .env("APP_CONFIG_PATH", &config)
        .run()
        .await;
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("tools.mcp_servers.files: MCP server `files` could not be started (`/no/such/mcp-server`)"),
        "{}",
        out.stderr
    );
    assert!(fakes.llm.calls().is_empty(), "nothing ran");
}

#[tokio::test]
async fn dra_tools_lists_the_tools_and_asks_each_a_query() {
    let fakes = Fakes::start().await;
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("remote-work.md"),
        format!("# Remote work policy\n\n{POLICY}\n"),
    )
    .unwrap();
    let dir = docs.path().to_str().unwrap();

    let none = fakes.dra(["tools"]).run().await;
    assert!(none.ok(), "{none:?}");
    assert!(
        none.stderr.contains("no tools are configured"),
        "{}",
        none.stderr
    );

    let listed = fakes.dra(["tools", "--docs", dir]).run().await;
    assert!(listed.ok(), "{listed:?}");
    assert!(
        listed.stdout.starts_with("search_local (local)\n"),
        "{}",
        listed.stdout
    );
    assert!(
        listed
            .stderr
            .contains("tools: search_local: indexed 1 file"),
        "{}",
        listed.stderr
    );

    let asked = fakes
        .dra(["tools", "--docs", dir, "--query", "remote work", "--json"])
        .run()
        .await;
    assert!(asked.ok(), "{asked:?}");
    let answer: Value = serde_json::from_str(&asked.stdout).unwrap();
    assert_eq!(answer["query"], "remote work");
    let passage = &answer["results"][0]["passages"][0];
    assert_eq!(answer["results"][0]["tool"], "search_local");
    assert_eq!(passage["source_type"], "local");
    assert!(
        passage["text"].as_str().unwrap().contains(POLICY),
        "{passage}"
    );
    assert!(
        passage["uri"].as_str().unwrap().starts_with("file://"),
        "{passage}"
    );
    assert!(fakes.llm.calls().is_empty(), "no model is asked");
}
