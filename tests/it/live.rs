//! Live checks against a real Databricks workspace, Brave and (optionally) a Lakebase
//! instance: `make test-integration`. Ignored by `make test`, which runs everything
//! against the fakes; these need credentials:
//!
//!   DATABRICKS_HOST plus DATABRICKS_TOKEN, OAuth M2M or DATABRICKS_CONFIG_PROFILE
//!   BRAVE_API_KEY
//!   LAKEBASE_INSTANCE_NAME (and LAKEBASE_DATABASE) for the database check
//!
//! They run the real binary with the shipped config/app.yaml, so they also catch a
//! renamed serving endpoint or a changed API before a deploy does.

use std::process::Command;

use serde_json::Value;

fn require(vars: &[&str]) {
    let missing: Vec<&&str> = vars
        .iter()
        .filter(|v| std::env::var(v).map_or(true, |s| s.trim().is_empty()))
        .collect();
    assert!(
        missing.is_empty(),
        "live tests need {missing:?} set (a real workspace; see README: Testing). `make test` runs without them."
    );
    assert!(
        ["DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID", "DATABRICKS_CONFIG_PROFILE"]
            .iter()
            .any(|v| std::env::var(v).is_ok()),
        "live tests need Databricks credentials: DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID/SECRET or DATABRICKS_CONFIG_PROFILE"
    );
}

fn dra(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dra"))
        .args(args)
        .env(
            "APP_CONFIG_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml"),
        )
        .output()
        .expect("run dra");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `[n]` markers of a markdown report.
fn markers(report: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = report;
    while let Some(i) = rest.find('[') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with(']') {
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out
}

#[test]
#[ignore = "live: needs a real workspace and Brave (make test-integration)"]
fn a_light_research_run_cites_only_sources_it_fetched() {
    require(&["DATABRICKS_HOST", "BRAVE_API_KEY"]);
    let (code, stdout, stderr) = dra(&[
        "research",
        "--depth",
        "light",
        "--no-clarify",
        "--no-save",
        "--timeout",
        "10m",
        "--format",
        "json",
        "What is the Rust programming language's edition system?",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let run: Value = serde_json::from_str(&stdout).expect("JSON output");
    let report = run["report"].as_str().unwrap_or_default();
    assert!(report.len() > 500, "a real report: {report}");
    let sources = run["sources"].as_array().cloned().unwrap_or_default();
    assert!(!sources.is_empty(), "the run fetched sources");
    let numbers: Vec<u64> = sources
        .iter()
        .filter_map(|s| s["number"].as_u64())
        .collect();
    let cited = markers(report);
    assert!(!cited.is_empty(), "the report cites: {report}");
    for n in cited {
        assert!(
            numbers.contains(&n),
            "[{n}] is not a fetched source: {numbers:?}"
        );
    }
}

#[test]
#[ignore = "live: needs a real Lakebase instance (make test-integration)"]
fn the_lakebase_instance_answers_and_its_schema_is_current() {
    require(&["DATABRICKS_HOST", "LAKEBASE_INSTANCE_NAME"]);
    let (code, stdout, stderr) = dra(&["wait-lakebase", "--retries", "3", "--delay", "5s"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = dra(&["migrate", "--status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(" 0 pending"),
        "deployed schema is behind: run make db-migrate-remote\n{stdout}"
    );
}

#[test]
fn markers_finds_citation_numbers_only() {
    assert_eq!(markers("a [1] b [12][3] [x] [4"), vec![1, 12, 3]);
}
