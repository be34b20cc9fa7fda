//! Turning a request into rows and a queued job, in one transaction: a new question, an
//! answer regenerated for an earlier question, or an edited question run again.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;

use super::JobsConfig;
use crate::db::repo::jobs::{self, JobRequest};
use crate::db::repo::messages::{self, Role};
use crate::db::repo::{chats, sessions, ChatId, MessageId, SessionId};
use crate::db::runs::{self, RunStart};
use crate::db::{DbError, PgPool};

/// The rows a submitted job runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    pub chat_id: ChatId,
    pub user_message_id: MessageId,
    pub agent_message_id: MessageId,
    pub session_id: SessionId,
    pub job_id: uuid::Uuid,
}

/// Why a job was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Unknown, deleted or another user's chat or message (which, is not said).
    #[error("not found")]
    NotFound,
    #[error("at most {limit} research jobs may run at once per user; wait for one to finish or cancel it")]
    TooManyJobs { limit: u32 },
    #[error(
        "research is already in progress in this chat (session {0}); wait for it or cancel it"
    )]
    InProgress(SessionId),
    /// Only the user's own questions can be edited.
    #[error("only questions (user messages) can be edited")]
    NotAQuestion,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SubmitError {
    fn from(e: diesel::result::Error) -> Self {
        SubmitError::Db(DbError::Query(e))
    }
}

/// Research `request.query` in `chat` as a new question. A chat id nobody has is created
/// for `user_id` (the original's clients make up chat ids); another user's is not found.
pub async fn question(
    pool: &PgPool,
    config: &JobsConfig,
    user_id: &str,
    chat: ChatId,
    request: &JobRequest,
) -> Result<Submitted, SubmitError> {
    let mut conn = pool.get().await?;
    conn.transaction::<_, SubmitError, _>(async |conn| {
        if chats::find_for_user(conn, chat, user_id).await?.is_none() {
            if chats::exists(conn, chat).await? {
                return Err(SubmitError::NotFound);
            }
            chats::create(conn, chat, user_id, Some(&chats::title_for(&request.query))).await?;
        }
        queue(conn, config, user_id, chat, request, None).await
    })
    .await
}

/// A fresh answer to the question before agent message `answer`: that answer and
/// everything after it are deleted, and the question is researched again.
pub async fn regenerate(
    pool: &PgPool,
    config: &JobsConfig,
    user_id: &str,
    chat: ChatId,
    answer: MessageId,
    defaults: &JobRequest,
) -> Result<Submitted, SubmitError> {
    let mut conn = pool.get().await?;
    conn.transaction::<_, SubmitError, _>(async |conn| {
        let answer = owned_message(conn, user_id, chat, answer).await?;
        refuse_if_running(conn, chat).await?;
        let question = messages::history_before(conn, chat, answer.created_at, 10)
            .await?
            .into_iter()
            .rev()
            .find(|m| Role::parse(&m.role) == Some(Role::User))
            .ok_or(SubmitError::NotFound)?;
        let base = settings_of(conn, &answer)
            .await?
            .unwrap_or_else(|| defaults.clone());
        messages::delete_after(conn, chat, question.created_at).await?;
        let request = JobRequest {
            query: question.content.clone().unwrap_or_default(),
            ..base
        };
        queue(conn, config, user_id, chat, &request, Some(question.id)).await
    })
    .await
}

/// What an edit changes: the text, and the mode and depth when given (else those the
/// question was last researched with).
#[derive(Debug, Clone)]
pub struct Edit {
    pub content: String,
    pub query_mode: Option<String>,
    pub research_depth: Option<String>,
}

