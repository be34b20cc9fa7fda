//! Each depth's limits, counted on the fakes, and a run that meets every kind of fault on
//! its way and still ends in a report citing only pages it fetched.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::llm::Reply;
use crate::support::search::Fault;
use crate::support::world::{last_user_message, say, World};
use dra::research::agents::QueryMode;
use dra::research::config::{Depth, ResearcherMode};
use dra::research::run::{Outcome, RunRequest};
use serde_json::{json, Value};

fn request(depth: Depth) -> RunRequest {
    RunRequest {
        mode: Some(QueryMode::DeepResearch),
        depth,
        ..RunRequest::new("How do river deltas change?")
    }
}

/// A greedy planner (12 steps) and a greedy researcher (8 queries per step) against 40
/// distinct pages: only the depth's limits hold them back.
async fn greedy_world() -> World {
    let mut w = World::start().await;
    for p in [
        &mut w.config.research_types.light,
        &mut w.config.research_types.medium,
        &mut w.config.research_types.extended,
    ] {
        p.researcher.mode = ResearcherMode::Classic;
        // One step at a time, so every tool call belongs to the step around it.
        p.parallel_steps = Some(false);
    }
    let paths: Vec<String> = (1..=40).map(|i| format!("/slow/{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    w.search_fake.serve_pages(&w.pages, &paths);
    let steps: Vec<Value> = (1..=12)
        .map(|i| json!({"id": format!("step-{i}"), "title": format!("Aspect {i}"), "description": "d", "step_type": "research", "needs_search": true}))
        .collect();
    w.llm.script(
        "ep-analytical",
        vec![say(
            json!({"title": "Plan", "thought": "t", "steps": steps}),
        )],
    );
    w.llm.respond("ep-analytical", |body| {
        if body.get("response_format").is_some() {
            let queries: Vec<String> = (1..=8).map(|i| format!("query {i}")).collect();
            say(json!({ "queries": queries }))
        } else {
            Reply::Text("- A finding [1].".into())
        }
    });
    w.llm.always(
        "ep-simple",
        say(json!({"decision": "continue", "reasoning": "More to learn."})),
    );
    w.llm.always(
        "ep-complex",
        Reply::Stream(vec!["# Report\n\nA finding [1].".into()]),
    );
    w
}

/// Per step (in order): how many searches and how many page fetches it made.
fn calls_per_step(events: &[Value]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for e in events {
        match e["eventType"].as_str() {
            Some("step_started") => out.push((0, 0)),
            Some("tool_call") => {
                let last = out.last_mut().expect("tool calls happen inside steps");
                match e["payload"]["toolName"].as_str() {
                    Some("web_search") => last.0 += 1,
                    _ => last.1 += 1,
                }
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_depth_keeps_to_its_step_search_and_fetch_limits() {
    for depth in [Depth::Light, Depth::Medium, Depth::Extended] {
        let w = greedy_world().await;
        let profile = w.config.research_types.profile(depth).clone();
        let (outcome, events) = w.run(&request(depth)).await;
        let Ok(Outcome::Report(report)) = outcome else {
            panic!("{depth:?}: expected a report, got {outcome:?}");
        };
        let max_steps = profile.steps.max as usize;
        let per_step = calls_per_step(&events);
        assert_eq!(per_step.len(), max_steps, "{depth:?}: steps run");
        assert_eq!(report.steps_executed as usize, max_steps);
        assert_eq!(
            report.steps_skipped, 0,
            "{depth:?}: the plan was cut, not skipped"
        );
        let plan = events
            .iter()
            .find(|e| e["eventType"] == "plan_created")
            .unwrap();
        assert_eq!(
            plan["payload"]["steps"].as_array().unwrap().len(),
            max_steps,
            "{depth:?}: the plan is cut to the depth's maximum"
        );
        let queries = profile.researcher.max_search_queries as usize;
        let urls = profile.researcher.max_urls_to_crawl as usize;
        for (i, (searches, fetches)) in per_step.iter().enumerate() {
            assert_eq!(*searches, queries, "{depth:?} step {i}: searches");
            assert!(*fetches <= urls, "{depth:?} step {i}: {fetches} fetches");
        }
        assert_eq!(
            per_step[0].1, urls,
            "{depth:?}: the first step fetches its fill"
        );
        // The model server saw the same: a queries call and an observation call per step.
        let researcher_calls = w
            .llm
            .calls_to("ep-analytical")
            .iter()
            .filter(|c| last_user_message(&c.body).contains("## Step "))
            .count();
        assert_eq!(researcher_calls, 2 * max_steps, "{depth:?}");
        // And the fakes' logs: Brave answered the background searches and the steps'.
        let brave = w.search_fake.requests().len();
        assert!(brave >= queries * max_steps, "{depth:?}: {brave} searches");
        assert!(
            brave <= queries * max_steps + w.config.agents.background.max_search_queries as usize,
            "{depth:?}: {brave} searches"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_through_rate_limits_server_errors_broken_json_and_broken_pages_still_reports() {
    let mut w = World::start().await;
    w.config.research_types.light.researcher.mode = ResearcherMode::Classic;
    w.config.research_types.light.researcher.max_urls_to_crawl = 6;
    w.config.research_types.light.researcher.max_search_queries = 2;
    // Each endpoint is retried twice, without waiting long.
    w.config.llm.retries_per_endpoint = 2;
    w.config.rate_limiting.base_delay_seconds = 0.01;
    w.config.rate_limiting.max_delay_seconds = 0.05;
    w.config.search.retries = 1;
    w.config.search.retry_delay = Duration::from_millis(10);
    // A good page, a slow one, a 500, a 404, a page that stalls past the timeout, and a
    // redirect loop.
    w.search_fake.serve_pages(
        &w.pages,
        &[
            "/article",
            "/slow/800",
            "/status/500",
            "/status/404",
            "/stall/60000",
            "/redirect/50",
        ],
    );
    w.fetcher = dra::web::Fetcher::new(&dra::web::WebConfig {
        request_timeout: Duration::from_secs(3),
        retries: 0,
        allowed_hosts: crate::support::pages::loopback_hosts(),
        ..dra::web::WebConfig::default()
    })
    .unwrap();
    // Brave rate-limits the first search (the background investigation's; retried) and
    // fails the next one (one of step 1's two; that step goes on with the other).
    w.search_fake
        .fail_next(Fault::RateLimited(Some("0".into())));
    w.search_fake.fail_next(Fault::Status(500));
    let plan = json!({"title": "Plan", "thought": "t", "steps": [
        {"id": "step-1", "title": "Loss rates", "description": "d", "step_type": "research", "needs_search": true},
        {"id": "step-2", "title": "Causes", "description": "d", "step_type": "research", "needs_search": true}
    ]});
    w.llm.script(
        "ep-analytical",
        vec![
            Reply::Status(429, Some(0)),
            say(plan),
            Reply::Status(503, None),
            // Truncated JSON: repaired, or re-asked.
            Reply::Text("{\"queries\": [\"delta wetland loss\", \"delta wetland area\"".into()),
            Reply::Text("- Deltas lost a fifth of their wetlands [1]. See [https://invented.example/x](https://invented.example/x).".into()),
            say(json!({"queries": ["delta wetland causes"]})),
            Reply::Status(500, None),
            Reply::Text("- Dams trap sediment [1].".into()),
        ],
    );
    w.llm.script(
        "ep-simple",
        vec![
            Reply::Text("{\"decision\": \"continue\", \"reasoning\": \"more".into()),
            say(json!({"decision": "continue", "reasoning": "More to learn."})),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![
            Reply::StreamCut(vec!["# Deltas\n\nHalf a rep".into()]),
            Reply::Stream(vec![
                "# Deltas\n\nDeltas lost a fifth of their wetlands [1]. ".into(),
                "Dams trap sediment [1]. Invented [9].".into(),
            ]),
        ],
    );
    let (outcome, events) =
        tokio::time::timeout(Duration::from_secs(60), w.run(&request(Depth::Light)))
            .await
            .expect("faults do not hang the run");
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}\n{events:#?}");
    };
    assert_eq!(report.steps_executed, 2, "{events:#?}");
    let fetched: BTreeSet<String> = report.sources.iter().map(|s| s.url.clone()).collect();
    assert!(fetched.contains(&w.pages.url("/article")), "{fetched:?}");
    for broken in ["/status/500", "/status/404", "/stall/60000", "/redirect/50"] {
        assert!(
            !fetched.contains(&w.pages.url(broken)),
            "{broken} is not a source"
        );
    }
    let cited: Vec<u32> = report.cited.iter().copied().collect();
    assert!(!cited.is_empty());
    for n in &cited {
        assert!(
            report.sources.iter().any(|s| s.number == *n),
            "[{n}] is a fetched source"
        );
    }
    assert!(!report.markdown.contains("invented.example"));
    assert!(!report.markdown.contains("[9]"));
    assert!(
        report.markdown.starts_with("# Deltas\n\nDeltas lost"),
        "{}",
        report.markdown
    );
    assert!(
        events
            .iter()
            .any(|e| e["payload"]["errorCode"] == "SYNTHESIS_RESTARTED"),
        "the cut stream was announced"
    );
    assert_eq!(events.last().unwrap()["eventType"], "research_completed");
    // Every scripted fault was met (and nothing was asked twice that need not be).
    assert_eq!(w.llm.calls_to("ep-analytical").len(), 8);
    // One reflection (after step 1); its truncated verdict was repaired, not re-asked.
    assert_eq!(w.llm.calls_to("ep-simple").len(), 1);
    assert_eq!(w.llm.calls_to("ep-complex").len(), 2);
    assert!(w.pages.hits("/stall/60000") >= 1 && w.pages.hits("/status/500") >= 1);
}
