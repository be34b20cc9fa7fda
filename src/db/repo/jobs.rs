//! `research_jobs`: the durable queue of server research runs.
//!
//! A job is `queued` until a worker claims it (`FOR UPDATE SKIP LOCKED`, so two processes
//! never claim the same one), `running` while its worker keeps `heartbeat_at` fresh, and
//! ends `completed`, `failed` or `cancelled`. A running job whose heartbeat went stale
//! (its process died) is queued again by [`sweep_stale`], or failed once it has used its
//! attempts. The session row (`research_sessions`) carries what the API shows; this table
//! carries who runs it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Interval, Jsonb, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::{ChatId, SessionId};
use crate::db::schema::research_jobs;

/// `research_jobs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// What was asked, stored with the job so any worker can run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    pub query: String,
    /// simple, web_search, deep_research.
    pub query_mode: String,
    /// auto, light, medium, extended.
    pub research_depth: String,
    pub verify_sources: bool,
}

/// A job as stored.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = research_jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: uuid::Uuid,
    #[diesel(deserialize_as = uuid::Uuid)]
    pub research_session_id: SessionId,
    #[diesel(deserialize_as = uuid::Uuid)]
    pub chat_id: ChatId,
    pub user_id: String,
    pub status: String,
    pub request: serde_json::Value,
    pub worker_id: Option<String>,
    pub attempts: i32,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    /// The stored request; `None` if the row was written by something else.
    pub fn request(&self) -> Option<JobRequest> {
        serde_json::from_value(self.request.clone()).ok()
    }
}

/// Queue a job for `session`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    chat: ChatId,
    user_id: &str,
    request: &JobRequest,
) -> QueryResult<uuid::Uuid> {
    let request = serde_json::to_value(request)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(research_jobs::table)
        .values((
            research_jobs::research_session_id.eq(session.0),
            research_jobs::chat_id.eq(chat.0),
            research_jobs::user_id.eq(user_id),
            research_jobs::request.eq(request),
        ))
        .returning(research_jobs::id)
        .get_result(conn)
        .await
}

/// Claim the oldest queued job for `worker`, or `None` when there is none. Rows other
/// workers are claiming at the same moment are skipped, not waited for.
pub async fn claim(conn: &mut AsyncPgConnection, worker: &str) -> QueryResult<Option<Job>> {
    diesel::sql_query(
        "UPDATE research_jobs SET status = 'running', worker_id = $1, attempts = attempts + 1, \
                started_at = coalesce(started_at, now()), heartbeat_at = now() \
         WHERE id = (SELECT id FROM research_jobs WHERE status = 'queued' \
                     ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING *",
    )
    .bind::<Text, _>(worker)
    .get_result::<Job>(conn)
    .await
    .optional()
}

/// Job `job` while `worker` runs it: what a worker may update (once another process has
/// taken the job over, its updates match nothing).
fn running_for(
    job: uuid::Uuid,
    worker: &str,
) -> Box<
    dyn BoxableExpression<research_jobs::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>,
> {
    Box::new(
        research_jobs::id
            .eq(job)
            .and(
                research_jobs::worker_id
                    .eq(worker.to_string())
                    .assume_not_null(),
            )
            .and(research_jobs::status.eq(JobStatus::Running.as_str())),
    )
}

/// Refresh a running job's heartbeat (and its session's, which the original's readers
/// look at). Returns whether cancellation was requested, or `None` when the job is no
/// longer this worker's (it was taken over or ended): the run must stop.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    job: uuid::Uuid,
    worker: &str,
    progress: &Progress,
) -> QueryResult<Option<bool>> {
    let cancel: Option<bool> =
        diesel::update(research_jobs::table.filter(running_for(job, worker)))
            .set(research_jobs::heartbeat_at.eq(diesel::dsl::now))
            .returning(research_jobs::cancel_requested)
            .get_result(conn)
            .await
            .optional()?;
    if cancel.is_some() {
        diesel::sql_query(
            "UPDATE research_sessions SET worker_id = $2, last_heartbeat = now(), \
                    current_step_index = coalesce($3, current_step_index), \
                    plan = coalesce($4, plan) \
             WHERE id = (SELECT research_session_id FROM research_jobs WHERE id = $1) \
               AND status = 'in_progress'",
        )
        .bind::<SqlUuid, _>(job)
        .bind::<Text, _>(worker)
        .bind::<diesel::sql_types::Nullable<Integer>, _>(progress.current_step)
        .bind::<diesel::sql_types::Nullable<Jsonb>, _>(progress.plan.as_ref())
        .execute(conn)
        .await?;
    }
    Ok(cancel)
}

