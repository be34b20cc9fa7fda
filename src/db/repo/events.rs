//! `research_events`: the event log of a session, in sequence-number order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::SessionId;
use crate::db::schema::research_events;

/// One event row. `id` is the envelope's id, so a stored event and the streamed one are the
/// same event.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = research_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub id: uuid::Uuid,
    pub research_session_id: uuid::Uuid,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    /// The envelope's payload: camelCase fields with `eventType` and `timestamp` inside.
    pub payload: serde_json::Value,
    pub sequence_number: Option<i32>,
}

/// Insert rows in one statement. PostgreSQL takes at most 65535 bind parameters per
/// statement; callers keep batches under [`MAX_BATCH`] rows.
pub async fn insert_batch(conn: &mut AsyncPgConnection, rows: &[EventRow]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::insert_into(research_events::table)
        .values(rows)
        .execute(conn)
        .await
}

/// The most rows [`insert_batch`] is given at once (6 parameters each).
pub const MAX_BATCH: usize = 1000;

/// A session's events after sequence number `after` (0 for all), in order.
pub async fn after(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    after: i32,
) -> QueryResult<Vec<EventRow>> {
    research_events::table
        .filter(research_events::research_session_id.eq(session.0))
        .filter(research_events::sequence_number.gt(after))
        .order(research_events::sequence_number.asc())
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// At most `limit` of a session's events after sequence number `after`, in order.
pub async fn page_after(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    after: i32,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    research_events::table
        .filter(research_events::research_session_id.eq(session.0))
        .filter(research_events::sequence_number.gt(after))
        .order(research_events::sequence_number.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// The highest sequence number stored for a session (0 when none).
pub async fn last_sequence(conn: &mut AsyncPgConnection, session: SessionId) -> QueryResult<i32> {
    research_events::table
        .filter(research_events::research_session_id.eq(session.0))
        .select(diesel::dsl::max(research_events::sequence_number))
        .first::<Option<i32>>(conn)
        .await
        .map(|n| n.unwrap_or(0))
}

impl EventRow {
    /// The envelope as the original streams and lists it:
    /// `{id, eventType, timestamp, sequenceNumber, payload}`.
    pub fn envelope(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "eventType": self.event_type,
            "timestamp": self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
            "sequenceNumber": self.sequence_number,
            "payload": self.payload,
        })
    }
}
