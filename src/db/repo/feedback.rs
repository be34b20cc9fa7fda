//! `message_feedback`: a user's rating of an answer.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::MessageId;
use crate::db::schema::message_feedback;

/// Feedback as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = message_feedback, check_for_backend(diesel::pg::Pg))]
pub struct Feedback {
    pub id: Uuid,
    pub message_id: Uuid,
    pub rating: String,
    pub feedback_text: Option<String>,
    pub feedback_category: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Records `user_id`'s rating of `message`. The caller checks the message is theirs.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    message: MessageId,
    user_id: &str,
    rating: &str,
    text: Option<&str>,
    category: Option<&str>,
) -> QueryResult<Feedback> {
    diesel::insert_into(message_feedback::table)
        .values((
            message_feedback::message_id.eq(message.0),
            message_feedback::user_id.eq(user_id),
            message_feedback::rating.eq(rating),
            message_feedback::feedback_text.eq(text),
            message_feedback::feedback_category.eq(category),
        ))
        .returning(Feedback::as_returning())
        .get_result(conn)
        .await
}
