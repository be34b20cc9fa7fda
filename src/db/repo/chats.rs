//! `chats`: a user's conversations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ChatId;
use crate::db::schema::chats;

/// `chats.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatStatus {
    Active,
    Archived,
    Deleted,
}

impl ChatStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatStatus::Active => "active",
            ChatStatus::Archived => "archived",
            ChatStatus::Deleted => "deleted",
        }
    }
}

/// A chat as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chats, check_for_backend(diesel::pg::Pg))]
pub struct Chat {
    #[diesel(deserialize_as = uuid::Uuid)]
    pub id: ChatId,
    pub user_id: String,
    pub title: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The title the original gives a chat: its first question, cut to 50 characters.
pub fn title_for(query: &str) -> String {
    let query = query.trim();
    if query.chars().count() > 50 {
        let head: String = query.chars().take(47).collect();
        format!("{head}...")
    } else {
        query.to_string()
    }
}

/// Create an active chat for `user_id`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
    title: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(chats::table)
        .values((
            chats::id.eq(id.0),
            chats::user_id.eq(user_id),
            chats::title.eq(title),
            chats::status.eq(ChatStatus::Active.as_str()),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The chat `id` if it belongs to `user_id` and is not deleted. Another user's chat is
/// `None` too, so callers cannot tell it exists.
pub async fn find_for_user(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
) -> QueryResult<Option<Chat>> {
    chats::table
        .filter(chats::id.eq(id.0))
        .filter(chats::user_id.eq(user_id))
        .filter(chats::deleted_at.is_null())
        .select(Chat::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether any chat (anyone's, even deleted) has id `id`: a client-chosen id must not
/// take over someone else's.
pub async fn exists(conn: &mut AsyncPgConnection, id: ChatId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(chats::table.filter(chats::id.eq(id.0))))
        .get_result(conn)
        .await
}

/// Mark new activity, so the chat sorts first in its user's list.
pub async fn touch(conn: &mut AsyncPgConnection, id: ChatId) -> QueryResult<()> {
    diesel::update(chats::table.filter(chats::id.eq(id.0)))
        .set(chats::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(|_| ())
}

impl ChatStatus {
    /// The status spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<ChatStatus> {
        match text {
            "active" => Some(ChatStatus::Active),
            "archived" => Some(ChatStatus::Archived),
            "deleted" => Some(ChatStatus::Deleted),
            _ => None,
        }
    }
}

/// What a chat list asks for. The total that [`list`] returns is 0 when `without_total`.
#[derive(Debug, Clone, Default)]
pub struct ChatQuery<'a> {
    /// Only chats in this status; `None` lists every chat that is not deleted.
    pub status: Option<ChatStatus>,
    /// Case-insensitive substring of the title.
    pub search: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
    /// Skip counting every match (a list that shows no total saves a query).
    pub without_total: bool,
}

/// A chat with its message count, for lists and detail views.
#[derive(Debug, Clone)]
pub struct ChatSummary {
    pub chat: Chat,
    pub message_count: i64,
}

/// `user_id`'s chats matching `query`, most recently active first, and how many match in
/// all.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    query: &ChatQuery<'_>,
) -> QueryResult<(Vec<ChatSummary>, i64)> {
    let filtered = || {
        let mut q = chats::table
            .filter(chats::user_id.eq(user_id.to_string()))
            .into_boxed();
        q = match query.status {
            Some(status) => q.filter(chats::status.eq(status.as_str())),
            None => q.filter(chats::deleted_at.is_null()),
        };
        if let Some(term) = query.search.map(str::trim).filter(|t| !t.is_empty()) {
            q = q.filter(chats::title.ilike(format!("%{}%", escape_like(term))));
        }
        q
    };
    let total: i64 = if query.without_total {
        0
    } else {
        filtered().count().get_result(conn).await?
    };
    let page: Vec<Chat> = filtered()
        .order((chats::updated_at.desc(), chats::id.asc()))
        .limit(query.limit)
        .offset(query.offset)
        .select(Chat::as_select())
        .load(conn)
        .await?;
    let counts = message_counts(conn, &page.iter().map(|c| c.id.0).collect::<Vec<_>>()).await?;
    let items = page
        .into_iter()
        .map(|chat| ChatSummary {
            message_count: counts.get(&chat.id.0).copied().unwrap_or(0),
            chat,
        })
        .collect();
    Ok((items, total))
}

/// The chat `id` of `user_id` with its message count, deleted or not (`include_deleted`).
pub async fn get_for_user(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
    include_deleted: bool,
) -> QueryResult<Option<ChatSummary>> {
    let mut q = chats::table
        .filter(chats::id.eq(id.0))
        .filter(chats::user_id.eq(user_id.to_string()))
        .into_boxed();
    if !include_deleted {
        q = q.filter(chats::deleted_at.is_null());
    }
    let Some(chat) = q.select(Chat::as_select()).first(conn).await.optional()? else {
        return Ok(None);
    };
    let counts = message_counts(conn, &[chat.id.0]).await?;
    Ok(Some(ChatSummary {
        message_count: counts.get(&chat.id.0).copied().unwrap_or(0),
        chat,
    }))
}

/// Renames and/or re-statuses `user_id`'s live chat `id`; `None` when there is no such
/// chat.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
    title: Option<&str>,
    status: Option<ChatStatus>,
) -> QueryResult<Option<ChatSummary>> {
    let target = chats::table
        .filter(chats::id.eq(id.0))
        .filter(chats::user_id.eq(user_id.to_string()))
        .filter(chats::deleted_at.is_null());
    let changed = diesel::update(target)
        .set((
            title.map(|t| chats::title.eq(t.to_string())),
            status.map(|s| chats::status.eq(s.as_str())),
            chats::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    get_for_user(conn, id, user_id, false).await
}

/// Soft-deletes `user_id`'s chat `id` (purged after the recovery window); whether there
/// was such a live chat.
pub async fn soft_delete(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(
        chats::table
            .filter(chats::id.eq(id.0))
            .filter(chats::user_id.eq(user_id.to_string()))
            .filter(chats::deleted_at.is_null()),
    )
    .set((
        chats::status.eq(ChatStatus::Deleted.as_str()),
        chats::deleted_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(changed > 0)
}

/// Restores `user_id`'s soft-deleted chat `id` as active; `None` when there is no such
/// deleted chat.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    id: ChatId,
    user_id: &str,
) -> QueryResult<Option<ChatSummary>> {
    let changed = diesel::update(
        chats::table
            .filter(chats::id.eq(id.0))
            .filter(chats::user_id.eq(user_id.to_string()))
            .filter(chats::deleted_at.is_not_null()),
    )
    .set((
        chats::status.eq(ChatStatus::Active.as_str()),
        chats::deleted_at.eq(None::<DateTime<Utc>>),
        chats::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    if changed == 0 {
        return Ok(None);
    }
    get_for_user(conn, id, user_id, false).await
}

/// Removes for good every chat soft-deleted more than `older_than` ago, with everything
/// under it (messages, feedback, research sessions, sources, claims, jobs: their foreign
/// keys cascade); how many chats went.
///
/// Deletes in batches so one purge after a long outage never holds a huge transaction
/// (and its locks) open; the cutoff is the database's clock, the one `soft_delete` used.
pub async fn purge_deleted(
    conn: &mut AsyncPgConnection,
    older_than: chrono::Duration,
) -> QueryResult<usize> {
    const BATCH: i64 = 500;
    let seconds = older_than.num_milliseconds() as f64 / 1000.0;
    let mut purged = 0;
    loop {
        let n = diesel::sql_query(
            "DELETE FROM chats WHERE id IN (\
                SELECT id FROM chats \
                WHERE deleted_at IS NOT NULL \
                  AND deleted_at < now() - make_interval(secs => $1) \
                LIMIT $2)",
        )
        .bind::<diesel::sql_types::Double, _>(seconds)
        .bind::<diesel::sql_types::BigInt, _>(BATCH)
        .execute(conn)
        .await?;
        purged += n;
        if n < BATCH as usize {
            return Ok(purged);
        }
    }
}

async fn message_counts(
    conn: &mut AsyncPgConnection,
    chat_ids: &[uuid::Uuid],
) -> QueryResult<std::collections::HashMap<uuid::Uuid, i64>> {
    use crate::db::schema::messages;
    if chat_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(uuid::Uuid, i64)> = messages::table
        .filter(messages::chat_id.eq_any(chat_ids))
        .group_by(messages::chat_id)
        .select((messages::chat_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// `term` with LIKE's wildcards taken literally.
fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn long_questions_are_cut_like_the_original_does() {
        assert_eq!(title_for("  short  "), "short");
        let long = "é".repeat(60);
        let t = title_for(&long);
        assert_eq!(t.chars().count(), 50);
        assert!(t.ends_with("..."));
    }
}
