//! `user_preferences`: one row per user, created with the original's defaults on first
//! read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::user_preferences;

/// A user's preferences as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_preferences, check_for_backend(diesel::pg::Pg))]
pub struct Preferences {
    pub system_instructions: Option<String>,
    pub default_research_depth: String,
    pub default_query_mode: String,
    pub theme: String,
    pub notifications_enabled: bool,
    pub updated_at: DateTime<Utc>,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesUpdate<'a> {
    pub system_instructions: Option<&'a str>,
    pub default_research_depth: Option<&'a str>,
    pub default_query_mode: Option<&'a str>,
    pub theme: Option<&'a str>,
    pub notifications_enabled: Option<bool>,
}

/// The query mode a new user starts in: this is a research app. The column's default
/// stays the original's `simple`, so the schema matches it and rows already saved keep
/// their mode.
pub const NEW_USER_QUERY_MODE: &str = "deep_research";

/// `user_id`'s preferences, created with the defaults if they have none yet.
pub async fn get_or_create(
    conn: &mut AsyncPgConnection,
    user_id: &str,
) -> QueryResult<Preferences> {
    diesel::insert_into(user_preferences::table)
        .values((
            user_preferences::user_id.eq(user_id),
            user_preferences::default_query_mode.eq(NEW_USER_QUERY_MODE),
        ))
        .on_conflict(user_preferences::user_id)
        .do_nothing()
        .execute(conn)
        .await?;
    user_preferences::table
        .filter(user_preferences::user_id.eq(user_id))
        .select(Preferences::as_select())
        .first(conn)
        .await
}

/// Applies `update` to `user_id`'s preferences (creating them first if needed).
pub async fn update(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    update: &PreferencesUpdate<'_>,
) -> QueryResult<Preferences> {
    let current = get_or_create(conn, user_id).await?;
    diesel::insert_into(user_preferences::table)
        .values((
            user_preferences::user_id.eq(user_id),
            user_preferences::system_instructions.eq(update
                .system_instructions
                .map(str::to_string)
                .or(current.system_instructions)),
            user_preferences::default_research_depth.eq(update
                .default_research_depth
                .unwrap_or(&current.default_research_depth)),
            user_preferences::default_query_mode.eq(update
                .default_query_mode
                .unwrap_or(&current.default_query_mode)),
            user_preferences::theme.eq(update.theme.unwrap_or(&current.theme)),
            user_preferences::notifications_enabled.eq(update
                .notifications_enabled
                .unwrap_or(current.notifications_enabled)),
        ))
        .on_conflict(user_preferences::user_id)
        .do_update()
        .set((
            user_preferences::system_instructions
                .eq(excluded(user_preferences::system_instructions)),
            user_preferences::default_research_depth
                .eq(excluded(user_preferences::default_research_depth)),
            user_preferences::default_query_mode.eq(excluded(user_preferences::default_query_mode)),
            user_preferences::theme.eq(excluded(user_preferences::theme)),
            user_preferences::notifications_enabled
                .eq(excluded(user_preferences::notifications_enabled)),
        ))
        .returning(Preferences::as_returning())
        .get_result(conn)
        .await
}
