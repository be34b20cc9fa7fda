//! `audit_logs`: an append-only record of what users changed through the API.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::audit_logs;

/// The schema's column widths; longer values are cut rather than failing the insert,
/// because an audit row must never be lost over a long user agent or action name.
const MAX_ACTION: usize = 50;
const MAX_RESOURCE_TYPE: usize = 50;
const MAX_RESOURCE_ID: usize = 100;
const MAX_IP: usize = 45;
const MAX_USER_ID: usize = 255;

/// One action to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub user_id: String,
    /// `<resource>.<verb>`, e.g. `chat.delete`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// Context (method, path, status); never request bodies or secrets.
    pub details: Option<serde_json::Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// A stored audit row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_logs, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: uuid::Uuid,
    pub user_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub details: Option<serde_json::Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Record one action.
pub async fn insert(conn: &mut AsyncPgConnection, e: &NewAuditEntry) -> QueryResult<()> {
    diesel::insert_into(audit_logs::table)
        .values((
            audit_logs::user_id.eq(cut(&e.user_id, MAX_USER_ID)),
            audit_logs::action.eq(cut(&e.action, MAX_ACTION)),
            audit_logs::resource_type.eq(cut(&e.resource_type, MAX_RESOURCE_TYPE)),
            audit_logs::resource_id.eq(e.resource_id.as_deref().map(|v| cut(v, MAX_RESOURCE_ID))),
            audit_logs::details.eq(e.details.as_ref()),
            audit_logs::ip_address.eq(e.ip_address.as_deref().map(|v| cut(v, MAX_IP))),
            audit_logs::user_agent.eq(e.user_agent.as_deref()),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// `user_id`'s most recent `limit` audit rows, newest first.
pub async fn recent_for_user(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    audit_logs::table
        .filter(audit_logs::user_id.eq(user_id.to_string()))
        .order((audit_logs::created_at.desc(), audit_logs::id.asc()))
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)
        .await
}

/// The first `max` characters of `s` (varchar limits count characters, not bytes).
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cutting_counts_characters_not_bytes() {
        assert_eq!(cut("ééé", 2), "éé");
        assert_eq!(cut("ab", 5), "ab");
    }
}
