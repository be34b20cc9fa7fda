//! The shipped configuration at full speed: a light deep-research run with `config/app.yaml`
//! exactly as shipped (loaded through the normal loader; only the model server and Brave
//! pointed at the fakes, and loopback allowed for the page server), against the same run
//! with every `tokens_per_minute` raised; and the shipped run with one 30 s page among a
//! step's search results. Results: `bench-results/shipped_config.json`.
//!
//! Every shipped endpoint name (`databricks-claude-haiku-4-5`, …) is served by the fake
//! model, with fixed latencies (model 300 ms, search 200 ms, page 150 ms). A schema-driven
//! responder answers each request by the JSON schema it carries (plan, queries, reflection,
//! verdicts, atomic facts, entailment) or with text, and reports usage the way a real server
//! would: prompt and answer tokens measured from the text (about four characters a token),
//! so the tokens-per-minute limiter settles with realistic numbers. (Streamed answers are
//! the fake's: 5 prompt tokens and one per piece.)

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use dra::config::{load, AppConfig, Env, PathOrigin};
use dra::events::sink::EventBus;
use dra::research::agents::QueryMode;
use dra::research::config::Depth;
use dra::research::run::{run, Outcome, RunRequest, Services};
use dra::search;
use dra::web::Fetcher;
use serde_json::{json, Value};
use support::llm::{router, FakeLlm, Reply};
use support::research::Recorder;
use support::search::{brave_hits, BRAVE_KEY};
use support::world::{last_user_message, step_id};
use support::{FakeSearch, PageServer};

const LLM_LATENCY: Duration = Duration::from_millis(300);
const SEARCH_LATENCY: Duration = Duration::from_millis(200);
const PAGE_LATENCY_MS: u64 = 150;
const SLOW_PAGE_MS: u64 = 30_000;
const SAMPLES: usize = 3;
const GOAL_RATIO: f64 = 1.2;
const QUESTION: &str = "How fast are river deltas losing their wetlands?";
const STEPS: [&str; 2] = ["step-1", "step-2"];
const PAGES_PER_STEP: usize = 3;

/// What one run's fakes serve.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pages {
    Fast,
    /// The second page of step-1 answers after [`SLOW_PAGE_MS`].
    OneSlow,
}

/// The token limits of the run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limits {
    Shipped,
    Raised,
}

struct Sample {
    wall: Duration,
    tokens: u64,
    llm_calls: usize,
    fetches_failed: usize,
}

impl Sample {
    fn to_json(&self) -> Value {
        json!({
            "wall_ms": ms(self.wall),
            "tokens": self.tokens,
            "llm_calls": self.llm_calls,
            "fetches_failed": self.fetches_failed,
        })
    }
}

fn main() -> anyhow::Result<()> {
    common::block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let mut shipped = Vec::new();
    let mut raised = Vec::new();
    for _ in 0..SAMPLES {
        shipped.push(sample(Limits::Shipped, Pages::Fast).await?);
        raised.push(sample(Limits::Raised, Pages::Fast).await?);
    }
    let slow = sample(Limits::Shipped, Pages::OneSlow).await?;

    let shipped_wall = median(shipped.iter().map(|s| s.wall));
    let raised_wall = median(raised.iter().map(|s| s.wall));
    let ratio = shipped_wall.as_secs_f64() / raised_wall.as_secs_f64();
    let verdict = if ratio <= GOAL_RATIO { "PASS" } else { "FAIL" };
    let slow_ratio = slow.wall.as_secs_f64() / shipped_wall.as_secs_f64();

    let result = json!({
        "benchmark": "shipped_config",
        "timestamp": Utc::now().to_rfc3339(),
        "latencies_ms": {
            "llm": ms(LLM_LATENCY),
            "brave_search": ms(SEARCH_LATENCY),
            "page": PAGE_LATENCY_MS,
            "slow_page": SLOW_PAGE_MS,
        },
        "depth": "light",
        "plan_steps": STEPS.len(),
        "pages_per_step": PAGES_PER_STEP,
        "samples_per_configuration": SAMPLES,
        "shipped": {
            "wall_ms": ms(shipped_wall),
            "samples": shipped.iter().map(Sample::to_json).collect::<Vec<_>>(),
        },
        "raised_limits": {
            "wall_ms": ms(raised_wall),
            "samples": raised.iter().map(Sample::to_json).collect::<Vec<_>>(),
        },
        "production_config_ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "verdict": verdict,
        "slow_page_wall_ms": ms(slow.wall),
        "slow_page_baseline_wall_ms": ms(shipped_wall),
        "slow_page_ratio": slow_ratio,
        "slow_page_run": slow.to_json(),
        "notes": [
            "config/app.yaml as shipped, through dra::config::load; the environment sets OPENAI_BASE_URL (the fake model server), BRAVE_BASE_URL and BRAVE_API_KEY; web.allowed_hosts gets loopback so the page server can be fetched",
            "raised_limits: every endpoint's and tier's tokens_per_minute set to u32::MAX after loading",
            "the fake reports usage measured from the request and answer text (4 characters a token), except streamed answers (5 prompt tokens, one per piece)",
            "slow page: one of step-1's three pages answers after 30 s; slow_page_baseline_wall_ms is the shipped run with fast pages",
        ],
    });
    common::report("shipped_config", &result)?;
    println!(
        "shipped_config: shipped {} ms, raised {} ms, ratio {ratio:.3} (goal <= {GOAL_RATIO}: {verdict}); one 30 s page: {} ms",
        ms(shipped_wall),
        ms(raised_wall),
        ms(slow.wall)
    );
    Ok(())
}

