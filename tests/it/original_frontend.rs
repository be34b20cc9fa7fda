//! The original project's own React frontend and its own Playwright e2e suite, unchanged,
//! against `dra serve` on the fake world (a schema-driven model at real-ish latencies,
//! Brave and pages on loopback, a migrated throwaway database, one user).
//!
//! Ignored by default: the original's code is not ours to vendor and this machine's CI
//! cannot reach GitHub. `scripts/original-e2e.sh ORIGINAL` (or `make e2e-original
//! ORIGINAL=…`) copies its `frontend/` and `e2e/`, installs their npm packages, builds the
//! frontend and runs this test with `DRA_ORIGINAL_E2E` pointing at them.

// Only the server launcher and the Chromium installer are used here.
#[allow(dead_code)]
use crate::support::browser;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::schema_llm::SchemaModel;
use crate::support::world::Fakes;
use browser::{Browser, UiServer};

/// A test the original's suite cannot pass against any backend, with the evidence.
struct Classified {
    file: &'static str,
    /// The test's title, or `*` for every test of the file.
    title: &'static str,
    /// When not empty, only an outcome whose note holds this (a run-time skip's message) is
    /// excused; any other failure of the test still fails the run.
    when: &'static str,
    why: &'static str,
}

/// Tests that fail for a reason that is not dra's, each with the evidence (`*`: every test
/// of the spec). They fail the same way against the original's own backend at the commit
/// scripts/original-e2e.sh copies (08592a9): the suite was not updated when its frontend and
/// backend changed. A test listed here that passes is reported, so the list can shrink.
const CLASSIFIED: &[Classified] = &[
    Classified {
        file: "verification-summary.spec.ts",
        title: "*",
        when: "",
        why: "looks for data-testid `verification-summary-section`, which the frontend renamed \
         `sources-citations-section` in c75227e; each test skips itself at run time with \
         'No verification section in response', whatever the backend",
    },
    Classified {
        file: "numeric-claims.spec.ts",
        title: "*",
        when: "",
        why: "looks for data-testid `numeric-chip`: the frontend exports NumericChip but renders \
         it nowhere (git grep '<NumericChip' frontend/src finds nothing), so each test skips \
         itself with 'No numeric chips in response', whatever the backend",
    },
    Classified {
        file: "grey-references.spec.ts",
        title: "no grey citations after research completes",
        when: "",
        why: BROKEN_MARKER_WAIT,
    },
    Classified {
        file: "grey-references.spec.ts",
        title: "citation resolution stats are accurate",
        when: "",
        why: BROKEN_MARKER_WAIT,
    },
    Classified {
        file: "grey-references.spec.ts",
        title: "individual citation marker grey detection works",
        when: "",
        why: BROKEN_MARKER_WAIT,
    },
    Classified {
        file: "citations.spec.ts",
        title: "pressing Enter on focused marker opens evidence card",
        when: "",
        why: "the frontend's CitationMarker handles Enter as a click (opens the source URL); the \
         evidence card opens only on mouseenter, which a key press never fires",
    },
    Classified {
        file: "provenance-export.spec.ts",
        title: "provenance export returns valid JSON after research",
        when: "",
        why: "its body ends in an unconditional test.skip('Message ID extraction requires \
         additional implementation') after the research",
    },
    Classified {
        file: "provenance-export.spec.ts",
        title: "claims endpoint returns array of claims",
        when: "",
        why: "its body ends in an unconditional test.skip('Message ID extraction requires \
         additional implementation') after the research",
    },
    Classified {
        file: "provenance-export.spec.ts",
        title: "verification-summary returns expected fields",
        when: "",
        why: "its body ends in an unconditional test.skip('Message ID extraction requires \
         additional implementation') after the research",
    },
    // After "pressing Enter" above: the rest of the spec.
    Classified {
        file: "citations.spec.ts",
        title: "*",
        when: "No citations in response",
        why: NO_MARKERS_AT_FIRST_CHUNK,
    },
    Classified {
        file: "grey-references.spec.ts",
        title: "all citations resolve within timeout",
        when: "No citations in response",
        why: NO_MARKERS_AT_FIRST_CHUNK,
    },
    Classified {
        file: "citations.spec.ts",
        title: "*",
        when: "strict mode violation: getByTestId('citation-marker-1')",
        why: ONE_CHAT_FOR_THE_WHOLE_SUITE,
    },
    Classified {
        file: "smoke.spec.ts",
        title: "message input is focused after load",
        when: "toHaveValue",
        why: "a race in the frontend, not a response: the test types into the input at once \
              after page.goto('/'), while the frontend, once GET /chats answers, navigates to \
              the most recent chat (ChatPage.tsx's auto-select effect) and re-renders; when \
              the typing lands first it is lost (the failure's page shows the auto-selected \
              chat with an empty input). It passed in 5 of 6 default runs against dra",
    },
    Classified {
        file: "error-handling.spec.ts",
        title: "recovers from network interruption",
        when: "strict mode violation: getByTestId('loading-indicator').or(getByTestId('agent-response'))",
        why: ONE_CHAT_FOR_THE_WHOLE_SUITE,
    },
];

