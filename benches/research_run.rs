//! Scheduling efficiency of one research run: a medium deep_research run over fakes with
//! fixed latencies, its wall time against the critical path of the calls it actually made,
//! and the same run forced sequential. Results: `bench-results/research_run.json`.
//!
//! The critical path is an ideal: background search + planner + the longest `depends_on`
//! chain of steps + synthesizer, where a step costs its LLM calls one after another, one
//! search latency (its searches run at once) and one page latency (its fetches run at once).
//! Each part is the fixed latency times the calls the fakes saw for it, so the path leaves
//! out loopback HTTP, extraction and event overhead: `ratio` charges all of that to the
//! engine. Reflections are not on the path: no later step or the report waits for them by
//! data, so a parallel run may think while it researches (a sequential run waits for each,
//! by design). `measured_path_ms` is the same chain over the durations the run's events
//! report (agents, step_started → step_completed): `wall / measured` shows waits between
//! steps and agents alone, free of in-step overhead.

mod common;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use dra::events::sink::EventBus;
use dra::research::agents::{Agent, PlanStep, QueryMode};
use dra::research::config::{Depth, ResearcherMode};
use dra::research::run::{run, Outcome, ResearchReport, RunRequest, Services};
use dra::search;
use dra::web::{Fetcher, WebConfig};
use serde_json::{json, Value};
use support::llm::{add_tiers, router, FakeLlm, Reply};
use support::research::Recorder;
use support::search::brave_hits;
use support::world::{say, step_id};
use support::{FakeSearch, PageServer};

const LLM_LATENCY: Duration = Duration::from_millis(300);
const SEARCH_LATENCY: Duration = Duration::from_millis(200);
const PAGE_LATENCY_MS: u64 = 150;
const SAMPLES: usize = 3;
const QUERIES_PER_STEP: usize = 3;
const PAGES_PER_STEP: usize = 3;
/// Three independent steps and one that needs the first.
const PLAN: [(&str, &[&str]); 4] = [
    ("step-1", &[]),
    ("step-2", &[]),
    ("step-3", &[]),
    ("step-4", &["step-1"]),
];
const GOAL_RATIO: f64 = 1.15;
const QUESTION: &str = "How do river deltas change?";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Schedule {
    Parallel,
    Sequential,
}

/// One run, measured.
struct Sample {
    wall: Duration,
    critical_path: Duration,
    measured_path: Duration,
    tokens: u64,
    llm_calls: usize,
    searches: usize,
    fetches: usize,
}

impl Sample {
    fn to_json(&self) -> Value {
        json!({
            "wall_ms": ms(self.wall),
            "critical_path_ms": ms(self.critical_path),
            "measured_path_ms": ms(self.measured_path),
            "tokens": self.tokens,
            "llm_calls": self.llm_calls,
            "searches": self.searches,
            "fetches": self.fetches,
        })
    }
}

