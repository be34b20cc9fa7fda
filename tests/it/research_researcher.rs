//! The classic-mode researcher against the fake model server, the fake Brave and the page
//! server: which pages become numbered sources, which citations survive, the tool events,
//! and how failed searches, failed fetches and garbage model output are handled.

use crate::support::llm::Reply;
use crate::support::research::{step, StepWorld};
use crate::support::search::Fault;
use dra::events::ResearchEvent;
use dra::research::agents::researcher::UNVERIFIED_NOTICE;
use dra::research::agents::{research_step, AgentError, StepOutcome};
use dra::research::config::ProfileResearcher;
use serde_json::{json, Value};
use std::time::Duration;

/// The shared step world with classic mode's limits.
async fn world() -> StepWorld {
    StepWorld::start(ProfileResearcher {
        max_search_queries: 3,
        max_urls_to_crawl: 3,
        ..ProfileResearcher::default()
    })
    .await
}

impl StepWorld {
    /// The model's two answers: the queries, then the observation.
    fn script(&self, queries: Value, observation: &str) {
        self.llm.script(
            "ep-analytical",
            vec![
                Reply::Text(queries.to_string()),
                Reply::Text(observation.into()),
            ],
        );
    }

    async fn run(&self) -> Result<StepOutcome, AgentError> {
        research_step(&self.ctx(), &step()).await
    }

    /// The `q` of every search request the fake Brave received.
    fn searched(&self) -> Vec<String> {
        let mut qs: Vec<String> = self
            .search_fake
            .requests()
            .iter()
            .filter_map(|r| r.params.get("q").cloned())
            .collect();
        qs.sort();
        qs
    }
}

fn three_queries() -> Value {
    json!({"queries": ["delta wetland loss 1990", "sediment dams delta", "delta marsh survey stations"]})
}