/// utils/wait-helpers.ts `waitForCitationMarkers` calls `toHaveCount({ minimum: 1 })`,
/// which the suite's Playwright (1.57) rejects at once, so the test skips itself as if the
/// answer had no markers, whatever the page shows.
const BROKEN_MARKER_WAIT: &str = "its waitForCitationMarkers calls toHaveCount({ minimum: 1 }), \
     which Playwright 1.57 rejects in 12 ms ('expectedNumber: expected float, got object') on \
     a page that shows two markers; the test then skips itself with 'No citation(s) (markers) \
     in response', whatever the backend";

/// Citation markers render only once `claim_verified` events arrive, which both backends
/// send after the whole report has streamed, while `waitForAgentResponse` returns at the
/// first streamed chunk; so the marker count it reads is 0 and the test skips itself.
const NO_MARKERS_AT_FIRST_CHUNK: &str = "counts citation markers as soon as \
     waitForAgentResponse returns, at the first streamed chunk (the streaming AgentMessage \
     has data-testid agent-response); the frontend renders markers only once claim_verified \
     events exist (MessageList: enableCitations={streamingClaims.length > 0}), and the \
     original sends them after the whole report has streamed in both its synthesis modes \
     (services/citation/pipeline.py: run_full_pipeline verifies after \
     generate_with_interleaving, _run_react_synthesis after its ReAct loop), as dra does; \
     so the test skips itself with 'No citations in response' against either backend. (Had \
     it markers, `citation-marker-1` is a strict locator: the original's keys are per \
     evidence span and human-readable, [Arxiv], so it never exists there)";

/// The suite's tests ask in whatever chat the frontend opens on load, and it opens the most
/// recent one, so in a full run one chat collects the answers of test after test. A
/// strict locator on something every answer has then matches several.
const ONE_CHAT_FOR_THE_WHOLE_SUITE: &str = "uses a strict locator for something every \
     answer shows, in the chat the frontend opens on load (the most recent one), where the \
     earlier tests' answers already are (the failure screenshot shows them above the new \
     question): getByTestId('citation-marker-1') or agent-response resolves to several \
     elements once two answers cite, whatever the backend. The original's answers carry no \
     `citation-marker-1` at all (keys per evidence span, [Arxiv]), so there the locator \
     finds nothing instead. Run alone on a fresh database, error-handling's test passes and \
     the citation tests stop earlier, at 'No citations in response' (above)";

/// The reason `o` may fail, when it is classified.
fn classified(o: &Outcome) -> Option<&'static str> {
    CLASSIFIED
        .iter()
        .find(|c| {
            c.file == o.file
                && (c.title == "*" || c.title == o.title)
                && (c.when.is_empty() || o.note.contains(c.when) || o.error.contains(c.when))
        })
        .map(|c| c.why)
}

