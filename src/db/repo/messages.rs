//! `messages`: the turns of a chat.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ChatId, MessageId, SessionId};
use crate::db::schema::messages;

/// `messages.role`. The original writes its answers as `agent`; `assistant` is accepted on
/// read because the schema allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Agent,
    Assistant,
    System,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Agent => "agent",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }

    /// The role of a stored spelling; `None` for anything the schema's check would refuse.
    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "user" => Role::User,
            "agent" => Role::Agent,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            _ => return None,
        })
    }
}

/// A message as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    #[diesel(deserialize_as = uuid::Uuid)]
    pub id: MessageId,
    #[diesel(deserialize_as = uuid::Uuid)]
    pub chat_id: ChatId,
    pub role: String,
    /// `None` while the agent's answer is being produced, or when its run failed.
    pub content: Option<String>,
    pub research_session_id: Option<uuid::Uuid>,
    pub is_edited: bool,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A message to insert.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub role: Role,
    pub content: Option<&'a str>,
    /// Set by the caller: a question and its answer written in one transaction would
    /// otherwise share `now()` and come back in either order.
    pub created_at: DateTime<Utc>,
}

/// The message `id` if it is in one of `user_id`'s chats that is not deleted. Another
/// user's message is `None` too, so callers cannot tell it exists.
pub async fn find_for_user(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    user_id: &str,
) -> QueryResult<Option<Message>> {
    use crate::db::schema::chats;
    messages::table
        .inner_join(chats::table.on(chats::id.eq(messages::chat_id)))
        .filter(messages::id.eq(id.0))
        .filter(chats::user_id.eq(user_id.to_string()))
        .filter(chats::deleted_at.is_null())
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Insert one message.
pub async fn insert(conn: &mut AsyncPgConnection, m: &NewMessage<'_>) -> QueryResult<()> {
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(m.id.0),
            messages::chat_id.eq(m.chat_id.0),
            messages::role.eq(m.role.as_str()),
            messages::content.eq(m.content),
            messages::created_at.eq(m.created_at),
            messages::updated_at.eq(m.created_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Link an agent message to the research session that answers with it. Done after the
/// session exists, because the two tables reference each other.
pub async fn link_session(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    session: SessionId,
) -> QueryResult<()> {
    diesel::update(messages::table.filter(messages::id.eq(id.0)))
        .set(messages::research_session_id.eq(session.0))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Set a message's text (the agent's final answer) and its metadata.
pub async fn set_content(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    content: &str,
    metadata: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(messages::table.filter(messages::id.eq(id.0)))
        .set((
            messages::content.eq(content),
            messages::metadata.eq(metadata),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The last `limit` messages of a chat that have text, oldest first: the context of a
/// follow-up question. Placeholders of unfinished or failed answers are skipped, as the
/// original does.
pub async fn history(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    recent_with_text(conn, chat, None, limit).await
}

/// A page of chat `chat`'s messages, oldest first, and how many it has in all. The caller
/// checks the chat is the user's.
pub async fn page(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<Message>, i64)> {
    let total: i64 = messages::table
        .filter(messages::chat_id.eq(chat.0))
        .count()
        .get_result(conn)
        .await?;
    let rows = messages::table
        .filter(messages::chat_id.eq(chat.0))
        .order((messages::created_at.asc(), messages::id.asc()))
        .limit(limit)
        .offset(offset)
        .select(Message::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Like [`history`], but only messages written before `before`: the context of a question
/// that is already stored (a queued job's), without the question itself.
pub async fn history_before(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    recent_with_text(conn, chat, Some(before), limit).await
}

/// The last `limit` messages of `chat` with text (written before `before`), oldest first.
async fn recent_with_text(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut query = messages::table
        .filter(messages::chat_id.eq(chat.0))
        .filter(messages::content.is_not_null())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::created_at.lt(before));
    }
    let mut rows: Vec<Message> = query
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// Delete the messages of `chat` written after `after` (their sessions, sources and claims
/// go with them); returns how many.
pub async fn delete_after(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    after: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(
        messages::table
            .filter(messages::chat_id.eq(chat.0))
            .filter(messages::created_at.gt(after)),
    )
    .execute(conn)
    .await
}

/// Replace a message's text, marking it edited.
pub async fn edit_content(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    content: &str,
) -> QueryResult<()> {
    diesel::update(messages::table.filter(messages::id.eq(id.0)))
        .set((
            messages::content.eq(content),
            messages::is_edited.eq(true),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The first `limit` messages of `chat` written after `after`, oldest first.
pub async fn after(
    conn: &mut AsyncPgConnection,
    chat: ChatId,
    after: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::chat_id.eq(chat.0))
        .filter(messages::created_at.gt(after))
        .order((messages::created_at.asc(), messages::id.asc()))
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}
