//! `dra research` through the binary, on the fakes.

use crate::support::llm::Reply;
use crate::support::world::{interrupt_after_first_step, Fakes};
use crate::support::{Dra, FakeWikipedia};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn research_prints_the_report_and_writes_the_out_directory() {
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("run");
    let out = w
        .dra([
            "research",
            "How fast are deltas losing wetlands?",
            "--out",
            out_path.to_str().unwrap(),
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    assert!(
        out.stdout.contains("wetlands [1].") && !out.stdout.contains("[5]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("## References"), "{}", out.stdout);
    assert!(
        out.stderr.contains("plan v1: Plan (1 steps)"),
        "progress lines on stderr: {}",
        out.stderr
    );

    let report = std::fs::read_to_string(out_path.join("report.md")).unwrap();
    assert_eq!(report, out.stdout);
    let sources: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out_path.join("sources.json")).unwrap())
            .unwrap();
    assert_eq!(sources.len(), 2);
    let usage: Value =
        serde_json::from_str(&std::fs::read_to_string(out_path.join("usage.json")).unwrap())
            .unwrap();
    assert_eq!(usage["pagesFetched"], 2);
    assert!(usage["calls"].as_u64().unwrap() >= 5, "{usage}");
    // The report's invented [5]; the final links pass found nothing left to change.
    assert_eq!(usage["citationsDropped"], 1, "{usage:#}");
    assert_eq!(usage["citationsRepointed"], 0, "{usage:#}");
    assert_eq!(usage["linksRemoved"], 0, "{usage:#}");
    assert_eq!(usage["linksRewritten"], 0, "{usage:#}");
    let events = std::fs::read_to_string(out_path.join("events.jsonl")).unwrap();
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["eventType"], "research_completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_format_prints_the_run_for_scripts() {
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra([
            "research",
            "How fast are deltas losing wetlands?",
            "--format",
            "json",
            "--no-clarify",
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with('[') && l.contains("] plan v1")),
        "timestamped lines: {}",
        out.stderr
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["stepsExecuted"], 1);
    assert_eq!(v["sources"].as_array().unwrap().len(), 2);
    assert!(v["usage"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["endpoint"] == "strong"));
}

#[tokio::test(flavor = "multi_thread")]
async fn clarification_exits_11_with_the_questions_and_bad_input_is_explained() {
    let w = Fakes::start().await;
    w.llm.script(
        "test-fast",
        vec![Reply::Text(json!({"mode": "deep_research", "depth": "medium", "is_ambiguous": true, "clarifying_questions": ["Which delta?"], "reasoning": "vague"}).to_string())],
    );
    let out = w.dra(["research", "deltas?"]).run().await;
    assert_eq!(out.code, 11, "{out:?}");
    assert_eq!(out.stdout.trim(), "- Which delta?");

    // A blank question is a usage error (2), found before any model is looked for: the
    // same with no model server at all.
    for (args, model) in [
        (["research", "   "], true),
        (["research", "-"], true),
        (["research", "\t\n"], false),
        (["research", "-"], false),
    ] {
        let dra = if model { w.dra(args) } else { Dra::new(args) };
        // `run` gives the child an empty stdin.
        let out = dra.run().await;
        assert_eq!(out.code, 2, "{args:?} (model: {model}): {out:?}");
        assert!(
            out.stderr.contains("the question is empty"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("`-`"),
            "says how to give one: {}",
            out.stderr
        );
    }

    let out = Dra::new(["research", "q"]).run().await;
    assert_eq!(out.code, 4, "no model credentials: {out:?}");
    assert!(out.stderr.contains("OPENAI_BASE_URL"), "{}", out.stderr);

    let out = Dra::new(["research", "--search-provider", "brave", "q"])
        .env("OPENAI_BASE_URL", format!("{}/v1", w.llm.url))
        .run()
        .await;
    assert_eq!(out.code, 9, "Brave named, but no key: {out:?}");
    assert!(out.stderr.contains("BRAVE_API_KEY"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--search-provider") && !out.stderr.contains("/ --provider"),
        "the hint names flags `dra research` has: {}",
        out.stderr
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = w
        .dra(["research", "--no-clarify", "q"])
        .env("OPENAI_BASE_URL", format!("{dead}/v1"))
        .run()
        .await;
    assert_eq!(out.code, 10, "unreachable model server: {out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains(&dead) && last.contains("Connection refused"),
        "one line naming the server and why: {last}"
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_runs_print_only_the_report() {
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra(["research", "-q", "--no-clarify", "How fast?"])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(out.stdout.starts_with("# Deltas"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_prints_and_writes_the_partial_report_and_exits_130() {
    let w = Fakes::start().await;
    w.script_run_that_hangs_after_one_step();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("run");
    let (child, _home) = w
        .dra([
            "research",
            "--mode",
            "deep-research",
            "--depth",
            "light",
            "--out",
            out_path.to_str().unwrap(),
            "How fast are deltas losing wetlands?",
        ])
        .spawn();
    let events = out_path.join("events.jsonl");
    // Wait for the first step to finish (the reflection then hangs), then press Ctrl-C.
    let out = interrupt_after_first_step(child, &events).await;
    assert_eq!(out.code, 130, "{out:?}");
    assert!(out.stdout.contains("**Partial report.**"), "{}", out.stdout);
    assert!(out.stdout.contains("wetlands [1]."), "{}", out.stdout);
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
    let report = std::fs::read_to_string(out_path.join("report.md")).unwrap();
    assert_eq!(report, out.stdout);
    // The events end where the run stopped: a cancel is no error (the original's
    // frontend would show one as a failure).
    let events = std::fs::read_to_string(&events).unwrap();
    let kinds: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["eventType"].to_string())
        .collect();
    assert!(
        kinds.contains(&"\"step_completed\"".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"\"error\"".to_string()), "{kinds:?}");
    assert!(
        w.llm.calls_to("test-strong").is_empty(),
        "no synthesis after Ctrl-C"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn model_tier_overrides_route_agents_and_bad_ones_are_explained() {
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    // The report comes from endpoint `fast` once the synthesizer uses the simple tier.
    w.llm.script(
        "test-fast",
        vec![Reply::Stream(
            vec!["# On fast\n\nDeltas shrink [1].".into()],
        )],
    );
    let out = w
        .dra([
            "research",
            "-q",
            "--model-tier",
            "synthesizer=simple",
            "How fast?",
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.starts_with("# On fast"), "{}", out.stdout);
    assert!(w.llm.calls_to("test-strong").is_empty());

    let out = w
        .dra(["research", "--model-tier", "planner=nosuch", "q"])
        .run()
        .await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("unknown model tier `nosuch`"),
        "{}",
        out.stderr
    );
    let out = w
        .dra(["research", "--model-tier", "janitor=simple", "q"])
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("unknown agent `janitor`"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_earlier_report_is_not_overwritten_without_yes() {
    let w = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.md"), "earlier work").unwrap();
    let out = w
        .dra(["research", "--out", dir.path().to_str().unwrap(), "q"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.md")).unwrap(),
        "earlier work"
    );

    w.script_one_step_run("Deltas");
    let out = w
        .dra([
            "research",
            "-q",
            "--yes",
            "--out",
            dir.path().to_str().unwrap(),
            "How fast?",
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(std::fs::read_to_string(dir.path().join("report.md"))
        .unwrap()
        .starts_with("# Deltas"));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_coordinators_questions_are_asked_and_the_answers_used() {
    let w = Fakes::start().await;
    let say = |v: Value| Reply::Text(v.to_string());
    w.llm.script(
        "test-fast",
        vec![say(json!({"mode": "deep_research", "depth": "light", "is_ambiguous": true, "clarifying_questions": ["Which delta?"], "reasoning": "vague"}))],
    );
    w.script_one_step_run("Mekong delta");
    let out = w
        .dra(["research", "How fast are deltas losing wetlands?"])
        .run_in_terminal("The Mekong\n")
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Which delta?"), "{}", out.stdout);
    assert!(out.stdout.contains("# Mekong delta"), "{}", out.stdout);
    let fast = w.llm.calls_to("test-fast");
    let second_coordinator = fast[1].body.to_string();
    assert!(
        second_coordinator.contains("The Mekong") && second_coordinator.contains("Which delta?"),
        "the coordinator sees the exchange: {second_coordinator}"
    );
    let planner = fast[2].body.to_string();
    assert!(
        planner.contains("Clarifications:") && planner.contains("Which delta? The Mekong"),
        "later agents see the answer in the question: {planner}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_writes_the_provenance_next_to_the_report_and_no_verify_skips_it() {
    let w = Fakes::start().await;
    w.script_one_step_run("Deltas");
    w.verifier_says_supported();
    let dir = tempfile::tempdir().unwrap();
    let out = w
        .dra([
            "research",
            "-q",
            "--verify",
            "--out",
            dir.path().to_str().unwrap(),
            "How fast?",
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let provenance: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("provenance.json")).unwrap())
            .unwrap();
    let claims = provenance["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{provenance:#}");
    assert_eq!(claims[0]["verdict"], "supported");
    assert_eq!(provenance["summary"]["totalClaims"], 1);
    let report = std::fs::read_to_string(dir.path().join("provenance.md")).unwrap();
    assert!(report.contains("Verification Report"), "{report}");
    let usage: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("usage.json")).unwrap())
            .unwrap();
    assert_eq!(usage["verification"]["claims"], 1);
    let v = &usage["verification"];
    assert!(v["modelCalls"].as_u64().unwrap() >= 1, "{usage:#}");
    assert!(
        v["promptTokens"].as_u64().unwrap() > 0 && v["completionTokens"].as_u64().unwrap() > 0,
        "verification's tokens are counted: {usage:#}"
    );
    assert!(v["promptTokens"].as_u64() < usage["promptTokens"].as_u64());
    assert_eq!(v["searches"], 0);

    w.script_one_step_run("Deltas");
    let dir = tempfile::tempdir().unwrap();
    let out = w
        .dra([
            "research",
            "-q",
            "--verify",
            "--no-verify",
            "--out",
            dir.path().to_str().unwrap(),
            "How fast?",
        ])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        !dir.path().join("provenance.json").exists(),
        "the last flag wins"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_mode_runs_with_no_search_configured_at_all() {
    let w = Fakes::start().await;
    w.llm.always(
        "test-fast",
        Reply::Stream(vec![
            "A delta is where a river deposits sediment as it meets the sea.".into(),
        ]),
    );
    // No Brave key, no SearXNG URL, no Wikipedia fake: and even Brave named outright.
    for extra in [&[][..], &["--search-provider", "brave"][..]] {
        let mut args = vec!["research", "--mode", "simple"];
        args.extend_from_slice(extra);
        args.push("What is a river delta?");
        let out = Dra::new(args)
            .env("OPENAI_BASE_URL", format!("{}/v1", w.llm.url))
            .run()
            .await;
        assert!(out.ok(), "{extra:?}: {out:?}");
        assert!(
            out.stdout
                .contains("A delta is where a river deposits sediment"),
            "{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains("Wikipedia") && !out.stderr.contains("BRAVE_API_KEY"),
            "no search, so nothing to say about it: {}",
            out.stderr
        );
    }
    assert!(w.search.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_research_searches_wikipedia_and_cites_the_articles_it_read() {
    let w = Fakes::start().await;
    let wiki = FakeWikipedia::start().await;
    w.script_one_step_run("Deltas");
    let out = Dra::new([
        "research",
        "--no-clarify",
        "How fast are deltas losing wetlands?",
    ])
    .env("OPENAI_BASE_URL", format!("{}/v1", w.llm.url))
    .env("WIKIPEDIA_BASE_URL", &wiki.url)
    .run()
    .await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(
        out.stderr
            .lines()
            .filter(
                |l| l.starts_with("no BRAVE_API_KEY or SEARXNG_URL: searching Wikipedia (keyless")
            )
            .count(),
        1,
        "one notice: {}",
        out.stderr
    );
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    let queries: Vec<String> = wiki
        .requests()
        .iter()
        .filter_map(|r| r.params.get("srsearch").cloned())
        .collect();
    assert!(
        queries.iter().any(|q| q == "delta wetland loss"),
        "the researcher's query went to Wikipedia: {queries:?}"
    );
    assert!(w.search.requests().is_empty(), "nothing went to Brave");

    // Every article the report links is one the run fetched, at its wiki URL.
    let prefix = format!("{}/wiki/", wiki.url);
    let cited: Vec<String> = out
        .stdout
        .match_indices(&prefix)
        .map(|(i, _)| {
            out.stdout[i + prefix.len()..]
                .split(|c: char| c == ')' || c == '>' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .replace('_', " ")
        })
        .collect();
    // Which hit becomes source [1] depends on which fetch finishes first; whichever it
    // is, it must be one the run fetched (below).
    assert_eq!(cited.len(), 1, "{}", out.stdout);
    for title in &cited {
        assert!(
            wiki.fetches(title) >= 1,
            "{title} was cited but never fetched"
        );
    }
    assert!(out.stdout.contains("## References"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_provider_flag_picks_wikipedia_over_a_configured_brave() {
    let w = Fakes::start().await;
    let wiki = FakeWikipedia::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra([
            "research",
            "--no-clarify",
            "--search-provider",
            "wikipedia",
            "How fast are deltas losing wetlands?",
        ])
        .env("WIKIPEDIA_BASE_URL", &wiki.url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!wiki.requests().is_empty());
    assert!(
        w.search.requests().is_empty(),
        "Brave had a key but was not asked"
    );
    assert!(
        !out.stderr.contains("keyless"),
        "chosen, so no notice: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_search_provider_is_refused_listing_the_choices() {
    let out = Dra::new(["research", "--search-provider", "foo", "q"])
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("invalid value 'foo' for '--search-provider <NAME>'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("[possible values: brave, searxng, wikipedia]"),
        "{}",
        out.stderr
    );

    let help = Dra::new(["research", "--help"]).run().await;
    assert!(help.ok(), "{help:?}");
    assert!(
        help.stdout.contains("--search-provider <NAME>") && help.stdout.contains("else Wikipedia"),
        "{}",
        help.stdout
    );
}

/// Issue 18's "done when": a machine with only a local OpenAI-compatible server that knows
/// one model, no search key, the shipped configuration, and `dra research "q"` writes a
/// cited report. (Wikipedia's address is the fake's, and loopback fetches are allowed
/// because the fakes live there; nothing else is set.)
#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_with_only_a_local_model_server_gets_a_cited_report() {
    let llm = crate::support::llm::FakeLlm::start().await;
    crate::support::schema_llm::SchemaModel::plain(21).serve(&llm, &["llama3.2:3b"]);
    llm.only_knows(&["llama3.2:3b"]);
    let wiki = FakeWikipedia::start().await;
    wiki.fuzzy();
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        shipped.replace(
            "allow_private_addresses: false",
            "allow_private_addresses: true",
        ),
    )
    .unwrap();
    let out = Dra::new([
        "research",
        "--mode",
        "deep-research",
        "How fast are deltas losing wetlands?",
    ])
    .env("APP_CONFIG_PATH", dir.path().join("app.yaml"))
    .env("OPENAI_BASE_URL", format!("{}/v1", llm.url))
    .env("WIKIPEDIA_BASE_URL", &wiki.url)
    .run()
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("using model llama3.2:3b")
            && out.stderr.contains("searching Wikipedia (keyless"),
        "{}",
        out.stderr
    );
    let prefix = format!("{}/wiki/", wiki.url);
    assert!(
        regex::Regex::new(r"\[\d+\]").unwrap().is_match(&out.stdout)
            && out.stdout.contains(&prefix),
        "a report citing the articles it read:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(llm.calls().iter().all(|c| c.model == "llama3.2:3b"));
}

/// The README's quick start, read from the README itself, as a newcomer runs it: the run
/// command against a local server that knows one model and keyless search, and the test
/// command the same as CI's.
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quick_start_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```bash\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a bash block near the top of README.md");
    let commands: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(commands.len(), 2, "a run and a test command: {commands:?}");
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        "CI runs the README's test command {:?}",
        commands[1]
    );
    let words = shlex::split(commands[0]).expect("a shell command");
    let args = match words.iter().position(|w| w == "--") {
        Some(i) if words[0] == "cargo" => words[i + 1..].to_vec(),
        _ if words[0] == "dra" => words[1..].to_vec(),
        _ => panic!("the run command is neither `cargo run -- …` nor `dra …`: {words:?}"),
    };
    assert_eq!(
        args.first().map(String::as_str),
        Some("research"),
        "{args:?}"
    );

    let llm = crate::support::llm::FakeLlm::start().await;
    crate::support::schema_llm::SchemaModel::plain(22).serve(&llm, &["llama3.2:3b"]);
    llm.only_knows(&["llama3.2:3b"]);
    let wiki = FakeWikipedia::start().await;
    wiki.fuzzy();
    let out = Dra::new(&args)
        .env(
            "APP_CONFIG_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml"),
        )
        .env("OPENAI_BASE_URL", format!("{}/v1", llm.url))
        .env("WIKIPEDIA_BASE_URL", &wiki.url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(!out.stdout.trim().is_empty(), "{out:?}");
    assert!(
        out.stderr.contains("using model llama3.2:3b")
            && (out.stderr.contains("searching Wikipedia (keyless")
                || !out.stderr.contains("web_search")),
        "{}",
        out.stderr
    );
}

#[test]
fn the_readme_is_a_short_guide_whose_links_stay_in_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 200,
        "README.md is a guide; the reference lives in docs/"
    );
    let links = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    for link in links.captures_iter(&readme).map(|c| c[1].to_string()) {
        assert!(
            !link.starts_with(".."),
            "a link outside the repository: {link}"
        );
        if !link.contains("://") && !link.starts_with('#') {
            assert!(
                root.join(&link).exists(),
                "README links to a missing {link}"
            );
        }
    }
}
