//! Research runs: the job API (`/api/v1/research/jobs…`: submit, list, get, cancel,
//! stream, events, a chat's active job) and the chat-scoped reconnection routes
//! (`/api/v1/chats/{chat}/research/…`, `/api/v1/chats/{session}/cancel`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Routes;
use crate::db::repo::events;
use crate::db::repo::jobs::{self as queue, CancelOutcome, JobRequest};
use crate::db::repo::sessions::{self, Session};
use crate::db::repo::{chats, messages, ChatId, SessionId};
use crate::jobs::submit;
use crate::serve::body::{lax_bool, Body, Keys, RequestBody};
use crate::serve::sse::{self, Format};
use crate::serve::{audit, ApiError, AppState, User};

pub(super) fn mount(r: &mut Routes) {
    r.post("/research/jobs", submit_job)
        .get("/research/jobs", list_jobs)
        .get("/research/jobs/chat/{chat_id}/active", chat_active_job)
        .get("/research/jobs/{session_id}", get_job)
        .delete("/research/jobs/{session_id}", cancel_job)
        .get("/research/jobs/{session_id}/stream", stream)
        .get("/research/jobs/{session_id}/events", job_events)
        .post("/chats/{session_id}/cancel", cancel_research)
        .get("/chats/{chat_id}/research/active", active_research)
        .get(
            "/chats/{chat_id}/research/{session_id}/events",
            research_events,
        )
        .get(
            "/chats/{chat_id}/research/{session_id}/state",
            research_state,
        );
}

/// `SubmitJobRequest`: a plain pydantic `BaseModel` in the original (no aliases), so its
/// snake_case names only, with its defaults.
#[derive(Debug, Deserialize)]
struct SubmitJob {
    chat_id: Uuid,
    query: String,
    #[serde(default = "deep_research")]
    query_mode: String,
    #[serde(default = "auto")]
    research_depth: String,
    #[serde(default = "yes", deserialize_with = "lax_bool")]
    verify_sources: bool,
}

impl RequestBody for SubmitJob {
    const KEYS: Keys = Keys::Name;
}

/// The snake_case names of a research request's query, mode and depth, for its 422s.
pub(super) const SNAKE_NAMES: [&str; 3] = ["query", "query_mode", "research_depth"];

pub(super) fn deep_research() -> String {
    "deep_research".into()
}

pub(super) fn auto() -> String {
    "auto".into()
}

pub(super) fn yes() -> bool {
    true
}

/// A research request checked field by field (FastAPI's 422 naming the field).
pub(super) fn job_request(
    query: String,
    query_mode: String,
    research_depth: String,
    verify_sources: bool,
    // The request's names for query, mode and depth (snake_case or camelCase bodies).
    names: [&'static str; 3],
) -> Result<JobRequest, ApiError> {
    let bad = |name: &'static str, message: &str| ApiError::Unprocessable {
        location: "body",
        name,
        message: message.into(),
    };
    if query.trim().is_empty() || query.chars().count() > 10_000 {
        return Err(bad(names[0], "must be 1 to 10000 characters"));
    }
    if !["simple", "web_search", "deep_research"].contains(&query_mode.as_str()) {
        return Err(bad(
            names[1],
            "must be one of simple, web_search, deep_research",
        ));
    }
    if !["auto", "light", "medium", "extended"].contains(&research_depth.as_str()) {
        return Err(bad(
            names[2],
            "must be one of auto, light, medium, extended",
        ));
    }
    Ok(JobRequest {
        query,
        query_mode,
        research_depth,
        verify_sources,
    })
}

/// `JobResponse`, from the session (the API's view of a job).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobResponse {
    session_id: Uuid,
    status: String,
    query: String,
    query_mode: String,
    chat_id: Uuid,
    /// The answer's message (ours; the original's clients ignore it).
    agent_message_id: Uuid,
    started_at: Option<String>,
    completed_at: Option<String>,
    current_step: Option<i32>,
    total_steps: Option<i32>,
    error_message: Option<String>,
}

