//! `dra research "question"`: build the services, run the engine with progress on stderr,
//! ask the coordinator's clarifying questions on a terminal, stop cleanly on Ctrl-C, print
//! the report on stdout and optionally write it, its sources and its events to a directory.
//! With a database configured the run is also saved as a chat (or appended to the `--chat`
//! it follows up), unless `--no-save`.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use dra::citations::provenance::Provenance;
use dra::db::record::{SessionHeartbeat, SessionRecord};
use dra::db::repo::{MessageId, SessionId};
use dra::db::runs::{self, RunStart, SavedRun};
use dra::db::target::Backend;
use dra::db::{build_pool, DbError, PgPool};
use dra::events::sink::{EventSink, JsonlSink};
use dra::llm::{LlmRouter, UsageRow, UsageScope};
use dra::progress::{LineProgress, TerminalProgress, TokenCounter};
use dra::research::agents::{Agent, QueryMode};
use dra::research::budget::{Budget, StopReason};
use dra::research::config::Depth;
use dra::research::run::{Outcome, ResearchReport, RunError, RunRequest, Services};
use dra::research::runner::{Ask, Ended, Kept, Run, RunEnd, Runner};
use dra::web::Fetcher;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{identity, Context};
use crate::cli::{
    DatabaseTarget, OutputFormat, ResearchArgs, ResearchDepth, ResearchMode, TierOverride,
};

/// The exit code of a run stopped with Ctrl-C (128 + SIGINT), as shells expect.
const INTERRUPTED: u8 = 130;
/// The exit code when the question needs clarification and nobody can answer.
const NEEDS_CLARIFICATION: u8 = 11;

