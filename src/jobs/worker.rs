//! [`Worker`]: runs queued research jobs in this process, at most
//! `jobs.max_concurrent_runs` at once.
//!
//! - Claiming: woken by the hub when a job is queued, else every `poll_interval`.
//! - While running: a heartbeat every `heartbeat_interval` keeps the job ours, carries the
//!   run's progress to its session row, and reads the cancel flag (a cancel notification
//!   usually arrives first). A heartbeat that finds the job no longer ours stops the run
//!   without writing anything: another process has taken it over.
//! - At the end, as the original's orchestrator: the answer, sources and claims are
//!   stored, a completed run's `persistence_completed` event is stored after them, and
//!   only then does the session end (which ends its streams). A job whose cancel was asked
//!   for ends `cancelled`, keeping what it wrote, with no further event.
//! - A job's question is researched as written: the original never stops a job for
//!   clarifying questions (its frontend has no way to show them).
//! - Jobs whose heartbeat went stale (their process died) are swept by [`super::sweep`],
//!   which every server runs.
//! - On shutdown, running jobs are handed back to the queue for another process (or this
//!   one's next start) to run from the beginning; their stored events stay, and the next
//!   attempt numbers its events after them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::hub::Hub;
use super::JobsConfig;
use crate::db::record::SessionRecord;
use crate::db::repo::jobs::{self, Job, JobRequest, JobStatus, Progress};
use crate::db::repo::{events, messages, sessions, MessageId, SessionId};
use crate::db::runs::{self, SavedRun, HISTORY_LIMIT};
use crate::db::{DbError, PgPool};
use crate::events::sink::EventSink;
use crate::events::{EventEnvelope, ResearchEvent};
use crate::llm::LlmRouter;
use crate::research::agents::QueryMode;
use crate::research::config::{Depth, ResearchConfig};
use crate::research::run::{RunRequest, Services};
use crate::research::runner::{
    Beat, Ending, Heartbeat, Pending, RecordError, Run, RunEnd, Runner, RunnerError,
};
use crate::search::SearchProvider;
use crate::web::Fetcher;

/// What runs research: the same services `dra research` uses.
pub struct Engine {
    pub llm: Arc<LlmRouter>,
    pub search: Arc<dyn SearchProvider>,
    pub fetcher: Arc<Fetcher>,
    /// Private sources and MCP tools, built once at start.
    pub tools: Arc<crate::tools::Toolset>,
    pub config: Arc<ResearchConfig>,
}

/// See the module documentation.
pub struct Worker {
    id: String,
    pool: PgPool,
    hub: Arc<Hub>,
    engine: Arc<Engine>,
    config: JobsConfig,
    permits: Arc<Semaphore>,
    stopping: CancellationToken,
    /// Cancel tokens of the runs in progress, by session.
    running: Mutex<HashMap<Uuid, CancellationToken>>,
    idle: tokio::sync::Notify,
}