impl From<Session> for JobResponse {
    fn from(s: Session) -> JobResponse {
        JobResponse {
            session_id: s.id.0,
            total_steps: s.total_steps(),
            status: s.status,
            query: s.query,
            query_mode: s.query_mode,
            chat_id: s.chat_id.0,
            agent_message_id: s.message_id.0,
            started_at: Some(s.started_at.to_rfc3339()),
            completed_at: s.completed_at.map(|t| t.to_rfc3339()),
            current_step: s.current_step_index,
            error_message: s.error_message,
        }
    }
}

async fn submit_job(
    state: web::Data<AppState>,
    user: User,
    body: Body<SubmitJob>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let body = body.into_inner();
    let request = job_request(
        body.query,
        body.query_mode,
        body.research_depth,
        body.verify_sources,
        SNAKE_NAMES,
    )?;
    let submitted = submit::question(
        &jobs.pool,
        &jobs.config,
        &user.id,
        ChatId(body.chat_id),
        &request,
    )
    .await?;
    let session = session_of(&state, &user, submitted.session_id).await?;
    Ok(audit::created(
        HttpResponse::Ok().json(JobResponse::from(session)),
        submitted.session_id,
    ))
}

/// `user`'s session `id`, or 404.
pub(super) async fn session_of(
    state: &AppState,
    user: &User,
    id: SessionId,
) -> Result<Session, ApiError> {
    let mut conn = state.conn().await?;
    sessions::get_for_user(&mut conn, id, &user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Job", id))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_jobs(
    state: web::Data<AppState>,
    user: User,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs()?;
    if let Some(status) = &query.status {
        if !["in_progress", "completed", "failed", "cancelled"].contains(&status.as_str()) {
            return Err(ApiError::Unprocessable {
                location: "query",
                name: "status",
                message: "must be one of in_progress, completed, failed, cancelled".into(),
            });
        }
    }
    let limit = super::in_range("limit", query.limit.unwrap_or(50), 1, 100)?;
    let mut conn = state.conn().await?;
    let list = sessions::list_for_user(&mut conn, &user.id, query.status.as_deref(), limit).await?;
    let active = queue::active_count(&mut conn, &user.id).await?;
    let max = i64::from(jobs.config.max_concurrent_per_user);
    Ok(HttpResponse::Ok().json(json!({
        "jobs": list.into_iter().map(JobResponse::from).collect::<Vec<_>>(),
        "activeCount": active,
        "limit": max,
        "limitReached": active >= max,
    })))
}

async fn get_job(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let session = session_of(&state, &user, SessionId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(JobResponse::from(session)))
}

/// Cancel `user`'s session; the status to report.
async fn cancel(state: &AppState, user: &User, id: SessionId) -> Result<String, ApiError> {
    let session = session_of(state, user, id).await?;
    let mut conn = state.conn().await?;
    Ok(match queue::request_cancel(&mut conn, id).await? {
        CancelOutcome::Cancelled | CancelOutcome::Requested => "cancelled".into(),
        CancelOutcome::AlreadyEnded => session.status,
    })
}

async fn cancel_job(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId(path.into_inner());
    let status = cancel(&state, &user, id).await?;
    Ok(HttpResponse::Ok().json(json!({"sessionId": id, "status": status})))
}

async fn cancel_research(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = SessionId(path.into_inner());
    let status = cancel(&state, &user, id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "sessionId": id,
        "status": status,
        "partialResults": null,
    })))
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    #[serde(rename = "sinceSequence")]
    since_sequence: Option<i64>,
}

async fn stream(
    state: web::Data<AppState>,
    user: User,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs()?;
    let id = SessionId(path.into_inner());
    session_of(&state, &user, id).await?;
    let after = sse::resume_after(&req, query.since_sequence)?;
    Ok(sse::respond(jobs, id, after, Format::Jobs))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(rename = "sinceSequence")]
    since_sequence: Option<i64>,
    limit: Option<i64>,
}