/// The outcome of one Playwright test.
#[derive(Debug)]
struct Outcome {
    file: String,
    title: String,
    status: String,
    /// The skip reason, or the error's first lines.
    note: String,
    /// The whole error message, which classifications match on.
    error: String,
}

impl Outcome {
    fn passed(&self) -> bool {
        self.status == "expected"
    }

    /// Skipped by the suite's own choice: a `test.skip(…)` declaration, or its slow set
    /// without `RUN_SLOW_TESTS`. A skip decided while the test ran ("No chat available to
    /// delete", "No citations in response") hides a failure and counts as one.
    fn skipped_by_the_suite(&self) -> bool {
        self.status == "skipped" && (self.note.is_empty() || self.note.contains("RUN_SLOW_TESTS"))
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the original's frontend and e2e suite: run scripts/original-e2e.sh ORIGINAL"]
async fn the_originals_frontend_and_e2e_suite_pass_against_dra_serve() {
    let (work, server) = serve_the_originals_frontend().await;
    let e2e = work.join("e2e");

    if std::env::var_os("DRA_E2E_SERVE").is_some() {
        // For a person (or a script) to use the original's UI on the fake world by hand.
        eprintln!(
            "original UI on the fake world: {} (Ctrl-C to stop)",
            server.url
        );
        tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
        return;
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/original-e2e/playwright.dra.config.ts"),
        e2e.join("playwright.dra.config.ts"),
    )
    .expect("copy the Playwright wrapper config");
    let results = e2e.join("dra-results.json");
    let _ = std::fs::remove_file(&results);
    // DRA_E2E_ARGS narrows the run while working on one spec, e.g. "tests/smoke.spec.ts".
    let extra = std::env::var("DRA_E2E_ARGS").unwrap_or_default();
    let status = tokio::process::Command::new(e2e.join("node_modules/.bin/playwright"))
        .args(["test", "--config", "playwright.dra.config.ts"])
        .args(extra.split_whitespace())
        .current_dir(&e2e)
        .env("E2E_BASE_URL", &server.url)
        .env("DRA_E2E_RESULTS", &results)
        .env_remove("CI")
        .kill_on_drop(true)
        .status()
        .await
        .expect("run the original's Playwright suite");

    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&results)
            .unwrap_or_else(|e| panic!("no Playwright report ({status}): {e}")),
    )
    .expect("Playwright's JSON report");
    let mut outcomes = Vec::new();
    collect(&report["suites"], &mut outcomes);
    assert!(!outcomes.is_empty(), "Playwright ran no test: {report}");

    let summary = summarise(&outcomes);
    eprintln!("{summary}");
    std::fs::write(work.join("results.md"), &summary).expect("write results.md");

    let log = server.log();
    assert!(
        !log.contains("panicked"),
        "dra serve panicked during the suite:\n{log}"
    );
    let unexplained: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.passed() && !o.skipped_by_the_suite())
        .filter(|o| classified(o).is_none())
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} of the original's e2e tests failed against dra serve:\n{}\n\ndra serve's log \
         (tail):\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .map(|o| format!("- {} › {}: {}", o.file, o.title, o.note))
            .collect::<Vec<_>>()
            .join("\n"),
        tail(&log, 80)
    );
}

/// The classification of a saved Playwright report, without running the suite again:
/// `DRA_E2E_REPORT=<target>/original-e2e/<commit>/e2e/dra-results.json cargo test --test it
/// -- original_frontend::a_saved_report --ignored --nocapture`.
#[test]
#[ignore = "needs a Playwright report of the original's suite: set DRA_E2E_REPORT"]
fn a_saved_report_has_no_unexplained_failure() {
    let path = std::env::var("DRA_E2E_REPORT").expect("DRA_E2E_REPORT: a dra-results.json");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
    .expect("Playwright's JSON report");
    let mut outcomes = Vec::new();
    collect(&report["suites"], &mut outcomes);
    eprintln!("{}", summarise(&outcomes));
    let unexplained: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed() && !o.skipped_by_the_suite())
        .filter(|o| classified(o).is_none())
        .map(|o| format!("- {} › {}: {}", o.file, o.title, o.note))
        .collect();
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}

