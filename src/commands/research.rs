//! `dra research "question"`: build the services, run the engine with progress on stderr,
//! print the report on stdout and optionally write it, its sources and its events to a
//! directory.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dra::llm::LlmRouter;
use dra::progress::{LineProgress, TerminalProgress};
use dra::research::agents::QueryMode;
use dra::research::config::Depth;
use dra::research::run::{run as run_research, Outcome, RunRequest, Services};
use dra::research::sink::{EventBus, EventSink, JsonlSink};
use dra::web::Fetcher;
use serde_json::json;

use super::Context;
use crate::cli::{OutputFormat, ResearchArgs, ResearchDepth, ResearchMode};

pub async fn run(ctx: &Context, args: ResearchArgs) -> anyhow::Result<ExitCode> {
    let query = read_query(&args.query)?;
    let router = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    let search = dra::search::from_config(&ctx.config, &ctx.env)?;
    let fetcher = Fetcher::new(&ctx.config.web)?;

    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    let terminal =
        (!args.quiet && std::io::stderr().is_terminal()).then(|| Arc::new(TerminalProgress::new()));
    match &terminal {
        Some(t) => sinks.push(Box::new(t.clone())),
        None if !args.quiet => sinks.push(Box::new(LineProgress::new(std::io::stderr()))),
        None => {}
    }
    let events_file = match (&args.events, &args.out) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(dir)) => Some(dir.join("events.jsonl")),
        (None, None) => None,
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if let Some(path) = &events_file {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        sinks.push(Box::new(JsonlSink::new(std::io::BufWriter::new(file))));
    }
    let bus = Arc::new(EventBus::new(sinks));

    let request = RunRequest {
        mode: args.mode.map(|m| match m {
            ResearchMode::Simple => QueryMode::Simple,
            ResearchMode::WebSearch => QueryMode::WebSearch,
            ResearchMode::DeepResearch => QueryMode::DeepResearch,
        }),
        depth: match args.depth {
            ResearchDepth::Auto => Depth::Auto,
            ResearchDepth::Light => Depth::Light,
            ResearchDepth::Medium => Depth::Medium,
            ResearchDepth::Extended => Depth::Extended,
        },
        clarification_rounds: (!args.no_clarify).then_some(0),
        ..RunRequest::new(query)
    };
    let services = Services {
        llm: &router,
        search: search.as_ref(),
        fetcher: &fetcher,
        config: &ctx.config,
    };
    let started = std::time::Instant::now();
    let outcome = run_research(&request, &services, &bus).await;
    if let Some(t) = &terminal {
        t.finish();
    }
    // Dropping the bus flushes the JSONL writer.
    drop(bus);
    match outcome? {
        Outcome::Clarify { questions } => {
            eprintln!("The question needs clarification; ask again with the answers included, or pass --no-clarify:");
            for q in &questions {
                println!("- {q}");
            }
            Ok(ExitCode::from(11))
        }
        Outcome::Answer { text } => {
            match args.format {
                OutputFormat::Markdown => println!("{text}"),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"mode": "simple", "answer": text}))?
                ),
            }
            if let Some(dir) = &args.out {
                std::fs::write(dir.join("report.md"), format!("{text}\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Report(report) => {
            let usage = router.usage();
            match args.format {
                OutputFormat::Markdown => print!("{}", report.markdown),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "report": report.markdown,
                        "sources": report.sources,
                        "cited": report.cited,
                        "stepsExecuted": report.steps_executed,
                        "stepsSkipped": report.steps_skipped,
                        "planIterations": report.plan_iterations,
                        "citationsDropped": report.citations_dropped,
                        "usage": usage,
                    }))?
                ),
            }
            if let Some(dir) = &args.out {
                std::fs::write(dir.join("report.md"), &report.markdown)?;
                std::fs::write(
                    dir.join("sources.json"),
                    serde_json::to_string_pretty(&report.sources)?,
                )?;
                let usage_doc = json!({
                    "wallTimeMs": started.elapsed().as_millis() as u64,
                    "pagesFetched": report.sources.len(),
                    "calls": usage.iter().map(|u| u.calls).sum::<u64>(),
                    "promptTokens": usage.iter().map(|u| u.prompt_tokens).sum::<u64>(),
                    "completionTokens": usage.iter().map(|u| u.completion_tokens).sum::<u64>(),
                    "byTierAndEndpoint": usage,
                });
                std::fs::write(
                    dir.join("usage.json"),
                    serde_json::to_string_pretty(&usage_doc)?,
                )?;
                eprintln!("wrote {}", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_query(arg: &str) -> anyhow::Result<String> {
    let query = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the question from stdin")?;
        text
    } else {
        arg.to_string()
    };
    let query = query.trim().to_string();
    anyhow::ensure!(!query.is_empty(), "the question is empty");
    Ok(query)
}