/// Events after `sinceSequence` (at most `limit`), and whether more are to come: the
/// original's `has_more` means the session is still running (a client polls until it is
/// false), not that more events are stored than this page holds.
async fn events_page(
    state: &AppState,
    session: &Session,
    query: &EventsQuery,
) -> Result<(Vec<Value>, bool), ApiError> {
    let after = super::in_range(
        "sinceSequence",
        query.since_sequence.unwrap_or(0),
        0,
        i64::MAX,
    )?;
    let limit = super::in_range("limit", query.limit.unwrap_or(100), 1, 500)?;
    let mut conn = state.conn().await?;
    let rows = events::page_after(
        &mut conn,
        session.id,
        i32::try_from(after).unwrap_or(i32::MAX),
        limit,
    )
    .await?;
    let events = rows.iter().map(|r| r.envelope()).collect();
    Ok((events, session.is_active()))
}

async fn job_events(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let session = session_of(&state, &user, SessionId(path.into_inner())).await?;
    let (events, has_more) = events_page(&state, &session, &query).await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": events,
        "sessionStatus": session.status,
        "hasMore": has_more,
    })))
}

/// Whether `id` is one of `user`'s live chats: `false` for an unknown, deleted or another
/// user's chat.
async fn owns_chat(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &User,
    id: ChatId,
) -> Result<bool, ApiError> {
    Ok(chats::find_for_user(conn, id, &user.id).await?.is_some())
}

/// The chat's running job, or `null`. The original looks the job up by chat and user, so a
/// chat that is not the user's (or not stored yet: its frontend asks about draft chats)
/// is `null` too, which says nothing about another user's chat.
async fn chat_active_job(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let chat = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    let active = if owns_chat(&mut conn, &user, chat).await? {
        sessions::active_for_chat(&mut conn, chat).await?
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(active.map(JobResponse::from)))
}

/// The original's `ActiveResearchResponse` (snake_case, every key present).
#[derive(Debug, Default, Serialize)]
struct ActiveResearch {
    has_active_research: bool,
    session_id: Option<Uuid>,
    status: Option<String>,
    last_sequence_number: Option<i32>,
    query: Option<String>,
    query_mode: Option<String>,
    started_at: Option<String>,
}

/// Whether the chat's latest research still runs, and that session. As in the original,
/// a chat with no research, not stored yet or another user's gets
/// `has_active_research: false` and nulls; a finished session is still described.
async fn active_research(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let chat = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    let latest = if owns_chat(&mut conn, &user, chat).await? {
        sessions::latest_for_chat(&mut conn, chat).await?
    } else {
        None
    };
    let Some(s) = latest else {
        return Ok(HttpResponse::Ok().json(ActiveResearch::default()));
    };
    let last = events::last_sequence(&mut conn, s.id).await?;
    Ok(HttpResponse::Ok().json(ActiveResearch {
        has_active_research: s.is_active(),
        session_id: Some(s.id.0),
        last_sequence_number: Some(last),
        started_at: Some(s.started_at.to_rfc3339()),
        status: Some(s.status),
        query: Some(s.query),
        query_mode: Some(s.query_mode),
    }))
}

/// `user`'s session `session` of chat `chat`, or 404.
async fn chat_session(
    state: &AppState,
    user: &User,
    (chat, session): (Uuid, Uuid),
) -> Result<Session, ApiError> {
    let s = session_of(state, user, SessionId(session)).await?;
    if s.chat_id != ChatId(chat) {
        return Err(ApiError::not_found("Research session", session));
    }
    Ok(s)
}

async fn research_events(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let session = chat_session(&state, &user, path.into_inner()).await?;
    let (events, has_more) = events_page(&state, &session, &query).await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": events,
        "session_status": session.status,
        "has_more": has_more,
    })))
}

async fn research_state(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let s = chat_session(&state, &user, path.into_inner()).await?;
    let mut conn = state.conn().await?;
    let report = messages::find_for_user(&mut conn, s.message_id, &user.id)
        .await?
        .and_then(|m| m.content)
        .filter(|_| !s.is_active());
    Ok(HttpResponse::Ok().json(json!({
        "session_id": s.id,
        "status": s.status,
        "query": s.query,
        "plan": s.plan,
        "observations": null,
        "current_step_index": s.current_step_index,
        "plan_iterations": s.plan_iterations,
        "final_report": report,
        "completed_at": s.completed_at.map(|t| t.to_rfc3339()),
    })))
}