fn main() -> anyhow::Result<()> {
    common::block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let mut parallel = Vec::new();
    let mut sequential = Vec::new();
    for _ in 0..SAMPLES {
        parallel.push(sample(Schedule::Parallel).await?);
        sequential.push(sample(Schedule::Sequential).await?);
    }

    let wall = median(parallel.iter().map(|s| s.wall));
    let critical = median(parallel.iter().map(|s| s.critical_path));
    let measured = median(parallel.iter().map(|s| s.measured_path));
    let sequential_wall = median(sequential.iter().map(|s| s.wall));
    let ratio = wall.as_secs_f64() / critical.as_secs_f64();
    let speedup = sequential_wall.as_secs_f64() / wall.as_secs_f64();
    let tokens = median(parallel.iter().map(|s| s.tokens));
    let verdict = if ratio <= GOAL_RATIO { "PASS" } else { "FAIL" };
    let peak_rss_kib = peak_rss_kib();

    let result = json!({
        "benchmark": "research_run",
        "timestamp": Utc::now().to_rfc3339(),
        "latencies_ms": {
            "llm": ms(LLM_LATENCY),
            "brave_search": ms(SEARCH_LATENCY),
            "page": PAGE_LATENCY_MS,
        },
        "plan": PLAN.iter().map(|(id, deps)| json!({"id": id, "depends_on": deps})).collect::<Vec<_>>(),
        "per_step": {"queries": QUERIES_PER_STEP, "fetches": PAGES_PER_STEP},
        "samples_per_configuration": SAMPLES,
        "parallel": {
            "wall_ms": ms(wall),
            "critical_path_ms": ms(critical),
            "ratio": ratio,
            "measured_path_ms": ms(measured),
            "ratio_vs_measured_path": wall.as_secs_f64() / measured.as_secs_f64(),
            "samples": parallel.iter().map(Sample::to_json).collect::<Vec<_>>(),
        },
        "sequential": {
            "wall_ms": ms(sequential_wall),
            "samples": sequential.iter().map(Sample::to_json).collect::<Vec<_>>(),
        },
        "speedup": speedup,
        "goal_ratio": GOAL_RATIO,
        "verdict": verdict,
        "tokens_per_report": tokens,
        "peak_rss_kib": peak_rss_kib,
        "notes": [
            "critical_path_ms: background + planner + longest depends_on chain of steps + synthesizer, each the fixed latency times the calls the fakes saw (a step: its LLM calls in turn, one search latency, one page latency); reflections are not data dependencies of the report and are left out",
            "measured_path_ms: the same chain over durations from the run's events (agent_completed.durationMs, step_started to step_completed)",
            "search.brave.requests_per_second is raised to 1000 after config validation (which caps it at 10), and the LLM endpoints' tokens_per_minute to u32::MAX, so client-side rate limiters are not what is measured",
            "web.max_per_host is raised to web.max_concurrent: every fake page is on one loopback host, where real pages are spread over many",
            "peak_rss_kib is VmHWM of the whole bench process, the in-process fake servers included",
        ],
    });
    common::save("research_run", &result)?;
    println!(
        "research_run: wall {} ms, critical path {} ms, ratio {ratio:.3} (goal <= {GOAL_RATIO}: {verdict}); \
         sequential {} ms, speedup {speedup:.2}x; {tokens} tokens/report; peak RSS {peak_rss_kib} KiB",
        ms(wall),
        ms(critical),
        ms(sequential_wall),
    );
    Ok(())
}

/// Run the benchmark's request once on fresh fakes.
async fn sample(schedule: Schedule) -> anyhow::Result<Sample> {
    let llm = FakeLlm::start().await;
    let brave = FakeSearch::start().await;
    let pages = PageServer::start().await;
    script(&llm);
    answer_searches(&brave, &pages);

    let (mut config, env) = brave.brave_config();
    // Validation caps Brave at its plans' 10 requests/s; a parallel run's nine searches at
    // once would then go out 100 ms apart and the limiter would be what is measured.
    config.search.brave.requests_per_second = 1000.0;
    add_tiers(&mut config, &llm, &["simple", "analytical", "complex"]);
    // This bench measures the research schedule; verification's share is its own measure.
    config.citation_verification.enabled = false;
    for endpoint in config.endpoints.values_mut() {
        endpoint.tokens_per_minute = u32::MAX;
    }
    let medium = &mut config.research_types.medium;
    medium.researcher.mode = ResearcherMode::Classic;
    medium.parallel_steps = Some(schedule == Schedule::Parallel);
    let search = search::from_config(&config.search, &env)?;
    let web = WebConfig {
        request_timeout: Duration::from_secs(5),
        retries: 0,
        allowed_hosts: support::pages::loopback_hosts(),
        ..WebConfig::default()
    };
    // Every fake page shares one loopback host; real pages are spread over many.
    let fetcher = Fetcher::new(&WebConfig {
        max_per_host: web.max_concurrent,
        ..web
    })?;
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
        depth: Depth::Medium,
        ..RunRequest::new(QUESTION)
    };

    let started = Instant::now();
    let outcome = run(&req, &services, &bus).await;
    let wall = started.elapsed();

    let events: Vec<Value> = recorder.json();
    let report = match outcome {
        Ok(Outcome::Report(r)) => *r,
        other => bail!("expected a report, got {other:?}"),
    };
    if report.steps_executed != PLAN.len() as u32 {
        bail!(
            "{} of {} steps ran; the measurement would not be comparable",
            report.steps_executed,
            PLAN.len()
        );
    }
    let calls = Calls::observed(&llm, &brave, &pages, &report);
    Ok(Sample {
        wall,
        critical_path: calls.critical_path(&report.plan.steps),
        measured_path: measured_path(&events, &report)?,
        tokens: report.tokens_used,
        llm_calls: llm.calls().len(),
        searches: brave.requests().len(),
        fetches: calls.fetches.values().sum(),
    })
}

