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
    title: &str,
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

/// Mark new activity, so the chat sorts first in its user's list.
pub async fn touch(conn: &mut AsyncPgConnection, id: ChatId) -> QueryResult<()> {
    diesel::update(chats::table.filter(chats::id.eq(id.0)))
        .set(chats::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_questions_are_cut_like_the_original_does() {
        assert_eq!(title_for("  short  "), "short");
        let long = "é".repeat(60);
        let t = title_for(&long);
        assert_eq!(t.chars().count(), 50);
        assert!(t.ends_with("..."));
    }
}