/// One light run on fresh fakes.
async fn sample(limits: Limits, pages_kind: Pages) -> anyhow::Result<Sample> {
    let llm = FakeLlm::start().await;
    let brave = FakeSearch::start().await;
    let pages = PageServer::start().await;
    let env: Env = [
        ("OPENAI_BASE_URL", format!("{}/v1", llm.url)),
        ("BRAVE_BASE_URL", brave.url.clone()),
        ("BRAVE_API_KEY", BRAVE_KEY.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/app.yaml");
    let mut config = load(&path, PathOrigin::Explicit, &env)
        .context("loading config/app.yaml")?
        .config;
    if limits == Limits::Raised {
        raise_limits(&mut config);
    }
    serve_models(&llm, &config);
    answer_searches(&brave, &pages, pages_kind);

    let search = search::from_config(&config.search, &env)?;
    let mut web = config.web.clone();
    web.allowed_hosts.extend(support::pages::loopback_hosts());
    let fetcher = Fetcher::new(&web)?;
    let router = router(&config);
    let recorder = Arc::new(Recorder::default());
    let bus = Arc::new(EventBus::new(vec![Box::new(recorder.clone())]));
    let services = Services {
        llm: &router,
        search: search.as_ref(),
        fetcher: &fetcher,
        tools: &dra::tools::Toolset::default(),
        config: &config.research(),
    };
    let req = RunRequest {
        mode: Some(QueryMode::DeepResearch),
        depth: Depth::Light,
        ..RunRequest::new(QUESTION)
    };

    let started = Instant::now();
    let outcome = run(&req, &services, &bus).await;
    let wall = started.elapsed();

    let report = match outcome {
        Ok(Outcome::Report(r)) => *r,
        other => bail!("expected a report, got {other:?}"),
    };
    if report.steps_executed != STEPS.len() as u32 {
        bail!(
            "{} of {} steps ran; the runs would not be comparable",
            report.steps_executed,
            STEPS.len()
        );
    }
    let fetches_failed = recorder
        .payloads()
        .iter()
        .filter(|p| {
            p["eventType"] == "tool_result"
                && p["toolName"] == "web_crawl"
                && p["resultPreview"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("fetch failed"))
        })
        .count();
    Ok(Sample {
        wall,
        tokens: report.tokens_used,
        llm_calls: llm.calls().len(),
        fetches_failed,
    })
}

fn raise_limits(config: &mut AppConfig) {
    for endpoint in config.endpoints.values_mut() {
        endpoint.tokens_per_minute = u32::MAX;
    }
    for tier in config.models.values_mut() {
        if tier.tokens_per_minute.is_some() {
            tier.tokens_per_minute = Some(u32::MAX);
        }
    }
}

/// Every chat endpoint of the config answers through [`respond`] after [`LLM_LATENCY`].
fn serve_models(llm: &FakeLlm, config: &AppConfig) {
    for endpoint in config.endpoints.values() {
        let model = endpoint.endpoint_identifier.as_str();
        llm.latency(model, LLM_LATENCY);
        llm.respond(model, respond);
    }
}

/// The answer to one model request, chosen by the JSON schema it asks for.
fn respond(body: &Value) -> Reply {
    if body["stream"] == true {
        return Reply::Stream(report().split_inclusive(' ').map(str::to_string).collect());
    }
    let schema = &body["response_format"]["json_schema"]["schema"]["properties"];
    let has = |key: &str| schema.get(key).is_some();
    let step = step_id(body).unwrap_or_else(|| "step-1".into());
    let answer = if has("steps") {
        let steps: Vec<Value> = STEPS
            .iter()
            .map(|id| {
                json!({"id": id, "title": format!("Aspect {id}"), "description": "Measured wetland loss.",
                       "step_type": "research", "needs_search": true, "depends_on": []})
            })
            .collect();
        json!({"title": "Delta wetlands", "thought": "Two aspects.", "steps": steps}).to_string()
    } else if has("queries") {
        json!({"queries": [format!("{step} wetland loss"), format!("{step} sediment")]}).to_string()
    } else if has("decision") {
        json!({"decision": "continue", "reasoning": "More to learn."}).to_string()
    } else if has("mode") {
        json!({"mode": "deep_research", "depth": "light", "reasoning": "A research question."})
            .to_string()
    } else if has("verdict") {
        json!({"reasoning": "The quote states it.", "verdict": "supported", "evidence_index": 1})
            .to_string()
    } else if has("facts") {
        let user = last_user_message(body);
        let claim = user
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("A fact.");
        json!({ "facts": [claim] }).to_string()
    } else if has("score") {
        json!({"reasoning": "Stated.", "score": 0.9, "evidence_index": 1}).to_string()
    } else if body.get("response_format").is_some() {
        json!({}).to_string()
    } else {
        // The researcher's observation (or a rewrite, which keeps its claim).
        "- The river delta has lost nearly a fifth of its wetlands since 1990 [1].\n\
         - Researchers at the coastal institute mapped sediment flows for six years [2].\n\
         - Local fishers say the changes arrived faster than any model predicted [3]."
            .to_string()
    };
    with_usage(body, answer)
}

/// A chat completion of `text` whose usage is measured from the request and the answer.
fn with_usage(body: &Value, text: String) -> Reply {
    let prompt_chars: usize = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .map(str::len)
        .sum();
    let prompt = (prompt_chars / 4) as u64;
    let completion = (text.len() / 4) as u64;
    Reply::Json(json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }))
}