/// The planner plans [`PLAN`]; the researcher asks [`QUERIES_PER_STEP`] queries naming its
/// step and notes what it read; the reflector always continues; the synthesizer streams.
fn script(llm: &FakeLlm) {
    for model in ["ep-simple", "ep-analytical", "ep-complex"] {
        llm.latency(model, LLM_LATENCY);
    }
    let steps: Vec<Value> = PLAN
        .iter()
        .map(|(id, deps)| {
            json!({"id": id, "title": format!("Step {id}"), "description": "d",
                   "step_type": "research", "needs_search": true, "depends_on": deps})
        })
        .collect();
    llm.script(
        "ep-analytical",
        vec![say(
            json!({"title": "Plan", "thought": "t", "steps": steps}),
        )],
    );
    llm.respond("ep-analytical", |body| {
        let step = step_id(body).unwrap_or_else(|| "?".into());
        if body.get("response_format").is_some() {
            let queries: Vec<String> = (1..=QUERIES_PER_STEP)
                .map(|n| format!("{step} aspect {n}"))
                .collect();
            say(json!({ "queries": queries }))
        } else {
            Reply::Text(format!("- Notes on step {step} [1]."))
        }
    });
    llm.always(
        "ep-simple",
        say(json!({"decision": "continue", "reasoning": "More to learn."})),
    );
    llm.always(
        "ep-complex",
        Reply::Stream(vec!["# Report\n\nSynthesized from the notes [1].".into()]),
    );
}

/// Brave answers a step's queries with that step's own pages (every query of a step with
/// the same ones, so a step fetches exactly [`PAGES_PER_STEP`]); the background search
/// gets a page nobody fetches.
fn answer_searches(brave: &FakeSearch, pages: &PageServer) {
    brave.latency(SEARCH_LATENCY);
    let hits: HashMap<String, Value> = PLAN
        .iter()
        .map(|(id, _)| {
            let paths = step_pages(id);
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            (id.to_string(), brave_hits(pages, &paths))
        })
        .collect();
    let background = brave_hits(pages, &["/article"]);
    brave.answer_with(move |query| {
        let step = query.split_whitespace().next().unwrap_or_default();
        hits.get(step)
            .cloned()
            .unwrap_or_else(|| background.clone())
    });
}

/// `/slow/150/pN` pages of step `id` (step-1: p1..p3, step-2: p4..p6, …).
fn step_pages(id: &str) -> Vec<String> {
    let index = PLAN.iter().position(|(s, _)| *s == id).unwrap_or(0);
    (1..=PAGES_PER_STEP)
        .map(|n| format!("/slow/{PAGE_LATENCY_MS}/p{}", index * PAGES_PER_STEP + n))
        .collect()
}

/// What the fakes saw, by the part of the run that asked.
struct Calls {
    background_searches: usize,
    planner_calls: usize,
    synthesizer_calls: usize,
    step_llm_calls: HashMap<String, usize>,
    step_searches: HashMap<String, usize>,
    fetches: HashMap<String, usize>,
}

