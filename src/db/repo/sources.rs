//! `sources`: the pages a research session fetched, one row per (session, URL).

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ChatId, SessionId};
use crate::db::schema::sources;

/// A fetched source to store.
#[derive(Debug, Clone)]
pub struct NewSource<'a> {
    pub research_session_id: SessionId,
    /// Denormalised from the session, for chat-wide source lookups in follow-ups.
    pub chat_id: ChatId,
    pub url: &'a str,
    pub title: Option<&'a str>,
    pub snippet: Option<&'a str>,
    pub content: Option<&'a str>,
    pub is_cited: bool,
    pub step_index: Option<i32>,
    pub step_title: Option<&'a str>,
    /// success, or why the fetch failed.
    pub crawl_status: &'a str,
    pub source_type: &'a str,
    /// Our extras, e.g. the citation number the report uses.
    pub source_metadata: Option<serde_json::Value>,
}

#[derive(Insertable)]
#[diesel(table_name = sources)]
struct SourceRow<'a> {
    research_session_id: uuid::Uuid,
    chat_id: uuid::Uuid,
    url: &'a str,
    title: Option<&'a str>,
    snippet: Option<&'a str>,
    content: Option<&'a str>,
    is_cited: bool,
    step_index: Option<i32>,
    step_title: Option<&'a str>,
    crawl_status: &'a str,
    source_type: &'a str,
    source_metadata: Option<&'a serde_json::Value>,
}

impl<'a> From<&'a NewSource<'a>> for SourceRow<'a> {
    fn from(s: &'a NewSource<'a>) -> SourceRow<'a> {
        SourceRow {
            research_session_id: s.research_session_id.0,
            chat_id: s.chat_id.0,
            url: s.url,
            title: s.title,
            snippet: s.snippet,
            content: s.content,
            is_cited: s.is_cited,
            step_index: s.step_index,
            step_title: s.step_title,
            crawl_status: s.crawl_status,
            source_type: s.source_type,
            source_metadata: s.source_metadata.as_ref(),
        }
    }
}

/// A source as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sources, check_for_backend(diesel::pg::Pg))]
pub struct StoredSource {
    pub id: uuid::Uuid,
    pub url: String,
    pub title: Option<String>,
    pub is_cited: bool,
    pub chat_id: Option<uuid::Uuid>,
    /// `web`, or the kind of tool that gave the passage (`vector_search`, `local`, …).
    pub source_type: String,
    pub source_metadata: Option<serde_json::Value>,
}

/// Insert sources; a URL the session already has is updated in place (title, content,
/// citation flag, fetch time), so storing a run's sources twice keeps one row per URL.
/// Returns each written row's id and URL.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    rows: &[NewSource<'_>],
) -> QueryResult<Vec<(uuid::Uuid, String)>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<SourceRow<'_>> = rows.iter().map(SourceRow::from).collect();
    diesel::insert_into(sources::table)
        .values(&rows)
        .on_conflict((sources::research_session_id, sources::url))
        .do_update()
        .set((
            sources::title.eq(excluded(sources::title)),
            sources::snippet.eq(excluded(sources::snippet)),
            sources::content.eq(excluded(sources::content)),
            sources::is_cited.eq(excluded(sources::is_cited)),
            sources::source_metadata.eq(excluded(sources::source_metadata)),
            sources::fetched_at.eq(diesel::dsl::now),
        ))
        .returning((sources::id, sources::url))
        .get_results(conn)
        .await
}

/// A session's sources, oldest first.
pub async fn for_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
) -> QueryResult<Vec<StoredSource>> {
    sources::table
        .filter(sources::research_session_id.eq(session.0))
        .order((sources::fetched_at.asc(), sources::url.asc()))
        .select(StoredSource::as_select())
        .load(conn)
        .await
}

/// The sources of the research sessions that answered `messages`, as
/// `(message id, url, title)`, in fetch order: the reading list under each answer of an
/// exported chat, in one query however many answers there are.
pub async fn for_messages(
    conn: &mut AsyncPgConnection,
    messages: &[uuid::Uuid],
) -> QueryResult<Vec<(uuid::Uuid, String, Option<String>)>> {
    use crate::db::schema::research_sessions;
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    sources::table
        .inner_join(research_sessions::table)
        .filter(research_sessions::message_id.eq_any(messages))
        .order((sources::fetched_at.asc(), sources::url.asc()))
        .select((research_sessions::message_id, sources::url, sources::title))
        .load(conn)
        .await
}
