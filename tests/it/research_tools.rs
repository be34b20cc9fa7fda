//! The researcher with configured tools (the engine's side of Vector Search, Knowledge
//! Assistants, local folders and MCP): a tool defined here returns passages, and both modes
//! register them as numbered sources, cite them, emit their events and survive their
//! failures. The tools themselves have their own tests against fakes of their services.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::support::llm::Reply;
use crate::support::research::{step, StepWorld};
use crate::support::search::Fault;
use dra::llm::ToolSpec;
use dra::research::agents::{research_step, research_step_react};
use dra::research::config::{ProfileResearcher, ResearcherMode};
use dra::tools::{
    query_parameters, Passage, ResearchTool, SourceKind, ToolError, ToolOutput, Toolset,
};

const MODEL: &str = "ep-analytical";
const HANDBOOK: &str =
    "Staff may work remotely up to three days a week. Requests go to the team lead.";

/// A tool that answers every call alike and records the arguments it got.
struct HandbookTool {
    spec: ToolSpec,
    takes_query: bool,
    fail: bool,
    calls: Mutex<Vec<Value>>,
}

impl HandbookTool {
    fn new(name: &str) -> HandbookTool {
        HandbookTool {
            spec: ToolSpec {
                name: name.into(),
                description: "Search the staff handbook.".into(),
                parameters: query_parameters(Some(5)),
            },
            takes_query: true,
            fail: false,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl ResearchTool for HandbookTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }
    fn kind(&self) -> SourceKind {
        SourceKind::VectorSearch
    }
    fn takes_query(&self) -> bool {
        self.takes_query
    }
    async fn call(&self, arguments: &Value) -> Result<ToolOutput, ToolError> {
        self.calls.lock().unwrap().push(arguments.clone());
        if self.fail {
            return Err(ToolError::Unavailable {
                tool: self.spec.name.clone(),
                message: "the index answered 503".into(),
            });
        }
        Ok(ToolOutput {
            passages: vec![Passage {
                uri: "vector-search://main.hr.handbook/17".into(),
                title: Some("Remote work policy".into()),
                text: HANDBOOK.into(),
                kind: SourceKind::VectorSearch,
                origin: "main.hr.handbook".into(),
                score: Some(0.91),
            }],
            note: None,
        })
    }
}

async fn world(mode: ResearcherMode, tool: HandbookTool) -> (StepWorld, Arc<HandbookTool>) {
    let mut w = StepWorld::start(ProfileResearcher {
        mode,
        max_search_queries: 2,
        max_urls_to_crawl: 2,
        max_tool_calls: 6,
    })
    .await;
    let tool = Arc::new(tool);
    w.tools = Toolset::new(vec![tool.clone() as Arc<dyn ResearchTool>]);
    (w, tool)
}

fn tool_names_offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn react_offers_the_tool_and_cites_its_passage_as_a_numbered_source() {
    let (w, tool) = world(ResearcherMode::React, HandbookTool::new("search_handbook")).await;
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[("search_handbook", json!({"query": "remote work days"}))]),
            Reply::Text("- Staff may work remotely up to three days a week [1].".into()),
        ],
    );

    let outcome = research_step_react(&w.ctx(), &step())
        .await
        .expect("step researched");

    assert_eq!(tool.calls(), [json!({"query": "remote work days"})]);
    assert_eq!(outcome.sources, [1]);
    assert_eq!(outcome.fetched, [1]);
    let source = w.sources.get(1).unwrap();
    assert_eq!(source.url, "vector-search://main.hr.handbook/17");
    assert_eq!(source.kind, SourceKind::VectorSearch);
    assert_eq!(source.origin.as_deref(), Some("main.hr.handbook"));
    assert_eq!(source.score, Some(0.91));
    assert_eq!(w.sources.text(1).as_deref(), Some(HANDBOOK));

    let requests: Vec<Value> = w.llm.calls_to(MODEL).into_iter().map(|c| c.body).collect();
    assert_eq!(
        tool_names_offered(&requests[0]),
        ["web_search", "web_crawl", "search_handbook"]
    );
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("search_handbook: Search the staff handbook."),
        "{system}"
    );
    let answer = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.starts_with("[1] Remote work policy"), "{answer}");
    assert!(answer.contains(HANDBOOK), "{answer}");

    let events: Vec<(String, String)> = w
        .recorder
        .payloads()
        .iter()
        .filter(|p| p["eventType"] == "tool_call" || p["eventType"] == "tool_result")
        .map(|p| {
            (
                p["eventType"].as_str().unwrap().into(),
                p["toolName"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("tool_call".to_string(), "search_handbook".to_string()),
            ("tool_result".to_string(), "search_handbook".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn react_reports_a_failing_tool_to_the_model_and_goes_on_with_the_web() {
    let (w, _tool) = world(
        ResearcherMode::React,
        HandbookTool {
            fail: true,
            ..HandbookTool::new("search_handbook")
        },
    )
    .await;
    w.serve_hits(&["/article"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[("search_handbook", json!({"query": "wetlands"}))]),
            Reply::tools(&[("web_search", json!({"query": "delta wetlands"}))]),
            Reply::tools(&[("web_crawl", json!({"url": w.pages.url("/article")}))]),
            Reply::Text("- The delta lost nearly a fifth of its wetlands [1].".into()),
        ],
    );

    let outcome = research_step_react(&w.ctx(), &step())
        .await
        .expect("step researched");

    assert_eq!(outcome.sources, [1]);
    assert_eq!(w.sources.get(1).unwrap().kind, SourceKind::Web);
    let second: Value = w.llm.calls_to(MODEL)[1].body.clone();
    let told = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(told.starts_with("Error: search_handbook failed"), "{told}");
    assert!(told.contains("503"), "{told}");
}

#[tokio::test(flavor = "multi_thread")]
async fn react_refuses_an_unknown_tool_naming_the_configured_ones() {
    let (w, tool) = world(ResearcherMode::React, HandbookTool::new("search_handbook")).await;
    w.llm.script(
        MODEL,
        vec![
            Reply::tools(&[("search_wiki", json!({"query": "x"}))]),
            Reply::tools(&[("search_handbook", json!("not an object"))]),
            Reply::Text("Nothing found.".into()),
        ],
    );

    research_step_react(&w.ctx(), &step())
        .await
        .expect("step researched");

    assert!(tool.calls().is_empty(), "bad calls must not reach the tool");
    let last: Value = w.llm.calls_to(MODEL)[2].body.clone();
    let told: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(
        told[0].contains(
            "there is no tool `search_wiki`; the tools are web_search, web_crawl, search_handbook"
        ),
        "{told:?}"
    );
    assert!(told[1].contains("must be a JSON object"), "{told:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn classic_mode_queries_the_tool_with_each_query_alongside_the_web() {
    let (w, tool) = world(
        ResearcherMode::Classic,
        HandbookTool::new("search_handbook"),
    )
    .await;
    w.serve_hits(&["/article"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::Text(
                json!({"queries": ["remote work policy", "remote days per week"]}).to_string(),
            ),
            Reply::Text("- Three remote days a week [1].\n- Wetlands shrank [2].".into()),
        ],
    );

    let outcome = research_step(&w.ctx(), &step())
        .await
        .expect("step researched");

    let mut asked: Vec<String> = tool
        .calls()
        .iter()
        .map(|a| a["query"].as_str().unwrap().to_string())
        .collect();
    asked.sort();
    assert_eq!(asked, ["remote days per week", "remote work policy"]);
    // Both calls return one passage: one source, registered once.
    assert_eq!(w.sources.all().len(), 2);
    assert_eq!(w.sources.get(1).unwrap().kind, SourceKind::VectorSearch);
    assert_eq!(outcome.sources, [1, 2]);
    let observation_request = w.llm.calls_to(MODEL)[1].body.to_string();
    assert!(
        observation_request.contains("### [1] Remote work policy"),
        "{observation_request}"
    );
    assert!(observation_request.contains("vector-search://main.hr.handbook/17"));
}

#[tokio::test(flavor = "multi_thread")]
async fn classic_mode_goes_on_from_the_tool_when_every_web_search_fails() {
    let (w, _tool) = world(
        ResearcherMode::Classic,
        HandbookTool::new("search_handbook"),
    )
    .await;
    w.search_fake.fail_always(Fault::Status(500));
    w.llm.script(
        MODEL,
        vec![
            Reply::Text(json!({"queries": ["remote work policy"]}).to_string()),
            Reply::Text("- Three remote days a week [1].".into()),
        ],
    );

    let outcome = research_step(&w.ctx(), &step())
        .await
        .expect("the private passage carries the step");

    assert_eq!(outcome.sources, [1]);
    assert_eq!(outcome.searches_failed, 1);
    assert!(!outcome.observation.starts_with("> Unverified"));
}

#[tokio::test(flavor = "multi_thread")]
async fn classic_mode_leaves_tools_without_a_query_parameter_to_react_mode() {
    let (w, tool) = world(
        ResearcherMode::Classic,
        HandbookTool {
            takes_query: false,
            ..HandbookTool::new("github__list_issues")
        },
    )
    .await;
    w.serve_hits(&["/article"]);
    w.llm.script(
        MODEL,
        vec![
            Reply::Text(json!({"queries": ["delta wetlands"]}).to_string()),
            Reply::Text("- Wetlands shrank [1].".into()),
        ],
    );

    research_step(&w.ctx(), &step())
        .await
        .expect("step researched");

    assert!(tool.calls().is_empty());
    assert_eq!(w.sources.get(1).unwrap().kind, SourceKind::Web);
}