/// What a running job has got to, written with each heartbeat so the API can show it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub current_step: Option<i32>,
    /// The latest plan, as the `plan_created` event carried it.
    pub plan: Option<serde_json::Value>,
}

/// End a job this worker runs. `false` when it is no longer this worker's.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    job: uuid::Uuid,
    worker: &str,
    status: JobStatus,
    error: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::update(research_jobs::table.filter(running_for(job, worker)))
        .set((
            research_jobs::status.eq(status.as_str()),
            research_jobs::error_message.eq(error),
            research_jobs::finished_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Give a running job back to the queue (its process is shutting down); the attempt does
/// not count against it.
pub async fn release(
    conn: &mut AsyncPgConnection,
    job: uuid::Uuid,
    worker: &str,
) -> QueryResult<bool> {
    let n = diesel::update(research_jobs::table.filter(running_for(job, worker)))
        .set((
            research_jobs::status.eq(JobStatus::Queued.as_str()),
            research_jobs::worker_id.eq(None::<String>),
            research_jobs::heartbeat_at.eq(None::<DateTime<Utc>>),
            research_jobs::attempts.eq(diesel::dsl::sql::<Integer>("greatest(attempts - 1, 0)")),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// A stale job and what [`sweep_stale`] did with it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Swept {
    #[diesel(sql_type = SqlUuid)]
    pub id: uuid::Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub research_session_id: uuid::Uuid,
    /// queued (taken over by the next claim), failed or cancelled.
    #[diesel(sql_type = Text)]
    pub status: String,
}

/// Why a job whose process died was ended rather than run again.
pub const DIED_MESSAGE: &str =
    "the server running this research stopped responding and it had no attempts left";

/// Running jobs whose heartbeat is older than `stale_after`: queued again while they have
/// attempts left, else failed (cancelled when that was asked for). Ended ones get their
/// session ended too, with a final `error` event so a stream says why.
pub async fn sweep_stale(
    conn: &mut AsyncPgConnection,
    stale_after: std::time::Duration,
    max_attempts: i32,
) -> QueryResult<Vec<Swept>> {
    use diesel_async::AsyncConnection;
    let interval = diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(stale_after.as_micros()).unwrap_or(i64::MAX),
    );
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let swept: Vec<Swept> = diesel::sql_query(
            "UPDATE research_jobs SET \
                status = CASE WHEN cancel_requested THEN 'cancelled' \
                              WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, \
                error_message = CASE WHEN cancel_requested OR attempts < $2 THEN error_message \
                                     ELSE $3 END, \
                finished_at = CASE WHEN cancel_requested OR attempts >= $2 THEN now() END, \
                worker_id = NULL, heartbeat_at = NULL \
             WHERE id IN (SELECT id FROM research_jobs WHERE status = 'running' \
                          AND heartbeat_at < now() - $1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, research_session_id, status",
        )
        .bind::<Interval, _>(interval)
        .bind::<Integer, _>(max_attempts)
        .bind::<Text, _>(DIED_MESSAGE)
        .load(conn)
        .await?;
        for s in swept
            .iter()
            .filter(|s| s.status != JobStatus::Queued.as_str())
        {
            let (code, message) = if s.status == JobStatus::Cancelled.as_str() {
                ("CANCELLED", "research was cancelled")
            } else {
                ("WORKER_LOST", DIED_MESSAGE)
            };
            end_session(
                conn,
                SessionId(s.research_session_id),
                &s.status,
                code,
                message,
            )
            .await?;
        }
        Ok(swept)
    })
    .await
}

/// End a session that no worker will finish: the status and, unless it was cancelled, a
/// final `error` event (numbered after the last stored one), so streams say why and then
/// close. A cancelled session gets no event: the original ends a cancelled run with its
/// status alone, and its frontend shows any `error` event as a failure. A session that
/// has already ended is left as it is.
pub async fn end_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    status: &str,
    code: &str,
    message: &str,
) -> QueryResult<()> {
    let ended = diesel::sql_query(
        "UPDATE research_sessions SET status = $2, completed_at = now(), \
                error_message = coalesce(error_message, $3) \
         WHERE id = $1 AND status IN ('pending', 'in_progress')",
    )
    .bind::<SqlUuid, _>(session.0)
    .bind::<Text, _>(status)
    .bind::<Text, _>(message)
    .execute(conn)
    .await?;
    if ended == 0 || status == JobStatus::Cancelled.as_str() {
        return Ok(());
    }
    let payload = serde_json::json!({
        "eventType": "error",
        "errorCode": code,
        "errorMessage": message,
        "recoverable": false,
        "timestamp": Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
    });
    diesel::sql_query(
        "INSERT INTO research_events (research_session_id, event_type, payload, sequence_number) \
         SELECT $1, 'error', $2, coalesce(max(sequence_number), 0) + 1 \
         FROM research_events WHERE research_session_id = $1",
    )
    .bind::<SqlUuid, _>(session.0)
    .bind::<Jsonb, _>(payload)
    .execute(conn)
    .await?;
    Ok(())
}