/// What a person sees: the answer (as stored) appears where the question was asked, without
/// a reload, and so does a follow-up's. The original's frontend at 08592a9 no longer acts on
/// `persistence_completed` (ba1e0dc removed its handler), so a new chat stays a draft in its
/// sidebar and a follow-up's exchange replaces the first one on screen until a reload,
/// whatever the backend: only the latest answer is asserted.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the original's frontend: run scripts/original-e2e.sh ORIGINAL"]
async fn the_originals_frontend_shows_each_answer_without_a_reload() {
    let (_work, server) = serve_the_originals_frontend().await;
    let b = Browser::start("original-no-reload").await;
    b.client.goto(&server.url).await.expect("open the UI");
    b.find("[data-testid=message-input]").await;
    // Survives only as long as the page is not reloaded.
    b.js("window.__draSamePage = true; return true").await;

    for (turn, question) in [
        "What is retrieval-augmented generation?",
        "And how is it evaluated?",
    ]
    .into_iter()
    .enumerate()
    {
        b.type_into("[data-testid=message-input]", question).await;
        b.click("[data-testid=send-button]").await;
        let chat_id = chat_id_in_url(&b).await;
        let answer = stored_answer(&server, &chat_id, turn).await;
        // A sentence of the stored answer, as the page renders it (markers are elements).
        let sentence: String = answer
            .split(['[', '\n', '.'])
            .map(str::trim)
            .find(|s| s.len() > 30 && !s.starts_with('#'))
            .unwrap_or_else(|| panic!("no plain sentence in the answer: {answer}"))
            .to_string();
        let expected = serde_json::to_string(&sentence).expect("json");
        b.wait_js_for(
            &format!("answer {} to appear in the page", turn + 1),
            &format!(
                "const r = [...document.querySelectorAll('[data-testid=agent-response]')]; \
                 return r.length > 0 && r[r.length - 1].innerText.includes({expected}) \
                 && window.__draSamePage === true"
            ),
            RUN_PATIENCE,
        )
        .await;
        let id = serde_json::to_string(&chat_id).expect("json");
        b.wait_js(
            "the chat in the sidebar",
            &format!(
                "return document.querySelector(`[data-testid=\"chat-item-${{{id}}}\"]`) !== null"
            ),
        )
        .await;
    }
    b.close().await;
}

/// How long a research run on the fake world may take in the browser.
const RUN_PATIENCE: Duration = Duration::from_secs(180);

/// The chat id in the page's `/chat/{id}` URL, once it has one.
async fn chat_id_in_url(b: &Browser) -> String {
    b.wait_js(
        "a /chat/{id} URL",
        "return /^\\/chat\\/[0-9a-f-]{36}/.test(location.pathname)",
    )
    .await;
    b.js("return location.pathname.split('/')[2]")
        .await
        .as_str()
        .expect("chat id")
        .to_string()
}