impl Calls {
    fn observed(
        llm: &FakeLlm,
        brave: &FakeSearch,
        pages: &PageServer,
        r: &ResearchReport,
    ) -> Calls {
        let analytical = llm.calls_to("ep-analytical");
        let of_step = |id: &str| {
            analytical
                .iter()
                .filter(|c| step_id(&c.body).as_deref() == Some(id))
                .count()
        };
        let searches = brave.requests();
        let searched = |id: &str| {
            searches
                .iter()
                .filter(|s| s.params.get("q").and_then(|q| q.split_whitespace().next()) == Some(id))
                .count()
        };
        let ids: Vec<&str> = r.plan.steps.iter().map(|s| s.id.as_str()).collect();
        let step_llm_calls: HashMap<String, usize> =
            ids.iter().map(|id| (id.to_string(), of_step(id))).collect();
        let step_searches: HashMap<String, usize> = ids
            .iter()
            .map(|id| (id.to_string(), searched(id)))
            .collect();
        Calls {
            background_searches: searches.len() - step_searches.values().sum::<usize>(),
            // The plan is the one analytical call about no step.
            planner_calls: analytical.len() - step_llm_calls.values().sum::<usize>(),
            synthesizer_calls: llm.calls_to("ep-complex").len(),
            fetches: ids
                .iter()
                .map(|id| {
                    let hits = step_pages(id).iter().map(|p| pages.hits(p)).sum();
                    (id.to_string(), hits)
                })
                .collect(),
            step_llm_calls,
            step_searches,
        }
    }

    fn critical_path(&self, steps: &[PlanStep]) -> Duration {
        let page = Duration::from_millis(PAGE_LATENCY_MS);
        let step = |id: &str| {
            let n = |m: &HashMap<String, usize>| m.get(id).copied().unwrap_or(0);
            LLM_LATENCY * n(&self.step_llm_calls) as u32
                + if n(&self.step_searches) > 0 {
                    SEARCH_LATENCY
                } else {
                    Duration::ZERO
                }
                + if n(&self.fetches) > 0 {
                    page
                } else {
                    Duration::ZERO
                }
        };
        SEARCH_LATENCY * self.background_searches as u32
            + LLM_LATENCY * self.planner_calls as u32
            + longest_chain(steps, step)
            + LLM_LATENCY * self.synthesizer_calls as u32
    }
}

/// The critical path over the durations the run's own events give.
fn measured_path(events: &[Value], r: &ResearchReport) -> anyhow::Result<Duration> {
    let agent = |agent: Agent| -> Duration {
        events
            .iter()
            .filter(|e| {
                e["eventType"] == "agent_completed" && e["payload"]["agent"] == agent.as_str()
            })
            .filter_map(|e| e["payload"]["durationMs"].as_u64())
            .map(Duration::from_millis)
            .next()
            .unwrap_or_default()
    };
    let at = |kind: &str, id: &str| -> anyhow::Result<DateTime<Utc>> {
        let e = events
            .iter()
            .find(|e| e["eventType"] == kind && e["payload"]["stepId"] == id)
            .with_context(|| format!("no {kind} event for {id}"))?;
        Ok(e["timestamp"].as_str().unwrap_or_default().parse()?)
    };
    let mut step_times = HashMap::new();
    for s in &r.plan.steps {
        let took = at("step_completed", &s.id)? - at("step_started", &s.id)?;
        step_times.insert(s.id.clone(), took.to_std()?);
    }
    Ok(agent(Agent::Background)
        + agent(Agent::Planner)
        + longest_chain(&r.plan.steps, |id| step_times[id])
        + agent(Agent::Synthesizer))
}

/// The longest chain of `depends_on` through `steps`, each costing `cost`.
fn longest_chain(steps: &[PlanStep], cost: impl Fn(&str) -> Duration) -> Duration {
    // Dependencies name earlier steps only, so one pass in plan order suffices.
    let mut finish: HashMap<&str, Duration> = HashMap::new();
    for s in steps {
        let ready = s
            .depends_on
            .iter()
            .filter_map(|d| finish.get(d.as_str()).copied())
            .max()
            .unwrap_or_default();
        finish.insert(&s.id, ready + cost(&s.id));
    }
    finish.into_values().max().unwrap_or_default()
}

fn median<T: Ord + Copy>(samples: impl Iterator<Item = T>) -> T {
    let mut v: Vec<T> = samples.collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Peak resident set of this process (`VmHWM`), 0 where /proc is not available.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
