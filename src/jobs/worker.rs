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
use crate::config::AppConfig;
use crate::db::event_log::{EventLog, DEFAULT_CAPACITY};
use crate::db::repo::jobs::{self, Job, JobRequest, JobStatus, Progress};
use crate::db::repo::{events, messages, sessions, MessageId, SessionId};
use crate::db::runs::{self, Announce, Finish, SavedRun, HISTORY_LIMIT};
use crate::db::{DbError, PgPool};
use crate::llm::LlmRouter;
use crate::research::agents::QueryMode;
use crate::research::config::Depth;
use crate::research::event::{EventEnvelope, ResearchEvent};
use crate::research::run::{run as run_research, RunRequest, Services};
use crate::research::sink::{EventBus, EventSink};
use crate::search::SearchProvider;
use crate::web::Fetcher;

/// What runs research: the same services `dra research` uses.
pub struct Engine {
    pub llm: Arc<LlmRouter>,
    pub search: Arc<dyn SearchProvider>,
    pub fetcher: Arc<Fetcher>,
    pub config: Arc<AppConfig>,
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

        let log = Arc::new(EventLog::start(
            self.pool.clone(),
            session_id,
            DEFAULT_CAPACITY,
        ));
        let tracker = Arc::new(Tracker::default());
        let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(log.clone()), Box::new(tracker.clone())];
        let bus = Arc::new(EventBus::starting_at(i64::from(first_sequence), sinks));
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
            cancel: cancel.clone(),
            verify: Some(request.verify_sources),
            user: Some(job.user_id.clone()),
            ..RunRequest::new(request.query.clone())
        };

        let lost = CancellationToken::new();
        // Aborted however this function ends (a panic included): a dead run must not keep
        // a live heartbeat, or its job would never be swept.
        let heartbeat = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(heartbeat(
            self.pool.clone(),
            job.id,
            self.id.clone(),
            self.config.heartbeat_interval(),
            tracker.clone(),
            cancel.clone(),
            lost.clone(),
        )));
        let engine = &self.engine;
        let services = Services {
            llm: engine.llm.as_ref(),
            search: engine.search.as_ref(),
            fetcher: engine.fetcher.as_ref(),
            config: engine.config.as_ref(),
        };
        // Boxed so the run's future is checked for `Send` with concrete lifetimes (the
        // worker spawns it).
        let research: futures::future::BoxFuture<'_, _> =
            Box::pin(run_research(&run, &services, &bus));
        let outcome = tokio::select! {
            outcome = research => Some(outcome),
            _ = lost.cancelled() => None,
            _ = self.stopping.cancelled() => None,
        };
        heartbeat.abort();
        let Some(outcome) = outcome else {
            drop(bus);
            close_log(&log, session_id).await;
            let mut conn = self.pool.get().await?;
            if !lost.is_cancelled() && jobs::release(&mut conn, job.id, &self.id).await? {
                tracing::info!(job = %job.id, session = %session_id, "research handed back to the queue");
            }
            return Ok(());
        };
        let mut finish = Finish::from_outcome(&outcome);
        // Asked to stop (here, or by a flag this worker has not read yet): the job ends
        // cancelled whatever the run got to, as the cancel request was told.
        if cancel.is_cancelled() || self.cancel_requested(session_id).await {
            finish.mark_cancelled();
        }
        let saved = SavedRun {
            chat_id: session.chat_id,
            user_message_id: MessageId::default(),
            agent_message_id: session.message_id,
            session_id,
        };
        let stored = runs::store(&self.pool, &saved, &finish).await;
        // The original's announcement of a saved answer (its frontend's cue to leave a
        // draft chat and reload the messages), stored and streamed before the session
        // ends, and the stream with it.
        let about = Announce {
            query: &request.query,
            requested_mode: parse_mode(&request),
            created_chat: false,
        };
        if let Some(event) = stored
            .as_ref()
            .ok()
            .and_then(|stored| finish.persisted_event(&saved, *stored, about))
        {
            bus.emit(event);
        }
        drop(bus);
        close_log(&log, session_id).await;
        stored?;
        runs::end(&self.pool, &saved, &finish).await?;
        let status = match finish.session.status {
            sessions::SessionStatus::Completed => JobStatus::Completed,
            sessions::SessionStatus::Cancelled => JobStatus::Cancelled,
            _ => JobStatus::Failed,
        };
        let mut conn = self.pool.get().await?;
        jobs::finish(
            &mut conn,
            job.id,
            &self.id,
            status,
            finish.session.error_message.as_deref(),
        )
        .await?;
        Ok(())
    }

    /// Whether `session`'s cancel flag is set (a failed read counts as no).
    async fn cancel_requested(&self, session: SessionId) -> bool {
        match self.pool.get().await {
            Ok(mut conn) => jobs::cancel_requested(&mut conn, session)
                .await
                .unwrap_or(false),
            Err(_) => false,
        }
    }
}

/// Wait (at most 10 s) until the run's events are stored; a shortfall is a warning.
async fn close_log(log: &EventLog, session: SessionId) {
    let closed = tokio::time::timeout(Duration::from_secs(10), log.close())
        .await
        .unwrap_or_else(|_| {
            Err(crate::db::event_log::EventLogError {
                total: 0,
                unsaved: 0,
                cause: "timed out writing the last events".into(),
            })
        });
    if let Err(e) = closed {
        tracing::warn!(%session, error = %e, "some research events were not stored");
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

/// Keep the job ours: heartbeat, progress, cancel flag. Cancels `lost` when the job is no
/// longer this worker's.
async fn heartbeat(
    pool: PgPool,
    job: Uuid,
    worker: String,
    every: Duration,
    tracker: Arc<Tracker>,
    cancel: CancellationToken,
    lost: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let progress = tracker.progress();
        let beat = match pool.get().await {
            Ok(mut conn) => jobs::heartbeat(&mut conn, job, &worker, &progress)
                .await
                .map_err(DbError::from),
            Err(e) => Err(e),
        };
        match beat {
            Ok(Some(true)) => cancel.cancel(),
            Ok(Some(false)) => {}
            Ok(None) => {
                tracing::warn!(%job, "research job was taken over by another process; stopping this run");
                lost.cancel();
                return;
            }
            // A database blip: the next beat tries again; a long outage makes the job
            // stale and another process (or this one) takes it over.
            Err(e) => tracing::warn!(%job, error = %e, "research heartbeat failed"),
        }
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