impl Worker {
    /// Start claiming, sweeping and listening for cancellations.
    pub fn start(
        pool: PgPool,
        hub: Arc<Hub>,
        engine: Arc<Engine>,
        config: JobsConfig,
        id: String,
    ) -> Arc<Worker> {
        let worker = Arc::new(Worker {
            id,
            pool,
            hub,
            engine,
            permits: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1) as usize)),
            config,
            stopping: CancellationToken::new(),
            running: Mutex::new(HashMap::new()),
            idle: tokio::sync::Notify::new(),
        });
        tokio::spawn(worker.clone().claim_loop());
        tokio::spawn(worker.clone().cancel_loop());
        worker
    }

    /// This worker's id, as written to the jobs it claims.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sessions running here now.
    pub fn running(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Stop claiming and hand every running job back to the queue; waits (at most 15 s)
    /// until they are handed back.
    pub async fn shutdown(&self) {
        self.stopping.cancel();
        let wait = async {
            while self.running() > 0 {
                let idle = self.idle.notified();
                if self.running() == 0 {
                    break;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(15), wait)
            .await
            .is_err()
        {
            tracing::warn!(
                running = self.running(),
                "research runs did not stop in time; their jobs are taken over once their heartbeat goes stale"
            );
        }
    }

    async fn claim_loop(self: Arc<Worker>) {
        loop {
            let permit = tokio::select! {
                _ = self.stopping.cancelled() => return,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let claimed = match self.pool.get().await {
                Ok(mut conn) => jobs::claim(&mut conn, &self.id)
                    .await
                    .map_err(DbError::from),
                Err(e) => Err(e),
            };
            match claimed {
                Ok(Some(job)) => {
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.run_job(job).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = self.stopping.cancelled() => return,
                        _ = self.hub.job_queued() => {}
                        _ = tokio::time::sleep(self.config.poll_interval()) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "cannot claim research jobs");
                    tokio::select! {
                        _ = self.stopping.cancelled() => return,
                        _ = tokio::time::sleep(self.config.poll_interval()) => {}
                    }
                }
            }
        }
    }

    async fn cancel_loop(self: Arc<Worker>) {
        let mut cancels = self.hub.cancels();
        loop {
            let session = tokio::select! {
                _ = self.stopping.cancelled() => return,
                next = cancels.recv() => match next {
                    Ok(s) => s,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            };
            if let Ok(running) = self.running.lock() {
                if let Some(token) = running.get(&session) {
                    token.cancel();
                }
            }
        }
    }

    async fn run_job(self: Arc<Worker>, job: Job) {
        use futures::FutureExt as _;
        let session = job.research_session_id;
        let cancel = CancellationToken::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(session.0, cancel.clone());
        }
        // The engine turns its own panics into failed runs; this catches a bug anywhere else
        // in the job (persistence, say), so the job still ends and its slot is freed.
        let result = std::panic::AssertUnwindSafe(self.execute(&job, cancel))
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| {
                Err(JobFailure::Panicked(crate::research::run::panic_message(
                    payload.as_ref(),
                )))
            });
        if let Err(e) = result {
            tracing::error!(job = %job.id, session = %session, error = %e, "research job failed");
            let message = e.to_string();
            match self.pool.get().await {
                Ok(mut conn) => {
                    if let Err(e) = fail_job(&mut conn, &job, &self.id, e.code(), &message).await {
                        tracing::warn!(job = %job.id, error = %e, "could not record the job's failure; the stale-job sweep will end it");
                    }
                }
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "could not record the job's failure; the stale-job sweep will end it")
                }
            }
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&session.0);
        }
        self.idle.notify_waiters();
    }

    /// Run one claimed job to its end (or until it is no longer ours).
    async fn execute(&self, job: &Job, cancel: CancellationToken) -> Result<(), JobFailure> {
        let session_id = job.research_session_id;
        let Some(request) = job.request() else {
            return Err(JobFailure::Unreadable);
        };
        let (session, history, first_sequence) = {
            let mut conn = self.pool.get().await?;
            let Some(session) = sessions::get(&mut conn, session_id).await? else {
                // Deleted with its chat while queued: nothing to do.
                jobs::finish(
                    &mut conn,
                    job.id,
                    &self.id,
                    JobStatus::Cancelled,
                    Some("deleted"),
                )
                .await?;
                return Ok(());
            };
            let answer = messages::find_for_user(&mut conn, session.message_id, &job.user_id)
                .await?
                .ok_or(JobFailure::ChatDeleted)?;
            let mut earlier = messages::history_before(
                &mut conn,
                session.chat_id,
                answer.created_at,
                HISTORY_LIMIT + 1,
            )
            .await?;
            // The question itself is the request, not history.
            if earlier
                .last()
                .is_some_and(|m| messages::Role::parse(&m.role) == Some(messages::Role::User))
            {
                earlier.pop();
            }
            let first = events::last_sequence(&mut conn, session_id).await? + 1;
            (session, runs::conversation(earlier), first)
        };

        let tracker = Arc::new(Tracker::default());
        let run = RunRequest {
            query: request.query.clone(),
            mode: parse_mode(&request),
            depth: parse_depth(&request),
            // Never stop to ask: the original researches a job's question as written (its
            // frontend has no way to show clarifying questions).
            clarification_rounds: None,
            history,
            message_id: session.message_id.0,
            session_id: session_id.0,
            cancel,
            verify: Some(request.verify_sources),
            user: Some(job.user_id.clone()),
            chat_id: Some(session.chat_id.0),
            ..RunRequest::new(request.query.clone())
        };
        let saved = SavedRun {
            chat_id: session.chat_id,
            user_message_id: MessageId::default(),
            agent_message_id: session.message_id,
            session_id,
        };
        let heartbeat = Arc::new(JobHeartbeat {
            pool: self.pool.clone(),
            job: job.id,
            session: session_id,
            worker: self.id.clone(),
            every: self.config.heartbeat_interval(),
            tracker: tracker.clone(),
        });
        let engine = &self.engine;
        let runner = Runner {
            services: Services {
                llm: engine.llm.as_ref(),
                search: engine.search.as_ref(),
                fetcher: engine.fetcher.as_ref(),
                tools: engine.tools.as_ref(),
                config: engine.config.as_ref(),
            },
        };
        let ended = runner
            .run(Run {
                sinks: vec![Box::new(tracker)],
                first_sequence: i64::from(first_sequence),
                record: Some(Box::new(SessionRecord::new(
                    self.pool.clone(),
                    saved,
                    false,
                ))),
                heartbeat: Some(heartbeat),
                abandon: self.stopping.clone(),
                ..Run::new(run)
            })
            .await
            .map_err(|RunnerError::Panicked(m)| JobFailure::Panicked(m))?;
        let (outcome, ending, kept) = match ended {
            RunEnd::Abandoned { lost } => {
                let mut conn = self.pool.get().await?;
                if !lost && jobs::release(&mut conn, job.id, &self.id).await? {
                    tracing::info!(job = %job.id, session = %session_id, "research handed back to the queue");
                }
                return Ok(());
            }
            RunEnd::Ended(ended) => (ended.outcome, ended.ending, ended.kept),
        };
        if let Some(kept) = kept {
            if let Err(e) = kept.closed.events {
                tracing::warn!(session = %session_id, error = %e, "some research events were not stored");
            }
            kept.stored?;
            kept.closed.ended.transpose()?;
        }
        let status = match ending {
            Ending::Completed => JobStatus::Completed,
            Ending::Cancelled => JobStatus::Cancelled,
            Ending::Failed => JobStatus::Failed,
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        let mut conn = self.pool.get().await?;
        jobs::finish(&mut conn, job.id, &self.id, status, error.as_deref()).await?;
        Ok(())
    }
}

