//! A research world: the fake model server, fake Brave answering with pages of the page
//! server, and the engine's services over them, with every event of a run recorded.

use std::sync::Arc;
use std::time::Duration;

use dra::config::AppConfig;
use dra::events::sink::{EventBus, EventSink};
use dra::events::EventEnvelope;
use dra::llm::LlmRouter;
use dra::research::run::{run, Outcome, RunError, RunRequest, Services};
use dra::search::{self, SearchProvider};
use dra::web::{Fetcher, WebConfig};
use serde_json::Value;

use super::llm::{FakeLlm, Reply};
use super::research::Recorder;
use super::{FakeSearch, PageServer};

/// Calls a function on every event (to act at a chosen moment of a run).
pub struct OnEvent<F: Fn(&EventEnvelope) + Send + Sync>(pub F);

impl<F: Fn(&EventEnvelope) + Send + Sync> EventSink for OnEvent<F> {
    fn emit(&self, envelope: &EventEnvelope) {
        (self.0)(envelope)
    }
}

/// Tiers `simple`, `analytical` and `complex` on the fake model server (models `ep-simple`,
/// `ep-analytical`, `ep-complex`); Brave answers every query with `/article` and
/// `/plain.txt`.
pub struct World {
    pub llm: FakeLlm,
    pub search_fake: FakeSearch,
    pub pages: PageServer,
    pub config: AppConfig,
    pub search: Arc<dyn SearchProvider>,
    pub fetcher: Fetcher,
    /// Private sources and MCP tools the runs may call; none unless a test adds them.
    pub tools: dra::tools::Toolset,
}

impl World {
    pub async fn start() -> World {
        let llm = FakeLlm::start().await;
        let search_fake = FakeSearch::start().await;
        let pages = PageServer::start().await;
        let (mut config, env) = search_fake.brave_config();
        super::llm::add_tiers(&mut config, &llm, &["simple", "analytical", "complex"]);
        // Claim verification has tests of its own; elsewhere its model calls would take
        // the scripted answers meant for the research.
        config.citation_verification.enabled = false;
        search_fake.serve_pages(&pages, &["/article", "/plain.txt"]);
        let search = search::from_config(&config.search, &env).unwrap();
        let fetcher = Fetcher::new(&WebConfig {
            request_timeout: Duration::from_secs(5),
            retries: 0,
            allowed_hosts: super::pages::loopback_hosts(),
            ..WebConfig::default()
        })
        .unwrap();
        World {
            llm,
            search_fake,
            pages,
            config,
            search,
            fetcher,
            tools: dra::tools::Toolset::default(),
        }
    }

    /// Run `req`; returns the outcome and every event as JSON.
    pub async fn run(&self, req: &RunRequest) -> (Result<Outcome, RunError>, Vec<Value>) {
        self.run_with(req, Vec::new()).await
    }

    /// Run `req` with extra sinks.
    pub async fn run_with(
        &self,
        req: &RunRequest,
        sinks: Vec<Box<dyn EventSink>>,
    ) -> (Result<Outcome, RunError>, Vec<Value>) {
        self.run_on(&self.router(), req, sinks).await
    }

    /// A router on the fake model server, for runs that share one (as in `dra serve`).
    pub fn router(&self) -> LlmRouter {
        super::llm::router(&self.config)
    }

    /// Run `req` on `router` with extra sinks.
    pub async fn run_on(
        &self,
        router: &LlmRouter,
        req: &RunRequest,
        mut sinks: Vec<Box<dyn EventSink>>,
    ) -> (Result<Outcome, RunError>, Vec<Value>) {
        let recorder = Arc::new(Recorder::default());
        sinks.insert(0, Box::new(recorder.clone()));
        let bus = Arc::new(EventBus::new(sinks));
        let services = Services {
            llm: router,
            search: self.search.as_ref(),
            fetcher: &self.fetcher,
            tools: &self.tools,
            config: &self.config.research(),
        };
        let outcome = run(req, &services, &bus).await;
        (outcome, recorder.json())
    }
}

/// A JSON answer.
pub fn say(v: Value) -> Reply {
    Reply::Text(v.to_string())
}

/// The `eventType`s of `events`, with the agent for agent events, leaving out the
/// high-frequency tool and synthesis events.
pub fn shape(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["payload"]["agent"].as_str() {
            Some(agent) => format!("{} {agent}", e["eventType"].as_str().unwrap()),
            None => e["eventType"].as_str().unwrap().to_string(),
        })
        .filter(|s| s != "tool_call" && s != "tool_result" && s != "synthesis_progress")
        .collect()
}