/// Cites both real sources, an invented number and a link to a page nobody fetched.
const OBSERVATION: &str = "\
- The delta lost nearly a fifth of its wetlands since 1990 [1].
- The survey covered 42 stations [2].
- Losses will triple by 2030 [9].
- See [a rumour](https://nowhere.example/rumour) for more.
";

#[tokio::test(flavor = "multi_thread")]
async fn fetched_pages_are_registered_and_only_they_are_cited() {
    let w = world().await;
    w.serve_hits(&["/article", "/plain.txt", "/status/404"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run().await.expect("step researched");

    let registered: Vec<String> = w.sources.all().iter().map(|s| s.url.clone()).collect();
    assert_eq!(registered.len(), 2, "{registered:?}");
    assert!(w.sources.number_of(&w.pages.url("/article")).is_some());
    assert!(w.sources.number_of(&w.pages.url("/plain.txt")).is_some());
    assert_eq!(w.sources.number_of(&w.pages.url("/status/404")), None);

    assert_eq!(outcome.sources, [1, 2]);
    assert_eq!(outcome.fetched, [1, 2]);
    assert_eq!(outcome.sources_total, 2);
    assert!(outcome.audit.dropped >= 2, "{:?}", outcome.audit);
    assert_eq!(outcome.audit.kept, 2);
    assert!(!outcome.observation.contains("[9]"));
    assert!(!outcome.observation.contains("nowhere.example"));
    assert!(outcome.observation.contains("since 1990 [1]"));
    assert!(!outcome.observation.starts_with(UNVERIFIED_NOTICE));

    assert_eq!(outcome.fetches_failed, 1);
    assert_eq!(outcome.searches_failed, 0);
    assert_eq!(outcome.unfetched.len(), 1);
    assert_eq!(outcome.unfetched[0].url, w.pages.url("/status/404"));
    assert_eq!(outcome.unfetched[0].snippet, "Snippet of /status/404");
    // Each page was fetched once although every query returned it.
    assert_eq!(w.pages.hits("/article"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_query_is_searched_and_the_pages_reach_the_model() {
    let w = world().await;
    w.serve_hits(&["/article", "/plain.txt"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run().await.expect("step researched");

    let mut expected = outcome.queries.clone();
    expected.sort();
    assert_eq!(w.searched(), expected);
    assert_eq!(outcome.queries.len(), 3);
    let calls = w.llm.calls_to("ep-analytical");
    assert_eq!(calls.len(), 2);
    let prompt = calls[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prompt.contains("42 stations"), "{prompt}");
    assert!(
        prompt.contains("nearly a fifth of its wetlands"),
        "{prompt}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_events_pair_calls_with_results_under_the_original_names() {
    let w = world().await;
    w.serve_hits(&["/article", "/plain.txt", "/status/404"]);
    w.script(three_queries(), OBSERVATION);
    let outcome = w.run().await.expect("step researched");

    let json = w.recorder.json();
    let payloads: Vec<&Value> = json.iter().map(|e| &e["payload"]).collect();
    let of = |event: &str, tool: &str| -> Vec<&Value> {
        payloads
            .iter()
            .copied()
            .filter(|p| p["eventType"] == event && p["toolName"] == tool)
            .collect()
    };
    let search_calls = of("tool_call", "web_search");
    assert_eq!(search_calls.len(), 3);
    assert_eq!(of("tool_result", "web_search").len(), 3);
    for call in &search_calls {
        assert!(call["toolArgs"]["query"].is_string(), "{call}");
        assert_eq!(
            call["toolArgs"]["count"],
            json!(w.settings.max_search_results)
        );
    }
    let crawl_calls = of("tool_call", "web_crawl");
    assert_eq!(crawl_calls.len(), 3);
    assert_eq!(of("tool_result", "web_crawl").len(), 3);
    assert!(crawl_calls
        .iter()
        .any(|c| c["toolArgs"]["url"] == json!(w.pages.url("/article"))));

    // Call numbers run 1..=6 without gaps; every search comes before every crawl.
    let mut numbers: Vec<u64> = payloads
        .iter()
        .filter(|p| p["eventType"] == "tool_call")
        .map(|p| p["callNumber"].as_u64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    let last_search = payloads
        .iter()
        .rposition(|p| p["toolName"] == "web_search")
        .unwrap();
    let first_crawl = payloads
        .iter()
        .position(|p| p["toolName"] == "web_crawl")
        .unwrap();
    assert!(last_search < first_crawl);
    let last = payloads.last().unwrap();
    assert_eq!(last["eventType"], "tool_result");
    assert_eq!(last["sourcesCrawled"], 2);
    for p in &payloads {
        if p["eventType"] == "tool_result" {
            assert!(p["resultPreview"].as_str().unwrap().chars().count() <= 200);
        }
    }
    // Sequence numbers are those of the bus, in order.
    let seq: Vec<i64> = json
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, (1..=12).collect::<Vec<_>>());

    match outcome.to_completed_event(0, "step-1") {
        ResearchEvent::StepCompleted {
            step_id,
            sources_found,
            observation_summary,
            ..
        } => {
            assert_eq!(step_id, "step-1");
            assert_eq!(sources_found, 2);
            assert!(observation_summary.starts_with("- The delta lost"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let completed = serde_json::to_value(outcome.to_completed_event(0, "step-1")).unwrap();
    assert_eq!(completed["eventType"], "step_completed");
    assert_eq!(completed["sourcesFound"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_search_is_skipped() {
    let w = world().await;
    w.serve_hits(&["/article"]);
    w.search_fake.fail_next(Fault::Status(400));
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run().await.expect("two searches still worked");

    assert_eq!(outcome.searches_failed, 1);
    assert_eq!(outcome.sources, [1]);
    let failed = w
        .recorder
        .events()
        .into_iter()
        .filter(|e| {
            matches!(e, ResearchEvent::ToolResult { tool_name, result_preview, .. }
                if tool_name == "web_search" && result_preview.starts_with("search failed"))
        })
        .count();
    assert_eq!(failed, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_search_failing_is_a_typed_error() {
    let w = world().await;
    w.search_fake.fail_always(Fault::Status(500));
    w.script(three_queries(), OBSERVATION);

    let err = w.run().await.expect_err("no search worked");

    match &err {
        AgentError::Search { failed, source, .. } => {
            assert_eq!(*failed, 3);
            assert!(source.to_string().contains("500"), "{source}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("all 3 web searches failed"),
        "{err}"
    );
    // The observation was never asked for.
    assert_eq!(w.llm.calls_to("ep-analytical").len(), 1);
    assert!(w.sources.all().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_fetchable_gives_an_unverified_observation_without_citations() {
    let w = world().await;
    w.serve_hits(&["/status/404", "/js-only"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run().await.expect("an outcome from snippets");

    assert!(outcome.observation.starts_with(UNVERIFIED_NOTICE));
    assert!(outcome.sources.is_empty());
    assert!(!outcome.observation.contains("[1]"));
    assert!(!outcome.observation.contains("[2]"));
    assert!(w.sources.all().is_empty());
    assert_eq!(outcome.fetches_failed, 2);
    assert_eq!(outcome.unfetched.len(), 2);
    let prompt = w.llm.calls_to("ep-analytical")[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prompt.contains("Snippet of /status/404"), "{prompt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_an_earlier_step_fetched_are_not_fetched_again() {
    let w = world().await;
    let earlier = w.fetcher.fetch(&w.pages.url("/article")).await.unwrap();
    assert_eq!(w.sources.register(&earlier), 1);
    w.serve_hits(&["/article", "/plain.txt"]);
    w.script(three_queries(), "- The survey covered 42 stations [2].\n");

    let outcome = w.run().await.expect("step researched");

    assert_eq!(outcome.sources, [2]);
    assert_eq!(outcome.fetched, [2]);
    assert_eq!(outcome.sources_total, 2);
    assert_eq!(w.sources.all().len(), 2);
    let crawled: Vec<ResearchEvent> = w
        .recorder
        .events()
        .into_iter()
        .filter(
            |e| matches!(e, ResearchEvent::ToolCall { tool_name, .. } if tool_name == "web_crawl"),
        )
        .collect();
    assert_eq!(crawled.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn blank_queries_fall_back_to_the_step_title() {
    let w = world().await;
    w.serve_hits(&["/plain.txt"]);
    w.script(json!({"queries": ["  ", "", "\n"]}), "- 42 stations [1].\n");

    let outcome = w.run().await.expect("step researched");

    assert_eq!(outcome.queries, ["Delta wetland loss"]);
    assert_eq!(w.searched(), ["Delta wetland loss"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_model_output_is_an_error_not_a_panic() {
    let w = world().await;
    w.serve_hits(&["/article"]);
    w.llm
        .always("ep-analytical", Reply::Text("}{ not json [[[".into()));

    let err = w.run().await.expect_err("garbage queries");

    assert!(matches!(err, AgentError::Llm { .. }), "{err:?}");
    assert!(w.search_fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_observation_is_unusable() {
    let w = world().await;
    w.serve_hits(&["/article"]);
    w.script(three_queries(), "  [9] [7] ");

    let err = w.run().await.expect_err("nothing left after enforcement");

    assert!(matches!(err, AgentError::Unusable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snippet_only_observation_cannot_cite_earlier_sources_either() {
    let w = world().await;
    let earlier = w.fetcher.fetch(&w.pages.url("/article")).await.unwrap();
    assert_eq!(w.sources.register(&earlier), 1);
    w.serve_hits(&["/article", "/status/404"]);
    w.script(
        three_queries(),
        "- Wetlands shrink [1], a snippet hints [2].\n",
    );

    let outcome = w.run().await.expect("an outcome from snippets");

    assert!(outcome.observation.starts_with(UNVERIFIED_NOTICE));
    assert!(
        !outcome.observation.contains("[1]"),
        "{}",
        outcome.observation
    );
    assert!(outcome.sources.is_empty());
    assert!(outcome.fetched.is_empty());
    assert_eq!(outcome.audit.dropped, 2);
    assert_eq!(outcome.sources_total, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hits_that_lead_to_one_page_make_one_source() {
    let w = world().await;
    w.serve_hits(&["/article", "/redirect/1"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run().await.expect("step researched");

    assert_eq!(w.sources.all().len(), 1);
    assert_eq!(outcome.fetched, [1]);
    assert_eq!(outcome.sources, [1]);
    let prompt = w.llm.calls_to("ep-analytical")[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(prompt.matches("### [1]").count(), 1, "{prompt}");
}

impl StepWorld {
    /// Run the step while `/held/..` pages are held. The bound only keeps a waiting step
    /// from hanging the suite: the step must finish without any held page answering.
    async fn run_while_held(&self) -> StepOutcome {
        let outcome = tokio::time::timeout(Duration::from_secs(30), self.run())
            .await
            .expect("the step waited for a page that never answered")
            .expect("step researched");
        self.pages.release_held();
        outcome
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_page_is_dropped_once_most_pages_are_in() {
    let mut w = world().await;
    w.patient_fetcher();
    w.settings.straggler_wait = Duration::from_millis(50);
    w.serve_hits(&["/article", "/held/slow", "/plain.txt"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run_while_held().await;

    assert_eq!(outcome.fetched, [1, 2], "the two pages that answered");
    assert_eq!(outcome.fetches_failed, 1);
    let slow = &outcome.unfetched[0];
    assert_eq!(slow.url, w.pages.url("/held/slow"));
    assert!(slow.reason.contains("not waited for"), "{}", slow.reason);
    assert_eq!(w.pages.hits("/held/slow"), 1, "asked once, never retried");
    let crawl_results: Vec<String> = w
        .recorder
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ResearchEvent::ToolResult {
                tool_name,
                result_preview,
                ..
            } if tool_name == "web_crawl" => Some(result_preview),
            _ => None,
        })
        .collect();
    assert_eq!(crawl_results.len(), 3, "{crawl_results:?}");
    assert_eq!(
        crawl_results
            .iter()
            .filter(|p| p.starts_with("fetch failed"))
            .count(),
        1,
        "{crawl_results:?}"
    );
    let prompt = w.llm.calls_to("ep-analytical")[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prompt.contains("Snippet of /held/slow"), "{prompt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_goes_on_without_its_pages_at_the_fetch_deadline() {
    let mut w = world().await;
    w.patient_fetcher();
    w.settings.fetch_deadline = Duration::from_millis(200);
    w.serve_hits(&["/held/one", "/held/two"]);
    w.script(three_queries(), OBSERVATION);

    let outcome = w.run_while_held().await;

    assert!(outcome.observation.starts_with(UNVERIFIED_NOTICE));
    assert_eq!(outcome.fetches_failed, 2);
    assert!(outcome
        .unfetched
        .iter()
        .all(|n| n.reason.contains("not waited for")));
    assert_eq!(
        (w.pages.hits("/held/one"), w.pages.hits("/held/two")),
        (1, 1)
    );
}