/// Why a job could not run to a normal end.
#[derive(Debug, thiserror::Error)]
enum JobFailure {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the job's stored request is unreadable")]
    Unreadable,
    #[error("the chat of this research was deleted")]
    ChatDeleted,
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("internal error: the research job stopped at a bug ({0}); please report it")]
    Panicked(String),
}

impl From<diesel::result::Error> for JobFailure {
    fn from(e: diesel::result::Error) -> JobFailure {
        JobFailure::Db(e.into())
    }
}

impl JobFailure {
    fn code(&self) -> &'static str {
        match self {
            JobFailure::Panicked(_) => "INTERNAL_ERROR",
            _ => "JOB_FAILED",
        }
    }
}

/// End a job this worker could not finish normally: the job and its session `failed`,
/// with a final `error` event so its stream says why and closes.
async fn fail_job(
    conn: &mut diesel_async::AsyncPgConnection,
    job: &Job,
    worker: &str,
    code: &str,
    message: &str,
) -> Result<(), DbError> {
    if jobs::finish(conn, job.id, worker, JobStatus::Failed, Some(message)).await? {
        jobs::end_session(
            conn,
            job.research_session_id,
            JobStatus::Failed.as_str(),
            code,
            message,
        )
        .await?;
    }
    Ok(())
}

/// Keeps the job ours: heartbeat, progress, cancel flag.
struct JobHeartbeat {
    pool: PgPool,
    job: Uuid,
    session: SessionId,
    worker: String,
    every: Duration,
    tracker: Arc<Tracker>,
}

impl Heartbeat for JobHeartbeat {
    fn every(&self) -> Duration {
        self.every
    }

    fn beat(&self) -> Pending<'_, Beat> {
        Box::pin(async move {
            let job = self.job;
            let progress = self.tracker.progress();
            let beat = match self.pool.get().await {
                Ok(mut conn) => jobs::heartbeat(&mut conn, job, &self.worker, &progress)
                    .await
                    .map_err(DbError::from),
                Err(e) => Err(e),
            };
            match beat {
                Ok(Some(true)) => Beat::Cancel,
                Ok(Some(false)) => Beat::Alive,
                Ok(None) => {
                    tracing::warn!(%job, "research job was taken over by another process; stopping this run");
                    Beat::Lost
                }
                // A database blip: the next beat tries again; a long outage makes the job
                // stale and another process (or this one) takes it over.
                Err(e) => {
                    tracing::warn!(%job, error = %e, "research heartbeat failed");
                    Beat::Alive
                }
            }
        })
    }

    /// The cancel flag, which this worker may not have read yet (a failed read is no).
    fn cancel_asked(&self) -> Pending<'_, bool> {
        Box::pin(async move {
            match self.pool.get().await {
                Ok(mut conn) => jobs::cancel_requested(&mut conn, self.session)
                    .await
                    .unwrap_or(false),
                Err(_) => false,
            }
        })
    }
}

/// Follows a run's events for its heartbeat: the plan and the current step.
#[derive(Default)]
struct Tracker {
    progress: Mutex<Progress>,
}

impl Tracker {
    fn progress(&self) -> Progress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl EventSink for Tracker {
    fn emit(&self, envelope: &EventEnvelope) {
        let Ok(mut progress) = self.progress.lock() else {
            return;
        };
        match &envelope.payload.event {
            ResearchEvent::PlanCreated {
                title,
                thought,
                steps,
                plan_id,
                iteration,
            } => {
                progress.plan = Some(serde_json::json!({
                    "id": plan_id,
                    "title": title,
                    "thought": thought,
                    "steps": steps,
                    "iteration": iteration,
                }));
            }
            ResearchEvent::StepStarted { step_index, .. } => {
                progress.current_step = i32::try_from(*step_index).ok();
            }
            _ => {}
        }
    }
}

fn parse_mode(request: &JobRequest) -> Option<QueryMode> {
    match request.query_mode.as_str() {
        "simple" => Some(QueryMode::Simple),
        "web_search" => Some(QueryMode::WebSearch),
        "deep_research" => Some(QueryMode::DeepResearch),
        _ => None,
    }
}

fn parse_depth(request: &JobRequest) -> Depth {
    match request.research_depth.as_str() {
        "light" => Depth::Light,
        "medium" => Depth::Medium,
        "extended" => Depth::Extended,
        _ => Depth::Auto,
    }
}
