//! One-shot research: `POST /api/v1/agent/query` (the Databricks agent pattern: JSON
//! answer, or SSE when the client accepts `text/event-stream`) and the docs' older
//! `POST /v1/research` (always SSE, `event:` lines). Both queue an ordinary job, so the run
//! is durable and its events can be streamed again from the job routes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Routes;
use crate::db::repo::messages::{self, NewMessage, Role};
use crate::db::repo::{chats, sessions, sources, ChatId, MessageId, SessionId};
use crate::jobs::{follow, submit, Frame, Jobs, Submitted};
use crate::serve::body::{Body, Keys, RequestBody};
use crate::serve::sse::{self, Format};
use crate::serve::{audit, ApiError, AppState, User};

pub(super) fn mount(r: &mut Routes) {
    r.post("/agent/query", query);
}

pub(super) fn mount_v1(r: &mut Routes) {
    r.post("/research", research_v1);
}

/// `ContextMessage`: an earlier turn, `user` or `agent`.
#[derive(Debug, Deserialize)]
pub(super) struct ContextMessage {
    pub(super) role: String,
    pub(super) content: String,
}

/// `AgentQueryRequest`.
#[derive(Debug, Deserialize)]
struct AgentQuery {
    query: String,
    conversation_id: Option<Uuid>,
    messages: Option<Vec<ContextMessage>>,
    #[serde(default = "super::research::auto")]
    research_depth: String,
}

impl RequestBody for AgentQuery {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

async fn query(
    state: web::Data<AppState>,
    user: User,
    req: HttpRequest,
    body: Body<AgentQuery>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let body = body.into_inner();
    let request = super::research::job_request(
        body.query,
        "deep_research".into(),
        body.research_depth,
        true,
        ["query", "queryMode", "researchDepth"],
    )?;
    let context = body.messages.unwrap_or_default();
    for (i, m) in context.iter().enumerate() {
        if !matches!(m.role.as_str(), "user" | "agent") {
            return Err(ApiError::Unprocessable {
                location: "body",
                name: "messages",
                message: format!("messages[{i}].role must be user or agent"),
            });
        }
    }
    let chat = ChatId(body.conversation_id.unwrap_or_else(Uuid::new_v4));
    if !context.is_empty() {
        seed_conversation(&state, &user, chat, &request.query, &context).await?;
    }
    let submitted = submit::question(&jobs.pool, &jobs.config, &user.id, chat, &request).await?;
    let wants_stream = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_stream {
        return Ok(audit::created(
            with_ids(
                sse::respond(jobs, submitted.session_id, 0, Format::Jobs),
                &submitted,
            ),
            submitted.session_id,
        ));
    }
    let status = wait_for_end(jobs, submitted.session_id).await;
    let mut conn = state.conn().await?;
    let session = sessions::get(&mut conn, submitted.session_id).await?;
    if status.as_deref() != Some("completed") {
        let why = session
            .and_then(|s| s.error_message)
            .unwrap_or_else(|| format!("the run ended {}", status.unwrap_or_default()));
        return Err(ApiError::ResearchFailed(why));
    }
    let answer = messages::find_for_user(&mut conn, submitted.agent_message_id, &user.id)
        .await?
        .and_then(|m| m.content)
        .unwrap_or_default();
    let found = sources::for_session(&mut conn, submitted.session_id).await?;
    let response = HttpResponse::Ok().json(json!({
        "response": answer,
        "sources": found.iter().map(|s| json!({
            "id": s.id,
            "url": s.url,
            "title": s.title,
            "snippet": null,
            "relevanceScore": null,
            "sourceType": s.source_type,
            "sourceMetadata": s.source_metadata,
        })).collect::<Vec<_>>(),
        "queryClassification": null,
        "researchSessionId": submitted.session_id,
    }));
    Ok(audit::created(response, submitted.session_id))
}

/// A new conversation's earlier turns, stored before the question so the run sees them as
/// its history. A conversation that already has messages keeps its own.
pub(super) async fn seed_conversation(
    state: &AppState,
    user: &User,
    chat: ChatId,
    query: &str,
    context: &[ContextMessage],
) -> Result<(), ApiError> {
    let mut conn = state.conn().await?;
    if chats::find_for_user(&mut conn, chat, &user.id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if chats::exists(&mut conn, chat).await? {
        return Err(ApiError::not_found("Conversation", chat));
    }
    chats::create(&mut conn, chat, &user.id, Some(&chats::title_for(query))).await?;
    let start = chrono::Utc::now() - chrono::Duration::milliseconds(context.len() as i64 + 1);
    for (i, m) in context.iter().enumerate() {
        messages::insert(
            &mut conn,
            &NewMessage {
                id: MessageId::new(),
                chat_id: chat,
                role: if m.role == "user" {
                    Role::User
                } else {
                    Role::Agent
                },
                content: Some(&m.content),
                created_at: start + chrono::Duration::milliseconds(i as i64),
            },
        )
        .await?;
    }
    Ok(())
}

/// Follow the session until it ends; its final status.
pub(super) async fn wait_for_end(jobs: &Jobs, session: SessionId) -> Option<String> {
    let frames = follow(
        jobs.pool.clone(),
        jobs.hub.clone(),
        session,
        i32::MAX,
        jobs.follow_options(),
    );
    let mut frames = std::pin::pin!(frames);
    while let Some(frame) = frames.next().await {
        match frame {
            Frame::End(status) => return Some(status),
            Frame::Broken(_) => return None,
            _ => {}
        }
    }
    None
}

/// The ids a streaming client needs before the first event names them.
pub(super) fn with_ids(mut response: HttpResponse, s: &Submitted) -> HttpResponse {
    for (name, value) in [
        ("x-chat-id", s.chat_id.to_string()),
        ("x-research-session-id", s.session_id.to_string()),
        ("x-message-id", s.agent_message_id.to_string()),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::HeaderName::from_static(name), value);
        }
    }
    response
}

/// The docs' `POST /v1/research` body: `SubmitJobRequest`'s snake_case fields with the
/// chat optional.
#[derive(Debug, Deserialize)]
struct ResearchV1 {
    query: String,
    chat_id: Option<Uuid>,
    #[serde(default = "super::research::deep_research")]
    query_mode: String,
    #[serde(default = "super::research::auto")]
    research_depth: String,
    #[serde(
        default = "super::research::yes",
        deserialize_with = "crate::serve::body::lax_bool"
    )]
    verify_sources: bool,
}

impl RequestBody for ResearchV1 {
    const KEYS: Keys = Keys::Name;
}

async fn research_v1(
    state: web::Data<AppState>,
    user: User,
    body: Body<ResearchV1>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let body = body.into_inner();
    let request = super::research::job_request(
        body.query,
        body.query_mode,
        body.research_depth,
        body.verify_sources,
        super::research::SNAKE_NAMES,
    )?;
    let chat = ChatId(body.chat_id.unwrap_or_else(Uuid::new_v4));
    let submitted = submit::question(&jobs.pool, &jobs.config, &user.id, chat, &request).await?;
    Ok(audit::created(
        with_ids(
            sse::respond(jobs, submitted.session_id, 0, Format::V1),
            &submitted,
        ),
        submitted.session_id,
    ))
}
