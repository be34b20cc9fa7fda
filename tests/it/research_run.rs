//! A whole research run on the fakes: model server, Brave and the page server.

use dra::research::run::{Outcome, RunRequest};
use std::sync::{Arc, Mutex};

use crate::support::llm::Reply;
use crate::support::world::{claim_of, last_user_message, say, shape, World};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_deep_research_run_follows_the_originals_event_sequence_and_cites_only_fetched_pages() {
    let w = World::start().await;
    w.llm.script(
        "ep-simple",
        vec![
            say(json!({"mode": "deep_research", "depth": "light", "is_ambiguous": false, "clarifying_questions": [], "reasoning": "broad"})),
            say(json!({"decision": "complete", "reasoning": "The first step covers it.", "suggested_changes": null})),
        ],
    );
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"title": "Delta wetlands", "thought": "t", "steps": [
                {"id": "a", "title": "Loss rates", "description": "measured loss", "step_type": "research", "needs_search": true},
                {"id": "b", "title": "Causes", "description": "why", "step_type": "research", "needs_search": true}
            ]})),
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- Deltas lost a fifth of their wetlands [1].\n- Invented [7].".into()),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec![
            "# Delta wetlands\n\nDeltas lost a fifth of their wetlands [1]. ".into(),
            "Also [7].".into(),
        ])],
    );

    let (outcome, events) = w
        .run(&RunRequest::new(
            "How fast are river deltas losing wetlands?",
        ))
        .await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}\n{events:#?}");
    };
    assert_eq!(
        shape(&events),
        [
            "research_started",
            "agent_started coordinator",
            "agent_completed coordinator",
            "agent_started background_investigator",
            "agent_completed background_investigator",
            "agent_started planner",
            "agent_completed planner",
            "plan_created",
            "step_started",
            "agent_started researcher",
            "agent_completed researcher",
            "step_completed",
            "agent_started reflector",
            "agent_completed reflector",
            "reflection_decision",
            "synthesis_started",
            "agent_started synthesizer",
            "agent_completed synthesizer",
            "content_revised",
            "research_completed",
        ]
    );
    let seq: Vec<i64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, (1..=events.len() as i64).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|e| e["eventType"] == "synthesis_progress"));

    assert_eq!(
        (
            report.steps_executed,
            report.steps_skipped,
            report.plan_iterations
        ),
        (1, 1, 1)
    );
    assert_eq!(report.sources.len(), 2, "both pages fetched and numbered");
    assert!(report.markdown.contains("wetlands [1]."));
    assert!(!report.markdown.contains("[7]"), "{}", report.markdown);
    assert!(
        report.markdown.contains("## References\n\n1. "),
        "{}",
        report.markdown
    );
    assert!(report.citations_dropped >= 2);
    // The streamed draft cited [7]; the frontend swaps it for the report as it stands.
    let revised = &events[events.len() - 2]["payload"];
    assert_eq!(revised["content"].as_str().unwrap(), report.markdown);
    assert!(revised["revisionCount"].as_u64().unwrap() >= 2, "{revised}");
    let done = events.last().unwrap();
    assert_eq!(done["payload"]["totalStepsExecuted"], 1);
    assert_eq!(
        done["payload"]["finalReport"].as_str().unwrap(),
        report.markdown
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_questions_stop_for_clarification_and_simple_ones_are_answered() {
    let w = World::start().await;
    w.llm.script(
        "ep-simple",
        vec![
            say(json!({"mode": "deep_research", "depth": "medium", "is_ambiguous": true, "clarifying_questions": ["Which delta?"], "reasoning": "vague"})),
            say(json!({"mode": "simple", "depth": "light", "direct_answer": "Paris.", "reasoning": "fact"})),
        ],
    );
    let (outcome, events) = w.run(&RunRequest::new("deltas?")).await;
    assert!(
        matches!(&outcome, Ok(Outcome::Clarify { questions }) if questions == &["Which delta?"]),
        "{outcome:?}"
    );
    assert_eq!(events.last().unwrap()["eventType"], "clarification_needed");

    let (outcome, events) = w.run(&RunRequest::new("Capital of France?")).await;
    assert!(
        matches!(&outcome, Ok(Outcome::Answer { text }) if text == "Paris."),
        "{outcome:?}"
    );
    assert_eq!(events.last().unwrap()["eventType"], "research_completed");
    // The original's events for a direct answer: the synthesizer "writes" it, in one
    // chunk when the coordinator had it ready.
    assert_eq!(
        shape(&events),
        [
            "research_started",
            "agent_started coordinator",
            "agent_completed coordinator",
            "synthesis_started",
            "agent_started synthesizer",
            "agent_completed synthesizer",
            "research_completed",
        ]
    );
    let chunks: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == "synthesis_progress")
        .map(|e| &e["payload"]["contentChunk"])
        .collect();
    assert_eq!(chunks, [&json!("Paris.")]);
    assert!(
        w.llm.calls_to("ep-analytical").is_empty(),
        "no planning for a simple question"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_every_step_fails_is_an_error_not_an_empty_report() {
    let w = World::start().await;
    w.llm.always("ep-analytical", Reply::Status(400, None));
    w.llm.script(
        "ep-simple",
        vec![say(
            json!({"mode": "web_search", "depth": "light", "reasoning": "quick"}),
        )],
    );
    let (outcome, events) = w.run(&RunRequest::new("anything")).await;
    assert!(
        matches!(
            outcome,
            Err(dra::research::run::RunError::NothingFound { failed: 1 })
        ),
        "{outcome:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (
            last["eventType"].as_str(),
            last["payload"]["recoverable"].as_bool()
        ),
        (Some("error"), Some(false))
    );
    assert!(
        w.llm.calls_to("ep-complex").is_empty(),
        "no report without findings"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_medium_run_researches_in_react_mode_and_cites_only_fetched_pages() {
    let w = World::start().await;
    w.llm.script(
        "ep-simple",
        vec![say(
            json!({"mode": "deep_research", "depth": "medium", "is_ambiguous": false, "clarifying_questions": [], "reasoning": "several aspects"}),
        )],
    );
    let pages = &w.pages;
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"title": "Delta wetlands", "thought": "t", "steps": [
                {"id": "a", "title": "Loss rates", "description": "measured loss", "step_type": "research", "needs_search": true}
            ]})),
            Reply::tools(&[("web_search", json!({"query": "delta wetland loss"}))]),
            Reply::tools(&[
                ("web_crawl", json!({"url": pages.url("/article")})),
                ("web_crawl", json!({"url": pages.url("/plain.txt")})),
            ]),
            Reply::Text("- Deltas lost a fifth of their wetlands [1][2].\n- Invented [7].".into()),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec![
            "# Delta wetlands\n\nDeltas lost a fifth of their wetlands [1][2]. Also [7].".into(),
        ])],
    );

    let (outcome, events) = w
        .run(&RunRequest::new(
            "How fast are river deltas losing wetlands, and why?",
        ))
        .await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}\n{events:#?}");
    };

    // The researcher's turns offered the tools: ReAct mode, the medium profile's default.
    let analytical = w.llm.calls_to("ep-analytical");
    assert_eq!(analytical.len(), 4);
    assert!(analytical[0].body.get("tools").is_none(), "the planner");
    assert!(analytical[1..]
        .iter()
        .all(|c| c.body.get("tools").is_some()));
    let crawls = events
        .iter()
        .filter(|e| e["eventType"] == "tool_call" && e["payload"]["toolName"] == "web_crawl")
        .count();
    assert_eq!(crawls, 2);

    let fetched: Vec<u32> = report.sources.iter().map(|s| s.number).collect();
    assert_eq!(fetched, [1, 2]);
    assert_eq!(report.cited.iter().copied().collect::<Vec<_>>(), [1, 2]);
    assert!(
        report.markdown.contains("wetlands [1][2]."),
        "{}",
        report.markdown
    );
    assert!(!report.markdown.contains("[7]"), "{}", report.markdown);
    let completed = events
        .iter()
        .find(|e| e["eventType"] == "step_completed")
        .expect("the step completed");
    assert_eq!(completed["payload"]["sourcesFound"], 2);
    assert!(report.citations_dropped >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn web_search_mode_is_one_researched_step_and_a_report_without_planner_or_reflector() {
    let w = World::start().await;
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"queries": ["delta wetland loss", "wetland area trend", "third"]})),
            Reply::Text("- Deltas lost a fifth of their wetlands [1].".into()),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec!["# Quick answer\n\nA fifth [1].".into()])],
    );
    let req = RunRequest {
        mode: Some(dra::research::agents::QueryMode::WebSearch),
        ..RunRequest::new("How fast are deltas losing wetlands?")
    };
    let (outcome, events) = w.run(&req).await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}");
    };
    assert_eq!(report.steps_executed, 1);
    assert!(report.markdown.starts_with("# Quick answer"));
    let agents: Vec<String> = shape(&events)
        .into_iter()
        .filter(|s| s.starts_with("agent_started"))
        .collect();
    assert_eq!(
        agents,
        ["agent_started researcher", "agent_started synthesizer"],
        "no coordinator, background search, planner or reflector"
    );
    // The web_search mode's own limits: two searches, three pages at most.
    let searches = events
        .iter()
        .filter(|e| e["eventType"] == "tool_call" && e["payload"]["toolName"] == "web_search")
        .count();
    assert_eq!(searches, 2);
    assert!(w.llm.calls_to("ep-simple").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_report_keeps_supported_claims_and_softens_the_rest_with_events() {
    let mut w = World::start().await;
    w.config.citation_verification.enabled = true;
    // One page, so it is source [1].
    w.search_fake.serve_pages(&w.pages, &["/article"]);
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- The delta lost nearly a fifth of its wetlands [1].".into()),
        ],
    );
    // The verifier: the stations claim is not in the article; anything else it calls
    // supported (so only the numeric check can catch the wrong number).
    w.llm.respond("ep-analytical", |body| {
        if body.to_string().contains("42 stations") {
            say(json!({"verdict": "unsupported", "reasoning": "The evidence does not mention stations."}))
        } else {
            say(json!({"verdict": "supported", "reasoning": "Stated in the evidence."}))
        }
    });
    let verbatim = "Researchers at the coastal institute mapped sediment flows for six years using buoys, drones and satellite images";
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec![format!(
            "# Deltas\n\n{verbatim} [1]. The survey covered 42 stations [1]. The delta lost 40% of its wetlands since 1990 [1].\n"
        )])],
    );
    let req = RunRequest {
        mode: Some(dra::research::agents::QueryMode::WebSearch),
        ..RunRequest::new("How fast are deltas losing wetlands?")
    };
    let (outcome, events) = w.run(&req).await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}");
    };
    let v = report
        .verification
        .as_ref()
        .expect("the report was verified");
    assert_eq!(v.claims.len(), 3);
    assert_eq!(v.summary.total_claims, 3);
    assert_eq!(v.summary.supported_count, 1, "{:#?}", v.claims);
    // The verbatim claim cost no model call (the research made two on this tier).
    let verification_calls: Vec<_> = w
        .llm
        .calls_to("ep-analytical")
        .into_iter()
        .skip(2)
        .collect();
    // High-confidence claims (the 40% one follows its quote's wording) go to the quick
    // tier first.
    let quick_calls = w
        .llm
        .calls_to("ep-simple")
        .iter()
        .filter(|c| last_user_message(&c.body).starts_with("## Claim"))
        .count();
    assert_eq!(
        v.model_calls as usize,
        verification_calls.len() + quick_calls
    );
    // The claim found verbatim was free; each other claim costs one call, or two when a
    // quick check falls short and the full check follows.
    assert!(
        (2..=4).contains(&(v.model_calls as usize)),
        "{}",
        v.model_calls
    );
    assert!(
        report.markdown.contains(&format!("{verbatim} [1].")),
        "{}",
        report.markdown
    );
    assert!(
        !report.markdown.contains("42 stations [1]")
            && !report
                .markdown
                .contains("40% of its wetlands since 1990 [1]"),
        "unsupported claims lose their citation: {}",
        report.markdown
    );
    assert!(
        report.markdown.contains("(unverified)"),
        "{}",
        report.markdown
    );
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "claim_verified").count(), 3);
    assert!(kinds.contains(&"numeric_claim_detected"));
    let summary = kinds
        .iter()
        .position(|k| *k == "verification_summary")
        .unwrap();
    assert_eq!(
        kinds[summary + 1..],
        ["content_revised", "research_completed"]
    );
    assert_eq!(
        events.last().unwrap()["payload"]["finalReport"],
        report.markdown.as_str()
    );
}