/// What asking to cancel a session's research did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It had not started: it is cancelled now.
    Cancelled,
    /// Its worker was told; it stops within a heartbeat and keeps what it gathered.
    Requested,
    /// It had already ended (the status it ended with is the session's).
    AlreadyEnded,
}

/// Ask to cancel the job of `session` (the caller checked the session is the user's).
pub async fn request_cancel(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<CancelOutcome> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let queued = diesel::update(
            research_jobs::table
                .filter(research_jobs::research_session_id.eq(session.0))
                .filter(research_jobs::status.eq(JobStatus::Queued.as_str())),
        )
        .set((
            research_jobs::status.eq(JobStatus::Cancelled.as_str()),
            research_jobs::cancel_requested.eq(true),
            research_jobs::finished_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
        if queued > 0 {
            end_session(
                conn,
                session,
                "cancelled",
                "CANCELLED",
                "research was cancelled before it started",
            )
            .await?;
            return Ok(CancelOutcome::Cancelled);
        }
        let running = diesel::update(
            research_jobs::table
                .filter(research_jobs::research_session_id.eq(session.0))
                .filter(research_jobs::status.eq(JobStatus::Running.as_str())),
        )
        .set(research_jobs::cancel_requested.eq(true))
        .execute(conn)
        .await?;
        Ok(if running > 0 {
            CancelOutcome::Requested
        } else {
            CancelOutcome::AlreadyEnded
        })
    })
    .await
}

/// Whether cancellation of `session`'s running job was asked for.
pub async fn cancel_requested(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<bool> {
    research_jobs::table
        .filter(research_jobs::research_session_id.eq(session.0))
        .filter(research_jobs::cancel_requested.eq(true))
        .count()
        .get_result::<i64>(conn)
        .await
        .map(|n| n > 0)
}

/// How many of `user_id`'s jobs are queued or running.
pub async fn active_count(conn: &mut AsyncPgConnection, user_id: &str) -> QueryResult<i64> {
    research_jobs::table
        .filter(research_jobs::user_id.eq(user_id))
        .filter(
            research_jobs::status.eq_any([JobStatus::Queued.as_str(), JobStatus::Running.as_str()]),
        )
        .count()
        .get_result(conn)
        .await
}

/// The job of `session`.
pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<Option<Job>> {
    research_jobs::table
        .filter(research_jobs::research_session_id.eq(session.0))
        .order(research_jobs::created_at.desc())
        .select(Job::as_select())
        .first(conn)
        .await
        .optional()
}