pub async fn run(ctx: &Context, args: ResearchArgs) -> anyhow::Result<ExitCode> {
    let query = args.query.trim().to_string();
    // Questions can be answered only when stdin is a person, not the question itself.
    let interactive = !args.query_from_stdin
        && !args.yes
        && !args.no_clarify
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    let mut router = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    apply_tier_overrides(&mut router, &args.model_tier)?;
    let router = Arc::new(router);
    let search = search_provider(ctx, &args)?;
    let fetcher = Fetcher::new(&ctx.config.web)?;
    let tools = super::build_tools(ctx, router.embeddings(), args.quiet).await?;
    let database = open_database(ctx, &args).await?;
    let history = match (&database, args.chat) {
        (Some(db), Some(chat)) => runs::history(&db.pool, chat, &db.user).await?,
        _ => Vec::new(),
    };
    if let Some(dir) = &args.out {
        prepare_out_dir(dir, args.yes, interactive)?;
    }

    // Every model call of this command, clarification rounds included: the numbers shown
    // and written are this scope's, not the router's process-wide ledger.
    let usage = UsageScope::new();
    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    let terminal = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let usage = usage.clone();
        let tokens: TokenCounter = Arc::new(move || usage.tokens());
        Arc::new(TerminalProgress::new(Some(tokens)))
    });
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
    if let Some(path) = &events_file {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        sinks.push(Box::new(JsonlSink::new(std::io::BufWriter::new(file))));
    }

    let cancel = CancellationToken::new();
    let interrupts = tokio::spawn(watch_interrupts(cancel.clone()));
    let mut request = RunRequest {
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
        clarification_rounds: (!args.no_clarify && !args.yes).then_some(0),
        budget: Budget {
            max_tokens: args.max_tokens,
            timeout: args.timeout,
        },
        cancel: cancel.clone(),
        verify: match (args.verify, args.no_verify) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        history,
        // The trace's user: whom the run is saved for, or who runs it.
        user: Some(match &database {
            Some(db) => db.user.clone(),
            None => identity::trace_user(ctx, args.user.as_deref()),
        }),
        ..RunRequest::new(query)
    };
    let saving = match &database {
        Some(db) if !args.no_save => start_saving(db, &args, &request).await?,
        _ => None,
    };
    // The trace's session: the chat the run is saved in, or the run's own session.
    request.chat_id = Some(saving.map_or(request.session_id, |saved| saved.chat_id.0));
    let research_config = ctx.config.research();
    let runner = Runner {
        services: Services {
            llm: router.as_ref(),
            search: search.as_ref(),
            fetcher: &fetcher,
            tools: &tools,
            config: &research_config,
        },
    };
    let asker = |questions: &[String]| {
        let answers = match &terminal {
            Some(t) => t.suspend(|| ask(questions)),
            None => ask(questions),
        };
        answers
            .inspect_err(|e| eprintln!("warning: cannot read the answers: {e:#}"))
            .ok()
    };
    let mut run = Run {
        sinks,
        ask: interactive.then_some(&asker as Ask<'_>),
        ..Run::new(request)
    };
    if let (Some(saved), Some(db)) = (saving, &database) {
        run.record = Some(Box::new(SessionRecord::new(
            db.pool.clone(),
            saved,
            args.chat.is_none(),
        )));
        run.heartbeat = Some(Arc::new(SessionHeartbeat {
            pool: db.pool.clone(),
            session: saved.session_id,
            holder: format!("dra-research:{}", dra::jobs::worker_id()),
            every: ctx.config.jobs.heartbeat_interval(),
        }));
    }
    let started = Instant::now();
    let ended = usage.enter(runner.run(run)).await;
    interrupts.abort();
    if let Some(t) = &terminal {
        t.finish();
    }
    let RunEnd::Ended(ended) = ended? else {
        anyhow::bail!("the run was stopped before its end");
    };
    let Ended {
        request,
        outcome,
        kept,
        ..
    } = *ended;
    let saved = match (saving, kept) {
        (Some(saved), Some(kept)) => saved_where(saved, kept),
        _ => None,
    };
    let ids = saved.map(|s| {
        json!({
            "chatId": s.chat_id,
            "messageId": s.agent_message_id,
            "sessionId": s.session_id,
        })
    });
    let outcome = match outcome {
        Err(RunError::Stopped(StopReason::Cancelled)) => {
            eprintln!("interrupted before any research step finished; nothing to report");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        Err(e) => {
            // The events are in events.jsonl already; the usage says what the run cost.
            if let Some(dir) = &args.out {
                write_failed_usage(dir, &e, &usage.usage(), started)?;
                eprintln!("wrote {} (the run failed; no report)", dir.display());
            }
            return Err(e.into());
        }
        Ok(outcome) => outcome,
    };
    match outcome {
        Outcome::Clarify { questions } => {
            eprintln!("The question needs clarification; ask again with the answers included, or pass --no-clarify:");
            for q in &questions {
                println!("- {q}");
            }
            Ok(ExitCode::from(NEEDS_CLARIFICATION))
        }
        Outcome::Answer { text } => {
            match args.format {
                OutputFormat::Markdown => println!("{text}"),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&with_ids(
                        json!({"mode": "simple", "answer": text}),
                        &ids
                    ))?
                ),
            }
            if let Some(dir) = &args.out {
                std::fs::write(dir.join("report.md"), format!("{text}\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Report(report) => {
            print_report(&report, &usage.usage(), args.format, &ids)?;
            if let Some(dir) = &args.out {
                write_out_dir(dir, &report, &usage.usage(), started, request.message_id)?;
                eprintln!("wrote {}", dir.display());
            }
            match report.partial {
                Some(StopReason::Cancelled) => {
                    eprintln!("interrupted: the report above is partial");
                    Ok(ExitCode::from(INTERRUPTED))
                }
                Some(reason) => {
                    eprintln!("partial report: {reason}");
                    Ok(ExitCode::SUCCESS)
                }
                None => Ok(ExitCode::SUCCESS),
            }
        }
    }
}

/// The run's search provider: `--search-provider`, else what `search.provider` selects,
/// announced on stderr when it is the keyless default. `--mode simple` never searches, so
/// a provider it cannot build (no key) is no reason to refuse it.
fn search_provider(
    ctx: &Context,
    args: &ResearchArgs,
) -> anyhow::Result<Arc<dyn dra::search::SearchProvider>> {
    let selection = dra::search::select(args.search_provider, &ctx.config.search, &ctx.env);
    let built = dra::search::provider(selection.kind(), &ctx.config.search, &ctx.env);
    if matches!(args.mode, Some(ResearchMode::Simple)) {
        return Ok(built.unwrap_or_else(|e| Arc::new(dra::search::Unavailable::new(&e))));
    }
    let search = built?;
    if let (Some(notice), false) = (selection.notice(), args.quiet) {
        eprintln!("{notice}");
    }
    Ok(search)
}

/// First Ctrl-C: cancel the run, which then returns what it gathered. Second: quit now.
async fn watch_interrupts(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("\nstopping: writing what was gathered (Ctrl-C again to quit at once)");
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(i32::from(INTERRUPTED));
    }
}

fn apply_tier_overrides(router: &mut LlmRouter, overrides: &[TierOverride]) -> anyhow::Result<()> {
    for o in overrides {
        let agents = match o.agent {
            Some(agent) => vec![agent],
            None => Agent::WITH_MODEL.to_vec(),
        };
        for agent in agents {
            router
                .route_caller(agent.as_str(), &o.tier)
                .with_context(|| format!("--model-tier {}", o.tier))?;
        }
    }
    Ok(())
}

/// Refuse to overwrite an earlier run's files unless told to (or, on a terminal, asked).
fn prepare_out_dir(dir: &Path, yes: bool, interactive: bool) -> anyhow::Result<()> {
    let report = dir.join("report.md");
    if report.exists() && !yes {
        let overwrite = interactive
            && confirm(&format!(
                "{} already holds a report; overwrite it?",
                dir.display()
            ))?;
        anyhow::ensure!(
            overwrite,
            "{} already holds a report from an earlier run; pass --yes to overwrite it or choose another --out directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Ask each question on stderr and read one answer line each (empty: no answer).
fn ask(questions: &[String]) -> anyhow::Result<Vec<String>> {
    eprintln!("Before researching, a few questions (Enter to skip one):");
    let stdin = std::io::stdin();
    let mut answers = Vec::new();
    for q in questions {
        eprint!("  {q}\n  > ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            // End of input: whatever is unanswered stays unanswered.
            break;
        }
        answers.push(line.trim().to_string());
    }
    Ok(answers)
}

fn print_report(
    report: &ResearchReport,
    usage: &[UsageRow],
    format: OutputFormat,
    ids: &Option<serde_json::Value>,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Markdown => print!("{}", report.markdown),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&with_ids(
                json!({
                    "report": report.markdown,
                    "sources": report.sources,
                    "cited": report.cited,
                    "stepsExecuted": report.steps_executed,
                    "stepsSkipped": report.steps_skipped,
                    "planIterations": report.plan_iterations,
                    "citationsDropped": report.citations_dropped,
                    "partial": report.partial.map(|r| r.to_string()),
                    "tokensUsed": report.tokens_used,
                    "verification": report.verification.as_ref().map(|v| &v.summary),
                    "usage": usage,
                }),
                ids
            ))?
        ),
    }
    std::io::stdout().flush()?;
    Ok(())
}

fn write_out_dir(
    dir: &Path,
    report: &ResearchReport,
    usage: &[UsageRow],
    started: Instant,
    message_id: uuid::Uuid,
) -> anyhow::Result<()> {
    if let Some(v) = &report.verification {
        let provenance = Provenance::new(message_id, v.claims.clone());
        let now = chrono::Utc::now();
        std::fs::write(
            dir.join("provenance.json"),
            serde_json::to_string_pretty(&provenance.export(now))?,
        )?;
        std::fs::write(
            dir.join("provenance.md"),
            provenance.verification_report(now),
        )?;
    }
    std::fs::write(dir.join("report.md"), &report.markdown)?;
    std::fs::write(
        dir.join("sources.json"),
        serde_json::to_string_pretty(&report.sources)?,
    )?;
    write_usage(
        dir,
        usage,
        started,
        json!({
            "pagesFetched": report.sources.len(),
            "partial": report.partial.map(|r| r.to_string()),
            "citationsDropped": report.citations_dropped,
            "citationsRepointed": report.citations_repointed,
            // The final links pass alone: what got past the steps' and the writer's enforcement.
            "linksRemoved": report.links.dropped,
            "linksRewritten": report.links.repointed,
            "verification": report.verification.as_ref().map(|v| json!({
                "claims": v.claims.len(),
                "modelCalls": v.model_calls,
                "promptTokens": v.prompt_tokens,
                "completionTokens": v.completion_tokens,
                "corrections": v.corrections,
                "searches": v.searches,
            })),
        }),
    )
}

/// `usage.json` of a run that failed: what it cost and why it ended.
fn write_failed_usage(
    dir: &Path,
    error: &RunError,
    usage: &[UsageRow],
    started: Instant,
) -> anyhow::Result<()> {
    write_usage(
        dir,
        usage,
        started,
        json!({"failed": true, "error": error.to_string()}),
    )
}

/// `usage.json`: the run's wall time and model usage (totals and per tier and endpoint),
/// with `extra`'s fields.
fn write_usage(
    dir: &Path,
    usage: &[UsageRow],
    started: Instant,
    extra: serde_json::Value,
) -> anyhow::Result<()> {
    let mut doc = json!({
        "wallTimeMs": started.elapsed().as_millis() as u64,
        "calls": usage.iter().map(|u| u.calls).sum::<u64>(),
        "promptTokens": usage.iter().map(|u| u.prompt_tokens).sum::<u64>(),
        "completionTokens": usage.iter().map(|u| u.completion_tokens).sum::<u64>(),
        "byTierAndEndpoint": usage,
    });
    if let (Some(doc), serde_json::Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    std::fs::write(dir.join("usage.json"), serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// The database a run is saved in, and whose chats it holds.
struct Database {
    pool: PgPool,
    user: String,
}

/// The configured database, if this run needs one (saving, or `--chat`). No database
/// configured is normal (nothing is saved); an unreachable one is a warning, so the
/// research is not lost, except for `--chat`, which cannot run without its history.
async fn open_database(ctx: &Context, args: &ResearchArgs) -> anyhow::Result<Option<Database>> {
    if args.no_save && args.chat.is_none() {
        return Ok(None);
    }
    if let Err(e) = Backend::from_config(&ctx.config) {
        return match args.chat {
            Some(chat) => Err(anyhow::Error::new(e).context(format!(
                "--chat {chat} needs the database the chat is saved in"
            ))),
            None => Ok(None),
        };
    }
    let opened = async {
        let base = ctx.target(&DatabaseTarget { instance: None }).await?;
        let target = base.with_database(&ctx.database_name(None, &base, false));
        // One direct connection first: it fails at once with the server's reason, where
        // the pool would retry until its checkout timeout.
        drop(target.connect().await?);
        Ok::<_, anyhow::Error>(build_pool(target, &ctx.config.database.pool).await?)
    }
    .await;
    let pool = match opened {
        Ok(pool) => pool,
        Err(e) => {
            return match args.chat {
                Some(chat) => Err(e.context(format!(
                    "--chat {chat} needs the database, which cannot be reached"
                ))),
                None => {
                    eprintln!("warning: this run will not be saved: {e:#}");
                    Ok(None)
                }
            };
        }
    };
    let user = identity::cli_user(ctx, args.user.as_deref()).await?;
    Ok(Some(Database { pool, user }))
}

/// Write the chat, messages and session before the run, so its events have a session to
/// belong to. A failure is a warning (the run goes on unsaved) unless `--chat` asked to
/// continue a chat, which is then an error.
async fn start_saving(
    db: &Database,
    args: &ResearchArgs,
    request: &RunRequest,
) -> anyhow::Result<Option<SavedRun>> {
    let start = RunStart {
        user_id: &db.user,
        chat: args.chat,
        query: &request.query,
        query_mode: request.mode.unwrap_or(QueryMode::DeepResearch).as_str(),
        research_depth: request.depth.as_str(),
        agent_message_id: MessageId(request.message_id),
        session_id: SessionId(request.session_id),
        user_message: None,
        verify_sources: request.verify != Some(false),
    };
    match runs::start(&db.pool, &start).await {
        Ok(run) => Ok(Some(run)),
        Err(e @ DbError::ChatNotFound(_)) => Err(e.into()),
        Err(e) if args.chat.is_some() => Err(e.into()),
        Err(e) => {
            eprintln!(
                "warning: this run will not be saved: {e}{}",
                migrate_hint(&e)
            );
            Ok(None)
        }
    }
}

/// Say where the run was saved, or what of it was not: failures to store are warnings
/// (the report is printed either way). `None` unless the run was saved whole.
fn saved_where(run: SavedRun, kept: Kept) -> Option<SavedRun> {
    if let Err(e) = &kept.stored {
        // The session is left to end `failed` once its heartbeat stops.
        eprintln!(
            "warning: the result was not saved (chat {} holds the question only): {e}",
            run.chat_id
        );
        return None;
    }
    if let Err(e) = &kept.closed.events {
        eprintln!("warning: the run's event log is incomplete: {e}");
    }
    match kept.closed.ended {
        Some(Ok(())) => {
            eprintln!("saved as chat {}", run.chat_id);
            Some(run)
        }
        Some(Err(e)) => {
            eprintln!(
                "warning: the run's session was not ended (chat {} holds its answer): {e}",
                run.chat_id
            );
            None
        }
        None => None,
    }
}

/// A missing table means the schema was never created in this database.
fn migrate_hint(e: &DbError) -> &'static str {
    match e {
        DbError::Query(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("does not exist") =>
        {
            " (is the schema created? run `dra migrate`)"
        }
        _ => "",
    }
}

/// `doc` with the saved run's ids, when it was saved.
fn with_ids(mut doc: serde_json::Value, ids: &Option<serde_json::Value>) -> serde_json::Value {
    if let (Some(obj), Some(serde_json::Value::Object(ids))) = (doc.as_object_mut(), ids) {
        obj.extend(ids.clone());
    }
    doc
}

/// Add the `--docs` folders to `tools.local_docs.paths`, before any tool is built. The
/// configuration file's own folders were checked when it loaded; these are checked here,
/// so a mistyped folder is a usage error (exit 2) naming the flag, not a run without it.
pub fn add_docs(
    local: &mut dra::tools::config::LocalDocs,
    docs: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    for dir in docs {
        let problem = match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => None,
            Ok(_) => Some("is a file, not a folder"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist"),
            Err(_) => Some("cannot be read"),
        };
        if let Some(problem) = problem {
            return Err(super::UsageError(format!(
                "--docs {}: the folder {problem} (give a folder of markdown, text, HTML or PDF files)",
                dir.display()
            ))
            .into());
        }
        if !local.paths.contains(dir) {
            local.paths.push(dir.clone());
        }
    }
    Ok(())
}

/// `args.query`, read from stdin when it is `-`: a blank question is a usage error (exit
/// 2), found before any model or search is set up.
pub fn read_query(args: &mut ResearchArgs) -> anyhow::Result<()> {
    if args.query != "-" {
        return Ok(());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the question from stdin")?;
    // A NUL (never typed, only piped) cannot be stored with the chat.
    let text = dra::text::without_nul(text);
    let text = text.trim();
    if text.is_empty() {
        return Err(
            super::UsageError(format!("{} (stdin was empty)", crate::cli::EMPTY_QUESTION)).into(),
        );
    }
    args.query = text.to_string();
    args.query_from_stdin = true;
    Ok(())
}