/// The synthesizer's report: claims the pages support, in other words than theirs, so
/// each one goes to the model for a verdict as real claims do.
fn report() -> String {
    "# Delta wetlands\n\n\
     Since 1990 the delta has given up close to a fifth of its marshland [1]. \
     Coastal scientists spent six years tracing how sediment moves through the delta [2]. \
     Fishing communities report that the change came sooner than forecasts expected [4].\n\n\
     ## Causes\n\n\
     Reservoirs upstream hold back the silt that used to renew the marshes every spring [1]. \
     Compared with a generation ago, under half as much silt reaches the delta today [5].\n"
        .to_string()
}

/// Brave answers a step's queries with that step's own pages and the background search
/// (the question itself) with a page of its own.
fn answer_searches(brave: &FakeSearch, pages: &PageServer, kind: Pages) {
    brave.latency(SEARCH_LATENCY);
    let hits: HashMap<String, Value> = STEPS
        .iter()
        .enumerate()
        .map(|(s, id)| {
            let paths: Vec<String> = (1..=PAGES_PER_STEP)
                .map(|n| {
                    let wait = if kind == Pages::OneSlow && s == 0 && n == 2 {
                        SLOW_PAGE_MS
                    } else {
                        PAGE_LATENCY_MS
                    };
                    format!("/slow/{wait}/s{s}p{n}")
                })
                .collect();
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            (id.to_string(), brave_hits(pages, &paths))
        })
        .collect();
    let background = brave_hits(pages, &[&format!("/slow/{PAGE_LATENCY_MS}/background")]);
    brave.answer_with(move |query| {
        let step = query.split_whitespace().next().unwrap_or_default();
        hits.get(step)
            .cloned()
            .unwrap_or_else(|| background.clone())
    });
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = samples.collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}