/// The ids of the quotes in a synthesizer request's Evidence block, with their text.
fn evidence_quotes(user: &str) -> Vec<(u32, String)> {
    let Some(block) = user.split("\nEvidence:\n").nth(1) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut lines = block.lines();
    while let Some(line) = lines.next() {
        let Some(id) = line
            .strip_prefix("[E")
            .and_then(|r| r.split_once(']'))
            .and_then(|(n, _)| n.parse().ok())
        else {
            continue;
        };
        if let Some(quote) = lines.next() {
            out.push((id, quote.trim_matches('"').to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_synthesizer_writes_from_quote_ids_and_each_claim_is_judged_on_its_quote() {
    let mut w = World::start().await;
    w.config.citation_verification.enabled = true;
    w.search_fake.serve_pages(&w.pages, &["/article"]);
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text(
                "- The delta lost nearly a fifth of its wetlands since 1990 [1].\n- Dams trap sediment [1].".into(),
            ),
        ],
    );
    // The verifier records the first quote it is shown for each claim.
    let shown: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = Arc::clone(&shown);
    w.llm.respond("ep-analytical", move |body| {
        let user = last_user_message(body);
        let claim = claim_of(&user);
        let first = user
            .split("## Evidence\n")
            .nth(1)
            .and_then(|r| r.lines().nth(1))
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push((claim, first));
        say(json!({"verdict": "supported", "reasoning": "Stated.", "evidence_index": 1}))
    });
    w.llm.respond("ep-simple", |_| {
        say(json!({"verdict": "supported", "reasoning": "Stated.", "evidence_index": 1}))
    });
    // The writer cites the quote about silt by its id, and one id the pool never offered.
    w.llm.respond("ep-complex", |body| {
        let user = last_user_message(body);
        let quotes = evidence_quotes(&user);
        let silt = quotes
            .iter()
            .find(|(_, q)| q.contains("less than half of the silt"))
            .map(|(id, _)| *id)
            .expect("the pool offers the silt quote");
        Reply::Stream(vec![format!(
            "# Deltas\n\nThe delta gets under half the silt it once did [E{silt}]. Wetlands vanish for unknown reasons [E999].\n"
        )])
    });
    let req = RunRequest {
        mode: Some(dra::research::agents::QueryMode::WebSearch),
        ..RunRequest::new("Why are deltas losing wetlands?")
    };
    let (outcome, events) = w.run(&req).await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}");
    };

    let synth = w.llm.calls_to("ep-complex");
    let prompt = last_user_message(&synth[0].body);
    assert!(prompt.contains("[E1] from source [1]"), "{prompt}");
    assert!(
        !report.markdown.contains("[E"),
        "ids are rendered as source markers: {}",
        report.markdown
    );
    assert!(
        report
            .markdown
            .contains("The delta gets under half the silt it once did [1]."),
        "{}",
        report.markdown
    );
    assert!(
        report
            .markdown
            .contains("Wetlands vanish for unknown reasons."),
        "an unknown id is dropped, not rendered: {}",
        report.markdown
    );
    assert_eq!(report.citations_dropped, 1);

    let generated: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == "claim_generated")
        .collect();
    assert_eq!(generated.len(), 1, "{generated:?}");
    assert_eq!(
        generated[0]["payload"]["claimText"],
        "The delta gets under half the silt it once did."
    );
    assert!(generated[0]["payload"]["evidencePreview"]
        .as_str()
        .unwrap()
        .contains("less than half of the silt"));

    // The claim is judged on the quote its writer named, shown first.
    let v = report.verification.as_ref().expect("verified");
    assert_eq!(v.claims.len(), 1);
    let claim = &v.claims[0];
    let primary = claim
        .citations
        .iter()
        .find(|c| c.is_primary)
        .expect("a primary citation");
    assert!(
        primary
            .evidence_span
            .quote_text
            .contains("less than half of the silt"),
        "{primary:?}"
    );
    let shown = shown.lock().unwrap().clone();
    let shown: Vec<&(String, String)> = shown
        .iter()
        .filter(|(c, _)| c.contains("half the silt"))
        .collect();
    // Neither attributed nor close to its quote's wording: checked in full, not quickly.
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].1.contains("less than half of the silt"),
        "{shown:?}"
    );
    assert!(w.llm.calls_to("ep-simple").is_empty());
}
