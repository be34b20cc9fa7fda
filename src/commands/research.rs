//! `dra research "question"`: build the services, run the engine with progress on stderr,
//! print the report on stdout and optionally write it, its sources and its events to a
//! directory. With a database configured the run is also saved as a chat (or appended to
//! the `--chat` it follows up), unless `--no-save`.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dra::db::event_log::{EventLog, DEFAULT_CAPACITY};
use dra::db::repo::{MessageId, SessionId};
use dra::db::runs::{self, Finish, RunStart, SavedRun};
use dra::db::target::Backend;
use dra::db::{build_pool, DbError, PgPool};
use dra::llm::LlmRouter;
use dra::progress::{LineProgress, TerminalProgress};
use dra::research::agents::QueryMode;
use dra::research::config::Depth;
use dra::research::run::{run as run_research, Outcome, RunRequest, Services};
use dra::research::sink::{EventBus, EventSink, JsonlSink};
use dra::web::Fetcher;
use serde_json::json;

use super::{identity, Context};
use crate::cli::{DatabaseTarget, OutputFormat, ResearchArgs, ResearchDepth, ResearchMode};

pub async fn run(ctx: &Context, args: ResearchArgs) -> anyhow::Result<ExitCode> {
    let query = read_query(&args.query)?;
    let router = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    let search = dra::search::from_config(&ctx.config, &ctx.env)?;
    let fetcher = Fetcher::new(&ctx.config.web)?;
    let database = open_database(ctx, &args).await?;
    let history = match (&database, args.chat) {
        (Some(db), Some(chat)) => runs::history(&db.pool, chat, &db.user).await?,
        _ => Vec::new(),
    };

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
        history,
        ..RunRequest::new(query)
    };
    let saving = match &database {
        Some(db) if !args.no_save => start_saving(db, &args, &request).await?,
        _ => None,
    };
    if let Some(saving) = &saving {
        sinks.push(Box::new(saving.events.clone()));
    }
    let bus = Arc::new(EventBus::new(sinks));

    let services = Services {
        llm: &router,
        search: search.as_ref(),
        fetcher: &fetcher,
        config: &ctx.config,
    };
    let started = std::time::Instant::now();
    // Ctrl-C stops the run but still records it as cancelled.
    let outcome = tokio::select! {
        outcome = run_research(&request, &services, &bus) => Some(outcome),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Some(t) = &terminal {
        t.finish();
    }
    // Dropping the bus flushes the JSONL writer.
    drop(bus);
    let saved = match saving {
        Some(saving) => {
            let finish = match &outcome {
                Some(outcome) => Finish::from_outcome(outcome),
                None => Finish::cancelled(),
            };
            saving.finish(&finish).await
        }
        None => None,
    };
    let Some(outcome) = outcome else {
        eprintln!("cancelled");
        return Ok(ExitCode::from(130));
    };
    let ids = saved.map(|s| {
        json!({
            "chatId": s.chat_id,
            "messageId": s.agent_message_id,
            "sessionId": s.session_id,
        })
    });
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
            let usage = router.usage();
            match args.format {
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
                            "usage": usage,
                        }),
                        &ids
                    ))?
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

/// A run being saved: its rows and its event log.
struct Saving {
    pool: PgPool,
    run: SavedRun,
    events: Arc<EventLog>,
}

/// Write the chat, messages and session before the run, so its events have a session to
/// belong to. A failure is a warning (the run goes on unsaved) unless `--chat` asked to
/// continue a chat, which is then an error.
async fn start_saving(
    db: &Database,
    args: &ResearchArgs,
    request: &RunRequest,
) -> anyhow::Result<Option<Saving>> {
    let start = RunStart {
        user_id: &db.user,
        chat: args.chat,
        query: &request.query,
        query_mode: request.mode.unwrap_or(QueryMode::DeepResearch).as_str(),
        research_depth: request.depth.as_str(),
        agent_message_id: MessageId(request.message_id),
        session_id: SessionId(request.session_id),
    };
    match runs::start(&db.pool, &start).await {
        Ok(run) => Ok(Some(Saving {
            events: Arc::new(EventLog::start(
                db.pool.clone(),
                run.session_id,
                DEFAULT_CAPACITY,
            )),
            pool: db.pool.clone(),
            run,
        })),
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

impl Saving {
    /// Wait for the event log, write the result, and say where it went. Failures are
    /// warnings: the report is printed either way.
    async fn finish(self, finish: &Finish) -> Option<SavedRun> {
        if let Err(e) = self.events.close().await {
            eprintln!("warning: the run's event log is incomplete: {e}");
        }
        match runs::finish(&self.pool, &self.run, finish).await {
            Ok(_) => {
                eprintln!("saved as chat {}", self.run.chat_id);
                Some(self.run)
            }
            Err(e) => {
                eprintln!(
                    "warning: the result was not saved (chat {} holds the question only): {e}",
                    self.run.chat_id
                );
                None
            }
        }
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
