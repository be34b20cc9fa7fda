//! `research_sessions`: one per agent answer, from `in_progress` to a final status.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ChatId, MessageId, SessionId};
use crate::db::schema::research_sessions;

/// `research_sessions.status`: the original's lifecycle values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Pending,
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

impl SessionStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::InProgress => "in_progress",
            SessionStatus::Completed => "completed",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Failed => "failed",
        }
    }
}

/// A session as stored (the columns a reader of a run needs).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = research_sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    #[diesel(deserialize_as = uuid::Uuid)]
    pub id: SessionId,
    #[diesel(deserialize_as = uuid::Uuid)]
    pub message_id: MessageId,
    #[diesel(deserialize_as = uuid::Uuid)]
    pub chat_id: ChatId,
    pub user_id: String,
    pub query: String,
    pub status: String,
    pub query_mode: String,
    pub research_depth: String,
    pub plan: Option<serde_json::Value>,
    pub plan_iterations: i32,
    pub current_step_index: Option<i32>,
    pub execution_state: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub verify_sources: bool,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Still running (or queued): not completed, failed or cancelled.
    pub fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "pending" | "in_progress")
    }

    /// Steps in the stored plan, when there is one.
    pub fn total_steps(&self) -> Option<i32> {
        let steps = self.plan.as_ref()?.get("steps")?.as_array()?;
        i32::try_from(steps.len()).ok()
    }
}

/// A session to start, `in_progress`.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: SessionId,
    /// The agent message this session answers with.
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub user_id: &'a str,
    pub query: &'a str,
    /// simple, web_search, deep_research: as requested (deep_research when the
    /// coordinator will decide); corrected by [`finish`].
    pub query_mode: &'a str,
    /// auto, light, medium, extended.
    pub research_depth: &'a str,
    pub verify_sources: bool,
}