/// The `turn`-th assistant answer stored for `chat_id`, once it is stored.
async fn stored_answer(server: &UiServer, chat_id: &str, turn: usize) -> String {
    let deadline = std::time::Instant::now() + RUN_PATIENCE;
    loop {
        let (status, body) = server
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/chats/{chat_id}/messages"),
                None,
            )
            .await;
        let answers: Vec<String> = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "agent" || m["role"] == "assistant")
            .filter_map(|m| m["content"].as_str())
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(answer) = answers.get(turn) {
            return answer.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stored answer {} for chat {chat_id}: {status} {body}",
            turn + 1
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The directory scripts/original-e2e.sh prepared, and `dra serve` on the fake world
/// serving the original's built frontend.
async fn serve_the_originals_frontend() -> (PathBuf, UiServer) {
    let work = PathBuf::from(std::env::var("DRA_ORIGINAL_E2E").expect(
        "DRA_ORIGINAL_E2E: the directory scripts/original-e2e.sh prepares (frontend built \
         into static/, e2e/ with its node_modules)",
    ));
    let static_dir = work.join("static");
    assert!(
        static_dir.join("index.html").is_file() && work.join("e2e/node_modules").is_dir(),
        "{} is not prepared: run scripts/original-e2e.sh ORIGINAL",
        work.display()
    );
    // Installs Debian's Chromium when it is missing.
    browser::chromedriver();

    let fakes = Fakes::start().await;
    SchemaModel::plain(17).serve(&fakes.llm, &["test-fast", "test-strong"]);
    // Latencies as a hosted model and Brave show them, so a run lasts long enough to be
    // watched, streamed and stopped.
    for model in ["test-fast", "test-strong"] {
        fakes.llm.latency(model, Duration::from_millis(300));
    }
    fakes.search.latency(Duration::from_millis(200));
    // One substantive page, so the report's quotes (and marker [1], which the suite
    // clicks) come from source 1; the short /plain.txt rarely yields a quote.
    fakes.search.serve_pages(&fakes.pages, &["/article"]);
    let static_arg = static_dir.to_string_lossy().into_owned();
    // At info, the log tail printed on a failure shows each request and its status.
    let server = UiServer::launch(
        fakes,
        &["--static-dir", &static_arg],
        &[("LOG_LEVEL", "info")],
    )
    .await;
    (work, server)
}

/// Every test in Playwright's nested suites, with its file.
fn collect(suites: &Value, out: &mut Vec<Outcome>) {
    for suite in suites.as_array().into_iter().flatten() {
        for spec in suite["specs"].as_array().into_iter().flatten() {
            for test in spec["tests"].as_array().into_iter().flatten() {
                let last = test["results"]
                    .as_array()
                    .and_then(|r| r.last())
                    .cloned()
                    .unwrap_or(Value::Null);
                let skip_reason = test["annotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(last["annotations"].as_array().into_iter().flatten())
                    .filter(|a| a["type"] == "skip")
                    .filter_map(|a| a["description"].as_str())
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let error = last["error"]["message"]
                    .as_str()
                    .map(strip_ansi)
                    .unwrap_or_default();
                let note = if error.is_empty() {
                    skip_reason
                } else {
                    first_lines(&error, 3)
                };
                out.push(Outcome {
                    file: spec["file"].as_str().unwrap_or_default().to_string(),
                    title: spec["title"].as_str().unwrap_or_default().to_string(),
                    status: test["status"].as_str().unwrap_or_default().to_string(),
                    note,
                    error,
                });
            }
        }
        collect(&suite["suites"], out);
    }
}

/// A per-spec table (passed, failed, skipped) and every failure and skip with its reason.
fn summarise(outcomes: &[Outcome]) -> String {
    let mut per_file: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for o in outcomes {
        let slot = if o.passed() {
            0
        } else if o.skipped_by_the_suite() {
            2
        } else {
            1
        };
        per_file.entry(&o.file).or_default()[slot] += 1;
    }
    let mut s = String::from(
        "| spec | passed | failed (or skipped at run time) | skipped by the suite |\n|---|---|---|---|\n",
    );
    let mut total = [0; 3];
    for (file, counts) in &per_file {
        s.push_str(&format!(
            "| {file} | {} | {} | {} |\n",
            counts[0], counts[1], counts[2]
        ));
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
    }
    s.push_str(&format!(
        "| **all** | {} | {} | {} |\n",
        total[0], total[1], total[2]
    ));
    for o in outcomes.iter().filter(|o| !o.passed()) {
        let classified = classified(o)
            .map(|why| format!(" (classified: {why})"))
            .unwrap_or_default();
        s.push_str(&format!(
            "\n- {} {} › {}: {}{classified}",
            o.status, o.file, o.title, o.note
        ));
    }
    for o in outcomes.iter().filter(|o| o.passed()) {
        if let Some(why) = classified(o) {
            s.push_str(&format!(
                "\n- classified but passed: {} › {} ({why})",
                o.file, o.title
            ));
        }
    }
    s.push('\n');
    s
}

fn strip_ansi(s: &str) -> String {
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    re.replace_all(s, "").into_owned()
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