/// A classic-mode researcher that answers by what the request asks: search queries (a JSON
/// answer) or the step's observation citing source 1; both name the step id.
pub fn researcher(body: &Value) -> Reply {
    let step = step_id(body).unwrap_or_else(|| "?".into());
    if body.get("response_format").is_some() {
        say(serde_json::json!({ "queries": [format!("{step} facts")] }))
    } else {
        Reply::Text(format!("- Notes on step {step} [1]."))
    }
}

/// The id of the plan step a researcher request is about.
pub fn step_id(body: &Value) -> Option<String> {
    let user = last_user_message(body);
    let rest = user.lines().find_map(|l| l.strip_prefix("## Step "))?;
    Some(rest.split(':').next()?.trim().to_string())
}

/// The text of the request's last user message.
/// The claim a verification request asks about: the line after `## Claim`.
pub fn claim_of(user_message: &str) -> String {
    user_message
        .split("## Claim\n")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or_default()
        .to_string()
}

pub fn last_user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The fakes the `dra` binary researches against: the test config's `fast` and `strong`
/// endpoints (models `test-fast`, `test-strong`), Brave answering with `/article` and
/// `/plain.txt` of the page server.
pub struct Fakes {
    pub llm: FakeLlm,
    pub search: FakeSearch,
    pub pages: PageServer,
}

impl Fakes {
    pub async fn start() -> Fakes {
        let f = Fakes {
            llm: FakeLlm::start().await,
            search: FakeSearch::start().await,
            pages: PageServer::start().await,
        };
        f.search.serve_pages(&f.pages, &["/article", "/plain.txt"]);
        f
    }

    /// `dra ARGS…` pointed at the fakes.
    pub fn dra<I, S>(&self, args: I) -> super::Dra
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        super::Dra::new(args)
            .env("OPENAI_BASE_URL", format!("{}/v1", self.llm.url))
            .env("BRAVE_BASE_URL", &self.search.url)
            .env("BRAVE_API_KEY", super::search::BRAVE_KEY)
    }

    /// A light run of one planned step on `fast` (coordinator, planner, queries,
    /// observation citing [1]) and a report on `strong` headed `# {heading}` that cites
    /// [1] and an invented [5].
    pub fn script_one_step_run(&self, heading: &str) {
        self.llm.script(
            "test-fast",
            vec![
                say(serde_json::json!({"mode": "deep_research", "depth": "light", "reasoning": "r"})),
                say(serde_json::json!({"title": "Plan", "thought": "t", "steps": [
                    {"id": "a", "title": "Loss rates", "description": "d", "step_type": "research", "needs_search": true}
                ]})),
                say(serde_json::json!({"queries": ["delta wetland loss"]})),
                Reply::Text("- Deltas lost a fifth of their wetlands [1].".into()),
            ],
        );
        self.llm.script(
            "test-strong",
            vec![Reply::Stream(vec![format!(
                "# {heading}\n\nDeltas lost a fifth of their wetlands [1]. Made up [5]."
            )])],
        );
    }
}

impl Fakes {
    /// Once its script is used up, `fast` judges every claim it is asked to verify as
    /// supported.
    pub fn verifier_says_supported(&self) {
        self.llm.respond("test-fast", |_| {
            say(serde_json::json!({"verdict": "supported", "reasoning": "In the evidence."}))
        });
    }

    /// A light run planned in two steps on `fast`, whose reflection after the first step
    /// takes two minutes: a run to interrupt.
    pub fn script_run_that_hangs_after_one_step(&self) {
        self.llm.script(
            "test-fast",
            vec![
                say(serde_json::json!({"title": "Plan", "thought": "t", "steps": [
                    {"id": "a", "title": "Loss rates", "description": "d", "step_type": "research", "needs_search": true},
                    {"id": "b", "title": "Causes", "description": "d", "step_type": "research", "needs_search": true}
                ]})),
                say(serde_json::json!({"queries": ["delta wetland loss"]})),
                Reply::Text("- Deltas lost a fifth of their wetlands [1].".into()),
                Reply::Delayed(
                    Duration::from_secs(120),
                    Box::new(say(serde_json::json!({"decision": "continue", "reasoning": "r"}))),
                ),
            ],
        );
    }
}

/// Press Ctrl-C (SIGINT) on a spawned `dra research` once its first step has finished
/// (seen in its `events` JSONL file), and collect its output.
pub async fn interrupt_after_first_step(
    child: tokio::process::Child,
    events: &std::path::Path,
) -> super::cli::Output {
    wait_for_first_step(events).await;
    let pid = child.id().expect("dra is running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    tokio::time::timeout(Duration::from_secs(30), super::cli::Output::of(child))
        .await
        .expect("dra stops soon after Ctrl-C")
}

/// Wait (at most a minute) until a `dra research` writing `events` as JSONL has finished
/// its first step.
pub async fn wait_for_first_step(events: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(events)
        .unwrap_or_default()
        .contains("\"step_completed\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first step never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