/// Insert a session in `in_progress`.
pub async fn insert(conn: &mut AsyncPgConnection, s: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(research_sessions::table)
        .values((
            research_sessions::id.eq(s.id.0),
            research_sessions::message_id.eq(s.message_id.0),
            research_sessions::chat_id.eq(s.chat_id.0),
            research_sessions::user_id.eq(s.user_id),
            research_sessions::query.eq(s.query),
            research_sessions::status.eq(SessionStatus::InProgress.as_str()),
            research_sessions::query_mode.eq(s.query_mode),
            research_sessions::research_depth.eq(s.research_depth),
            research_sessions::verify_sources.eq(s.verify_sources),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// How a session ended. `None` fields leave their column as it is (a failed run may have
/// no plan).
#[derive(Debug, Clone)]
pub struct SessionEnd {
    /// Completed, failed or cancelled.
    pub status: SessionStatus,
    pub completed_at: DateTime<Utc>,
    pub error_message: Option<String>,
    /// The mode and depth the run actually used.
    pub query_mode: Option<String>,
    pub research_depth: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub plan_iterations: Option<i32>,
    /// Steps executed: the original's index of the next step when the run stopped.
    pub current_step_index: Option<i32>,
    /// The run's counters (steps skipped, citations dropped, duration), for readers.
    pub execution_state: Option<serde_json::Value>,
}

impl SessionEnd {
    /// An end with this status now, changing nothing else.
    pub fn new(status: SessionStatus) -> SessionEnd {
        SessionEnd {
            status,
            completed_at: Utc::now(),
            error_message: None,
            query_mode: None,
            research_depth: None,
            plan: None,
            plan_iterations: None,
            current_step_index: None,
            execution_state: None,
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = research_sessions)]
struct EndChanges<'a> {
    status: &'a str,
    completed_at: DateTime<Utc>,
    error_message: Option<&'a str>,
    query_mode: Option<&'a str>,
    research_depth: Option<&'a str>,
    plan: Option<&'a serde_json::Value>,
    plan_iterations: Option<i32>,
    current_step_index: Option<i32>,
    execution_state: Option<&'a serde_json::Value>,
}

/// Record how a session ended.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    end: &SessionEnd,
) -> QueryResult<()> {
    let changes = EndChanges {
        status: end.status.as_str(),
        completed_at: end.completed_at,
        error_message: end.error_message.as_deref(),
        query_mode: end.query_mode.as_deref(),
        research_depth: end.research_depth.as_deref(),
        plan: end.plan.as_ref(),
        plan_iterations: end.plan_iterations,
        current_step_index: end.current_step_index,
        execution_state: end.execution_state.as_ref(),
    };
    diesel::update(research_sessions::table.filter(research_sessions::id.eq(id.0)))
        .set(changes)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One session by id.
pub async fn get(conn: &mut AsyncPgConnection, id: SessionId) -> QueryResult<Option<Session>> {
    research_sessions::table
        .filter(research_sessions::id.eq(id.0))
        .select(Session::as_select())
        .first(conn)
        .await
        .optional()
}

/// Session `id` if it is `user_id`'s and its chat is not deleted; another user's is
/// `None` too.
pub async fn get_for_user(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user_id: &str,
) -> QueryResult<Option<Session>> {
    use crate::db::schema::chats;
    research_sessions::table
        .inner_join(chats::table.on(chats::id.eq(research_sessions::chat_id)))
        .filter(research_sessions::id.eq(id.0))
        .filter(research_sessions::user_id.eq(user_id.to_string()))
        .filter(chats::deleted_at.is_null())
        .select(Session::as_select())
        .first(conn)
        .await
        .optional()
}

/// `user_id`'s sessions, newest first, optionally only those with `status`.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Session>> {
    let mut query = research_sessions::table
        .filter(research_sessions::user_id.eq(user_id.to_string()))
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(research_sessions::status.eq(status.to_string()));
    }
    query
        .order((
            research_sessions::created_at.desc(),
            research_sessions::id.desc(),
        ))
        .limit(limit)
        .select(Session::as_select())
        .load(conn)
        .await
}

/// The newest session of `chat`, whatever its status (the caller checked the chat).
pub async fn latest_for_chat(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
) -> QueryResult<Option<Session>> {
    research_sessions::table
        .filter(research_sessions::chat_id.eq(chat.0))
        .order(research_sessions::created_at.desc())
        .select(Session::as_select())
        .first(conn)
        .await
        .optional()
}

/// The newest session of `chat` still running, if any (the caller checked the chat). A
/// session whose job was asked to stop is not: the original ends a cancelled job at once,
/// so its frontend sends the next question right after Stop, before our worker has
/// wound the run down.
pub async fn active_for_chat(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
) -> QueryResult<Option<Session>> {
    let stopping = crate::db::schema::research_jobs::table
        .filter(crate::db::schema::research_jobs::chat_id.eq(chat.0))
        .filter(crate::db::schema::research_jobs::cancel_requested.eq(true))
        .select(crate::db::schema::research_jobs::research_session_id);
    research_sessions::table
        .filter(research_sessions::chat_id.eq(chat.0))
        .filter(research_sessions::status.eq_any(["pending", "in_progress"]))
        .filter(research_sessions::id.ne_all(stopping))
        .order(research_sessions::created_at.desc())
        .select(Session::as_select())
        .first(conn)
        .await
        .optional()
}

/// Mark a session still running as alive, held by `holder` (a `dra research` process runs
/// it without a job row). `false` when the session has already ended.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    holder: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        research_sessions::table
            .filter(research_sessions::id.eq(id.0))
            .filter(research_sessions::status.eq(SessionStatus::InProgress.as_str())),
    )
    .set((
        research_sessions::last_heartbeat.eq(diesel::dsl::now),
        research_sessions::worker_id.eq(holder),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Why a session whose `dra research` process died was ended.
pub const ABANDONED_MESSAGE: &str =
    "the dra research process running this research stopped responding (killed or crashed)";

/// Sessions still running with no job behind them (`dra research` runs) whose heartbeat
/// (or, for runs that never beat, their start) is older than `stale_after`: their process
/// died, so they are ended `failed` with a final `error` event. Jobs' sessions are the
/// job sweep's business.
pub async fn sweep_abandoned(
    conn: &mut AsyncPgConnection,
    stale_after: std::time::Duration,
) -> QueryResult<Vec<SessionId>> {
    use diesel::sql_types::{Interval, Uuid as SqlUuid};
    use diesel_async::AsyncConnection;

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: uuid::Uuid,
    }
    let interval = diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(stale_after.as_micros()).unwrap_or(i64::MAX),
    );
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT s.id FROM research_sessions s \
             WHERE s.status IN ('pending', 'in_progress') \
               AND coalesce(s.last_heartbeat, s.started_at) < now() - $1 \
               AND NOT EXISTS (SELECT 1 FROM research_jobs j WHERE j.research_session_id = s.id) \
             FOR UPDATE OF s SKIP LOCKED",
        )
        .bind::<Interval, _>(interval)
        .load(conn)
        .await?;
        for row in &rows {
            super::jobs::end_session(
                conn,
                SessionId(row.id),
                SessionStatus::Failed.as_str(),
                "WORKER_LOST",
                ABANDONED_MESSAGE,
            )
            .await?;
        }
        Ok(rows.into_iter().map(|r| SessionId(r.id)).collect())
    })
    .await
}
