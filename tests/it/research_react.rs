//! The ReAct-mode researcher against the fake model server (scripted with tool calls), the
//! fake Brave and the page server: the loop, its budget, concurrency, citations, failing
//! tools, malformed calls and the tool events.

use crate::support::llm::Reply;
use crate::support::research::{step, StepWorld};
use crate::support::search::Fault;
use dra::research::agents::researcher::UNVERIFIED_NOTICE;
use dra::research::agents::{research_step_react, run_step, AgentError, StepOutcome};
use dra::research::config::{ProfileResearcher, ResearcherMode};
use serde_json::{json, Value};
use std::time::Duration;

const MODEL: &str = "ep-analytical";

/// The `(eventType, toolName)` of every tool event, in emission order.
fn tool_events(w: &StepWorld) -> Vec<(String, String)> {
    w.recorder
        .payloads()
        .iter()
        .filter(|p| p["eventType"] == "tool_call" || p["eventType"] == "tool_result")
        .map(|p| {
            (
                p["eventType"].as_str().unwrap().to_string(),
                p["toolName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The shared step world in ReAct mode: 3 searches, 4 crawls, 8 tool calls.
async fn world() -> StepWorld {
    StepWorld::start(ProfileResearcher {
        mode: ResearcherMode::React,
        max_search_queries: 3,
        max_urls_to_crawl: 4,
        max_tool_calls: 8,
    })
    .await
}

impl StepWorld {
    async fn run_react(&self) -> Result<StepOutcome, AgentError> {
        research_step_react(&self.ctx(), &step()).await
    }

    /// The request bodies the model received, in order.
    fn requests(&self) -> Vec<Value> {
        self.llm
            .calls_to(MODEL)
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    fn searches(&self) -> usize {
        self.search_fake.requests().len()
    }
}

fn search(query: &str) -> (&'static str, Value) {
    ("web_search", json!({ "query": query }))
}

fn crawl(url: String) -> (&'static str, Value) {
    ("web_crawl", json!({ "url": url }))
}

/// The `tool` messages of a request, as (tool_call_id, content).
fn tool_messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_searches_then_crawls_two_pages_in_one_turn_and_cites_them() {
    let w = world().await;
    w.serve_hits(&["/article", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta wetland loss since 1990")]),
            Reply::tools(&[
                crawl(w.pages.url("/article")),
                crawl(w.pages.url("/plain.txt")),
            ]),
            Reply::Text(
                "- The delta lost nearly a fifth of its wetlands [1].\n- 42 stations [2].".into(),
            ),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    assert_eq!(outcome.sources, [1, 2]);
    assert_eq!(outcome.fetched, [1, 2]);
    assert_eq!(outcome.sources_total, 2);
    assert_eq!(outcome.queries, ["delta wetland loss since 1990"]);
    assert_eq!((outcome.audit.kept, outcome.audit.dropped), (2, 0));
    assert!(outcome.observation.contains("wetlands [1]"));
    assert!(!outcome.observation.starts_with(UNVERIFIED_NOTICE));
    assert_eq!(w.searches(), 1);
    assert_eq!(
        (w.pages.hits("/article"), w.pages.hits("/plain.txt")),
        (1, 1)
    );

    let requests = w.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        let names: Vec<&str> = r["tools"]
            .as_array()
            .expect("every loop turn offers the tools")
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web_search", "web_crawl"]);
    }
    // The search results come back as numbered hits with title, URL and snippet.
    let after_search = tool_messages(&requests[1]);
    assert_eq!(after_search.len(), 1);
    let hits = &after_search[0].1;
    assert!(hits.contains("1. Page /article"), "{hits}");
    assert!(hits.contains(&w.pages.url("/plain.txt")), "{hits}");
    assert!(hits.contains("Snippet of /plain.txt"), "{hits}");
    // Each crawled page comes back under its citation number, answering its own call.
    let last = &requests[2];
    let crawled = tool_messages(last);
    assert_eq!(crawled.len(), 3);
    let assistant = &last["messages"][4];
    assert_eq!(assistant["role"], "assistant");
    let ids: Vec<&str> = assistant["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [crawled[1].0.as_str(), crawled[2].0.as_str()]);
    // Which fetch finishes first decides the numbers; each page carries its own.
    let number = |path: &str| w.sources.number_of(&w.pages.url(path)).unwrap();
    let (article, notes) = (&crawled[1].1, &crawled[2].1);
    assert!(article.starts_with(&format!("[{}] ", number("/article"))));
    assert!(article.contains("nearly a fifth"), "{article}");
    assert!(notes.starts_with(&format!("[{}] ", number("/plain.txt"))));
    assert!(notes.contains("42 stations"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crawls_asked_for_in_one_turn_run_at_the_same_time() {
    let w = world().await;
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[
                crawl(w.pages.url("/gauge/1")),
                crawl(w.pages.url("/gauge/2")),
                crawl(w.pages.url("/gauge/3")),
            ]),
            Reply::Text("- Wetlands shrink [1].".into()),
        ],
    );

    w.run_react().await.expect("step researched");

    assert_eq!(w.pages.max_in_flight(), 3);
    // All three calls start before any result arrives.
    let kinds: Vec<String> = tool_events(&w).into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            "tool_call",
            "tool_call",
            "tool_call",
            "tool_result",
            "tool_result",
            "tool_result"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tool_budget_ends_the_loop_and_the_observation_is_asked_for_without_tools() {
    let mut w = world().await;
    w.limits = ProfileResearcher {
        max_tool_calls: 3,
        ..w.limits.clone()
    };
    w.serve_hits(&["/article", "/plain.txt"]);
    // The second turn asks for more calls than the budget has left.
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta loss"), search("delta sediment")]),
            Reply::tools(&[
                crawl(w.pages.url("/article")),
                crawl(w.pages.url("/plain.txt")),
            ]),
        ],
    );
    w.llm.always(
        MODEL,
        Reply::Text("- The delta lost nearly a fifth of its wetlands [1].".into()),
    );

    let outcome = w.run_react().await.expect("step researched");

    // Three calls ran: both searches and the first crawl; the second crawl was refused.
    assert_eq!(w.searches(), 2);
    assert_eq!(w.pages.hits("/article"), 1);
    assert_eq!(w.pages.hits("/plain.txt"), 0);
    let calls = tool_events(&w)
        .into_iter()
        .filter(|e| e.0 == "tool_call")
        .count();
    assert_eq!(calls, 3);

    let requests = w.requests();
    assert_eq!(requests.len(), 3, "two tool turns, then the final answer");
    let last = &requests[2];
    assert!(last.get("tools").is_none(), "the final ask offers no tools");
    assert!(
        last["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "tool"),
        "the final ask carries the pages, not the tool conversation"
    );
    let prompt = last["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("### [1]") && prompt.contains("nearly a fifth"),
        "{prompt}"
    );

    assert_eq!(outcome.sources, [1]);
    assert_eq!(outcome.queries, ["delta loss", "delta sediment"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_never_stops_is_cut_off_at_max_tool_calls() {
    let mut w = world().await;
    w.limits = ProfileResearcher {
        max_tool_calls: 4,
        max_search_queries: 10,
        ..w.limits.clone()
    };
    w.serve_hits(&["/plain.txt"]);
    w.llm.script(
        MODEL,
        (0..10)
            .map(|i| Reply::tools(&[search(&format!("query {i}"))]))
            .collect(),
    );

    let err = w
        .run_react()
        .await
        .expect_err("the final ask gets a tool call, not text");

    // Four searches, then one request without tools; the scripted fifth tool turn answered it.
    assert_eq!(w.searches(), 4);
    let requests = w.requests();
    assert_eq!(requests.len(), 5);
    assert!(requests[..4].iter().all(|r| r.get("tools").is_some()));
    assert!(requests[4].get("tools").is_none());
    assert!(matches!(err, AgentError::Unusable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_tool_limits_refuse_the_extra_calls_with_a_message() {
    let mut w = world().await;
    w.limits = ProfileResearcher {
        max_search_queries: 1,
        max_urls_to_crawl: 1,
        max_tool_calls: 8,
        ..w.limits.clone()
    };
    w.serve_hits(&["/article", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("one"), search("two")]),
            Reply::tools(&[
                crawl(w.pages.url("/plain.txt")),
                crawl(w.pages.url("/article")),
            ]),
            Reply::Text("- 42 stations [1].".into()),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    assert_eq!(w.searches(), 1);
    assert_eq!(w.pages.hits("/article"), 0);
    let requests = w.requests();
    // Both per-tool budgets spent: the loop asks for the observation without tools.
    assert_eq!(requests.len(), 3);
    assert!(requests[2].get("tools").is_none());
    let second = tool_messages(&requests[1]);
    assert!(
        second[1].1.contains("search budget (1) is spent"),
        "{second:?}"
    );
    assert_eq!(outcome.sources, [1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_urls_and_numbers_are_dropped_and_counted() {
    let w = world().await;
    w.serve_hits(&["/article", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[crawl(w.pages.url("/article"))]),
            Reply::Text(format!(
                "- Nearly a fifth lost [1].\n- Losses will triple [4].\n- See [a rumour](https://nowhere.example/x).\n- And [notes]({}).\n",
                w.pages.url("/plain.txt")
            )),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    assert_eq!(outcome.sources, [1]);
    assert_eq!(outcome.audit.kept, 1);
    assert_eq!(outcome.audit.dropped, 3, "{:?}", outcome.audit);
    assert!(!outcome.observation.contains("[4]"));
    assert!(!outcome.observation.contains("nowhere.example"));
    assert!(!outcome.observation.contains("/plain.txt"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_crawl_goes_back_to_the_model_and_the_step_completes() {
    let w = world().await;
    w.serve_hits(&["/status/404", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta")]),
            Reply::tools(&[crawl(w.pages.url("/status/404"))]),
            Reply::tools(&[crawl(w.pages.url("/plain.txt"))]),
            Reply::Text("- The survey covered 42 stations [1].".into()),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    let requests = w.requests();
    assert_eq!(requests.len(), 4);
    let error = &tool_messages(&requests[2])[1].1;
    assert!(
        error.starts_with("Error: could not fetch") && error.contains("404"),
        "{error}"
    );
    assert_eq!(outcome.fetches_failed, 1);
    assert_eq!(outcome.unfetched[0].url, w.pages.url("/status/404"));
    assert_eq!(outcome.unfetched[0].snippet, "Snippet of /status/404");
    assert_eq!(outcome.sources, [1]);
    assert_eq!(w.sources.number_of(&w.pages.url("/status/404")), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_crawl_does_not_hold_the_turn_once_most_pages_are_in() {
    let mut w = world().await;
    w.patient_fetcher();
    w.settings.straggler_wait = Duration::from_millis(50);
    w.serve_hits(&["/article", "/held/slow", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[
                search("delta"),
                crawl(w.pages.url("/article")),
                crawl(w.pages.url("/held/slow")),
                crawl(w.pages.url("/plain.txt")),
            ]),
            Reply::Text("- The survey covered 42 stations [2].".into()),
        ],
    );

    // The bound only keeps a waiting turn from hanging the suite: the step must finish
    // while the held page has not answered.
    let outcome = tokio::time::timeout(Duration::from_secs(30), w.run_react())
        .await
        .expect("the turn waited for a page that never answered")
        .expect("step researched");
    w.pages.release_held();

    let messages = tool_messages(&w.requests()[1]);
    assert_eq!(messages.len(), 4, "one answer per call, in call order");
    assert!(
        messages[0].1.starts_with("Results for"),
        "{}",
        messages[0].1
    );
    assert!(
        messages[2].1.starts_with("Error: could not fetch")
            && messages[2].1.contains("not waited for"),
        "{}",
        messages[2].1
    );
    assert_eq!(outcome.fetched, [1, 2]);
    assert_eq!(outcome.unfetched[0].url, w.pages.url("/held/slow"));
    assert_eq!(w.pages.hits("/held/slow"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_tool_calls_are_explained_to_the_model_and_the_loop_goes_on() {
    let w = world().await;
    w.serve_hits(&["/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::ToolCalls(vec![
                ("web_search".into(), "{\"query\": \"unterminated".into()),
                ("web_crawl".into(), json!({"link": "x"}).to_string()),
                ("web_fetch".into(), "{}".into()),
            ]),
            Reply::tools(&[search("delta")]),
            Reply::tools(&[crawl(w.pages.url("/plain.txt"))]),
            Reply::Text("- 42 stations [1].".into()),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    let replies = tool_messages(&w.requests()[1]);
    assert_eq!(replies.len(), 3);
    assert!(
        replies[0].1.contains("could not be read"),
        "{}",
        replies[0].1
    );
    assert!(
        replies[0].1.contains(r#"{"query": "..."}"#),
        "{}",
        replies[0].1
    );
    assert!(
        replies[1].1.contains("missing field `url`"),
        "{}",
        replies[1].1
    );
    assert!(
        replies[2].1.contains("no tool `web_fetch`"),
        "{}",
        replies[2].1
    );
    // Refused calls ran nothing and announced nothing.
    assert_eq!(w.searches(), 1);
    assert_eq!(
        tool_events(&w),
        [
            ("tool_call".to_string(), "web_search".to_string()),
            ("tool_result".to_string(), "web_search".to_string()),
            ("tool_call".to_string(), "web_crawl".to_string()),
            ("tool_result".to_string(), "web_crawl".to_string()),
        ]
    );
    assert_eq!(outcome.sources, [1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_events_pair_calls_with_results_in_order() {
    let w = world().await;
    w.serve_hits(&["/article", "/status/404"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta loss")]),
            Reply::tools(&[
                crawl(w.pages.url("/article")),
                crawl(w.pages.url("/status/404")),
            ]),
            Reply::Text("- Nearly a fifth [1].".into()),
        ],
    );

    w.run_react().await.expect("step researched");

    let payloads: Vec<Value> = w
        .recorder
        .payloads()
        .into_iter()
        .filter(|p| p["eventType"] == "tool_call" || p["eventType"] == "tool_result")
        .collect();
    let shape: Vec<(&str, &str)> = payloads
        .iter()
        .map(|p| {
            (
                p["eventType"].as_str().unwrap(),
                p["toolName"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("tool_call", "web_search"),
            ("tool_result", "web_search"),
            ("tool_call", "web_crawl"),
            ("tool_call", "web_crawl"),
            ("tool_result", "web_crawl"),
            ("tool_result", "web_crawl"),
        ]
    );
    assert_eq!(payloads[0]["toolArgs"]["query"], "delta loss");
    assert_eq!(
        payloads[0]["toolArgs"]["count"],
        json!(w.settings.max_search_results)
    );
    let numbers: Vec<u64> = payloads
        .iter()
        .filter(|p| p["eventType"] == "tool_call")
        .map(|p| p["callNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    let crawled: Vec<&Value> = payloads[2..4]
        .iter()
        .map(|p| &p["toolArgs"]["url"])
        .collect();
    assert!(crawled.contains(&&json!(w.pages.url("/article"))));
    let previews: Vec<&str> = payloads[4..]
        .iter()
        .map(|p| p["resultPreview"].as_str().unwrap())
        .collect();
    assert!(
        previews.iter().any(|p| p.starts_with("[1] ")),
        "{previews:?}"
    );
    assert!(
        previews.iter().any(|p| p.starts_with("fetch failed")),
        "{previews:?}"
    );
    assert_eq!(payloads.last().unwrap()["sourcesCrawled"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_pages_are_not_fetched_again() {
    let w = world().await;
    let earlier = w.fetcher.fetch(&w.pages.url("/article")).await.unwrap();
    assert_eq!(w.sources.register(&earlier), 1);
    w.serve_hits(&["/article", "/plain.txt"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta")]),
            Reply::tools(&[
                crawl(w.pages.url("/article")),
                crawl(w.pages.url("/plain.txt")),
            ]),
            Reply::tools(&[crawl(w.pages.url("/plain.txt"))]),
            Reply::Text("- 42 stations [2].".into()),
        ],
    );

    let outcome = w.run_react().await.expect("step researched");

    assert_eq!(w.pages.hits("/article"), 1, "only the earlier step's fetch");
    assert_eq!(w.pages.hits("/plain.txt"), 1);
    let requests = w.requests();
    let results = &tool_messages(&requests[1])[0].1;
    assert!(
        results.contains("(already fetched: source [1])"),
        "{results}"
    );
    assert_eq!(results.matches("already fetched").count(), 1, "{results}");
    let first = tool_messages(&requests[2]);
    assert!(
        first[1]
            .1
            .contains("[1] was already fetched by an earlier step"),
        "{first:?}"
    );
    // The second crawl of a page of this step shows the page again, same number.
    let again = &tool_messages(&requests[3])[3].1;
    assert!(
        again.starts_with("[2] ") && again.contains("42 stations"),
        "{again}"
    );
    assert_eq!(outcome.fetched, [2]);
    assert_eq!(outcome.sources, [2]);
    assert_eq!(outcome.sources_total, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_search_failing_with_nothing_fetched_is_a_typed_error() {
    let w = world().await;
    w.search_fake.fail_always(Fault::Status(500));
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("a"), search("b")]),
            Reply::Text("- Nothing could be found.".into()),
        ],
    );

    let err = w.run_react().await.expect_err("no search worked");

    let AgentError::Search { failed, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*failed, 2);
    let errors = tool_messages(&w.requests()[1]);
    assert!(
        errors.iter().all(|(_, c)| c.contains("failed")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_without_any_fetched_page_is_marked_unverified() {
    let w = world().await;
    w.serve_hits(&["/article"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[search("delta")]),
            Reply::Text("- Snippets suggest losses [1].".into()),
        ],
    );

    let outcome = w.run_react().await.expect("an outcome from snippets");

    assert!(outcome.observation.starts_with(UNVERIFIED_NOTICE));
    assert!(outcome.sources.is_empty());
    assert_eq!(outcome.audit.dropped, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_step_dispatches_on_the_profiles_mode() {
    let mut w = world().await;
    w.serve_hits(&["/plain.txt"]);
    w.limits.mode = ResearcherMode::Classic;
    // Classic mode asks for queries as JSON, without tools.
    w.llm.script(
        MODEL,
        vec![
            Reply::Text(json!({"queries": ["delta"]}).to_string()),
            Reply::Text("- 42 stations [1].".into()),
        ],
    );
    run_step(&w.ctx(), &step()).await.expect("classic step");
    assert!(w.requests().iter().all(|r| r.get("tools").is_none()));

    w.limits.mode = ResearcherMode::React;
    w.llm
        .script(MODEL, vec![Reply::Text("- Nothing new.".into())]);
    run_step(&w.ctx(), &step()).await.expect("react step");
    assert!(w.requests()[2].get("tools").is_some());
}