/// Replace question `message`'s text, delete everything after it, and research the new
/// text. Returns the edited message, how many messages were removed, and the job.
pub async fn edit(
    pool: &PgPool,
    config: &JobsConfig,
    user_id: &str,
    chat: ChatId,
    message: MessageId,
    change: &Edit,
    defaults: &JobRequest,
) -> Result<(messages::Message, usize, Submitted), SubmitError> {
    let mut conn = pool.get().await?;
    conn.transaction::<_, SubmitError, _>(async |conn| {
        let original = owned_message(conn, user_id, chat, message).await?;
        if Role::parse(&original.role) != Some(Role::User) {
            return Err(SubmitError::NotAQuestion);
        }
        refuse_if_running(conn, chat).await?;
        let answered = messages::after(conn, chat, original.created_at, 1).await?;
        let mut base = match answered.first() {
            Some(answer) => settings_of(conn, answer).await?,
            None => None,
        }
        .unwrap_or_else(|| defaults.clone());
        base.query = change.content.clone();
        if let Some(mode) = &change.query_mode {
            base.query_mode = mode.clone();
        }
        if let Some(depth) = &change.research_depth {
            base.research_depth = depth.clone();
        }
        let request = &base;
        let removed = messages::delete_after(conn, chat, original.created_at).await?;
        messages::edit_content(conn, message, &request.query).await?;
        let submitted = queue(conn, config, user_id, chat, request, Some(message)).await?;
        let edited = messages::find_for_user(conn, message, user_id)
            .await?
            .ok_or(SubmitError::NotFound)?;
        Ok((edited, removed, submitted))
    })
    .await
}

/// The mode, depth and verification an answer's research used.
async fn settings_of(
    conn: &mut AsyncPgConnection,
    answer: &messages::Message,
) -> Result<Option<JobRequest>, SubmitError> {
    let Some(id) = answer.research_session_id else {
        return Ok(None);
    };
    Ok(sessions::get(conn, SessionId(id))
        .await?
        .map(|s| JobRequest {
            query: s.query,
            query_mode: s.query_mode,
            research_depth: s.research_depth,
            verify_sources: s.verify_sources,
        }))
}

async fn owned_message(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    chat: ChatId,
    id: MessageId,
) -> Result<messages::Message, SubmitError> {
    messages::find_for_user(conn, id, user_id)
        .await?
        .filter(|m| m.chat_id == chat)
        .ok_or(SubmitError::NotFound)
}

async fn refuse_if_running(conn: &mut AsyncPgConnection, chat: ChatId) -> Result<(), SubmitError> {
    match sessions::active_for_chat(conn, chat).await? {
        Some(active) => Err(SubmitError::InProgress(active.id)),
        None => Ok(()),
    }
}

/// The session, the answer placeholder and the job, after the limits are checked.
async fn queue(
    conn: &mut AsyncPgConnection,
    config: &JobsConfig,
    user_id: &str,
    chat: ChatId,
    request: &JobRequest,
    question: Option<MessageId>,
) -> Result<Submitted, SubmitError> {
    // A new question while the chat's research runs is queued beside it, as the original
    // does (its frontend sends one when Stop was not pressed in time); only the per-user
    // limit bounds them. Edits and regenerations, which delete the history a running
    // answer belongs to, refuse before they get here.
    if jobs::active_count(conn, user_id).await? >= i64::from(config.max_concurrent_per_user) {
        return Err(SubmitError::TooManyJobs {
            limit: config.max_concurrent_per_user,
        });
    }
    let saved = runs::start_in(
        conn,
        &RunStart {
            user_id,
            chat: Some(chat),
            query: &request.query,
            query_mode: &request.query_mode,
            research_depth: &request.research_depth,
            agent_message_id: MessageId::new(),
            session_id: SessionId::new(),
            verify_sources: request.verify_sources,
            user_message: question,
        },
    )
    .await
    .map_err(|e| match e {
        DbError::ChatNotFound(_) => SubmitError::NotFound,
        other => SubmitError::Db(other),
    })?;
    let job_id = jobs::insert(conn, saved.session_id, chat, user_id, request).await?;
    Ok(Submitted {
        chat_id: saved.chat_id,
        user_message_id: saved.user_message_id,
        agent_message_id: saved.agent_message_id,
        session_id: saved.session_id,
        job_id,
    })
}
