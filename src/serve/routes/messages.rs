//! `/api/v1/chats/{chat_id}/messages`: a chat's messages, one message, and a message's
//! text to copy. Messages are reached through their chat, so another user's chat or a
//! message of another chat is a 404.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::research::{auto, deep_research};
use super::Routes;
use crate::db::repo::feedback as ratings;
use crate::db::repo::jobs::JobRequest;
use crate::db::repo::messages::{self, Message, Role};
use crate::db::repo::{chats, ChatId, MessageId};
use crate::jobs::submit;
use crate::serve::body::{Body, Keys, RequestBody};
use crate::serve::{ApiError, AppState, User};

pub(super) fn mount(r: &mut Routes) {
    r.get("/chats/{chat_id}/messages", list)
        .post("/chats/{chat_id}/messages", send)
        .get("/chats/{chat_id}/messages/{message_id}", get)
        .patch("/chats/{chat_id}/messages/{message_id}", edit)
        .post(
            "/chats/{chat_id}/messages/{message_id}/regenerate",
            regenerate,
        )
        .get("/chats/{chat_id}/messages/{message_id}/copy", copy)
        .post("/chats/{chat_id}/messages/{message_id}/feedback", feedback);
}

/// The docs' older `/v1` route: feedback by message id alone.
pub(super) fn mount_v1(r: &mut Routes) {
    r.post("/messages/{message_id}/feedback", feedback_v1);
}

/// `MessageResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageResponse {
    id: Uuid,
    chat_id: Uuid,
    role: &'static str,
    content: String,
    created_at: DateTime<Utc>,
    is_edited: bool,
    research_session: Option<serde_json::Value>,
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> MessageResponse {
        MessageResponse {
            id: m.id.0,
            chat_id: m.chat_id.0,
            // The original's wire role for its answers is `agent`.
            role: Role::parse(&m.role).unwrap_or(Role::Agent).as_str(),
            content: m.content.unwrap_or_default(),
            created_at: m.created_at,
            is_edited: m.is_edited,
            research_session: m
                .research_session_id
                .map(|id| serde_json::json!({"id": id})),
        }
    }
}

#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The chat, if it is the user's and not deleted.
async fn owned_chat(
    conn: &mut diesel_async::AsyncPgConnection,
    chat: ChatId,
    user: &User,
) -> Result<(), ApiError> {
    chats::find_for_user(conn, chat, &user.id)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("Chat", chat))
}

/// Message `message` of chat `chat`, which must be the user's.
async fn owned_message(
    state: &AppState,
    user: &User,
    chat: ChatId,
    message: MessageId,
) -> Result<Message, ApiError> {
    let mut conn = state.conn().await?;
    owned_chat(&mut conn, chat, user).await?;
    messages::find_for_user(&mut conn, message, &user.id)
        .await?
        .filter(|m| m.chat_id == chat)
        .ok_or_else(|| ApiError::not_found("Message", message))
}

async fn list(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let chat = ChatId(path.into_inner());
    let (limit, offset) = super::page(params.limit, params.offset)?;
    let mut conn = state.conn().await?;
    owned_chat(&mut conn, chat, &user).await?;
    let (rows, total) = messages::page(&mut conn, chat, limit, offset).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": rows.into_iter().map(MessageResponse::from).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn get(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (chat, message) = path.into_inner();
    let m = owned_message(&state, &user, ChatId(chat), MessageId(message)).await?;
    Ok(HttpResponse::Ok().json(MessageResponse::from(m)))
}

async fn copy(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (chat, message) = path.into_inner();
    let m = owned_message(&state, &user, ChatId(chat), MessageId(message)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"content": m.content.unwrap_or_default()})))
}

/// `FeedbackRequest`.
#[derive(Debug, Deserialize)]
struct FeedbackRequest {
    rating: String,
    feedback_text: Option<String>,
    feedback_category: Option<String>,
}

impl RequestBody for FeedbackRequest {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

async fn feedback(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
    body: Body<FeedbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let (chat, message) = path.into_inner();
    let body = body.into_inner();
    check_feedback(&body)?;
    let m = owned_message(&state, &user, ChatId(chat), MessageId(message)).await?;
    record_feedback(&state, &user, &m, &body).await
}

async fn feedback_v1(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    body: Body<FeedbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let message = MessageId(path.into_inner());
    let body = body.into_inner();
    check_feedback(&body)?;
    let m = {
        let mut conn = state.conn().await?;
        messages::find_for_user(&mut conn, message, &user.id)
            .await?
            .ok_or_else(|| ApiError::not_found("Message", message))?
    };
    record_feedback(&state, &user, &m, &body).await
}

fn check_feedback(body: &FeedbackRequest) -> Result<(), ApiError> {
    if !matches!(body.rating.as_str(), "positive" | "negative") {
        return Err(ApiError::Unprocessable {
            location: "body",
            name: "rating",
            message: "must be positive or negative".into(),
        });
    }
    super::preferences::at_most("feedbackText", body.feedback_text.as_deref(), 5000)?;
    super::preferences::at_most("feedbackCategory", body.feedback_category.as_deref(), 50)?;
    Ok(())
}

async fn record_feedback(
    state: &AppState,
    user: &User,
    m: &Message,
    body: &FeedbackRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let saved = ratings::insert(
        &mut conn,
        m.id,
        &user.id,
        &body.rating,
        body.feedback_text.as_deref(),
        body.feedback_category.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": saved.id,
        "messageId": saved.message_id,
        "rating": saved.rating,
        "feedbackText": saved.feedback_text,
        "feedbackCategory": saved.feedback_category,
        "createdAt": saved.created_at,
    })))
}

/// `SendMessageRequest`.
#[derive(Debug, Deserialize)]
struct SendMessage {
    content: String,
    #[serde(default = "super::research::auto")]
    research_depth: String,
    /// Ours: the original sends every chat message as deep research with the coordinator
    /// free to choose.
    #[serde(default = "super::research::deep_research")]
    query_mode: String,
}

impl RequestBody for SendMessage {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

impl SendMessage {
    fn request(self) -> Result<JobRequest, ApiError> {
        super::research::job_request(
            self.content,
            self.query_mode,
            self.research_depth,
            true,
            ["content", "queryMode", "researchDepth"],
        )
    }
}

/// A question in the chat: stored, and researched by a job whose events stream from
/// `/research/jobs/{researchSessionId}/stream`.
async fn send(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    body: Body<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let chat = ChatId(path.into_inner());
    let request = body.into_inner().request()?;
    {
        let mut conn = state.conn().await?;
        owned_chat(&mut conn, chat, &user).await?;
    }
    let submitted = submit::question(&jobs.pool, &jobs.config, &user.id, chat, &request).await?;
    let question = owned_message(&state, &user, chat, submitted.user_message_id).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "userMessage": MessageResponse::from(question),
        "agentMessageId": submitted.agent_message_id,
        "researchSessionId": submitted.session_id,
    })))
}

/// `EditMessageRequest` (plus, ours, an optional new mode and depth).
#[derive(Debug, Deserialize)]
struct EditMessage {
    content: String,
    research_depth: Option<String>,
    query_mode: Option<String>,
}

impl RequestBody for EditMessage {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

/// A question edited: the messages after it are removed and it is researched again,
/// as it was last time unless the body says otherwise.
async fn edit(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
    body: Body<EditMessage>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let (chat, message) = path.into_inner();
    let body = body.into_inner();
    // Validated as a full request; the defaults only stand in for absent fields.
    super::research::job_request(
        body.content.clone(),
        body.query_mode.clone().unwrap_or_else(deep_research),
        body.research_depth.clone().unwrap_or_else(auto),
        true,
        ["content", "queryMode", "researchDepth"],
    )?;
    let change = submit::Edit {
        content: body.content,
        query_mode: body.query_mode,
        research_depth: body.research_depth,
    };
    let (edited, removed, submitted) = submit::edit(
        &jobs.pool,
        &jobs.config,
        &user.id,
        ChatId(chat),
        MessageId(message),
        &change,
        &default_request(),
    )
    .await
    .map_err(|e| match e {
        submit::SubmitError::NotFound => ApiError::not_found("Message", message),
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "message": MessageResponse::from(edited),
        "removedMessageCount": removed,
        "agentMessageId": submitted.agent_message_id,
        "researchSessionId": submitted.session_id,
    })))
}

/// What a question is researched with when nothing says otherwise.
fn default_request() -> JobRequest {
    JobRequest {
        query: String::new(),
        query_mode: deep_research(),
        research_depth: auto(),
        verify_sources: true,
    }
}

/// A fresh answer to the question before agent message `message_id`.
async fn regenerate(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let jobs = state.research()?;
    let (chat, message) = path.into_inner();
    let submitted = submit::regenerate(
        &jobs.pool,
        &jobs.config,
        &user.id,
        ChatId(chat),
        MessageId(message),
        &default_request(),
    )
    .await
    .map_err(|e| match e {
        submit::SubmitError::NotFound => ApiError::not_found("Message", message),
        other => other.into(),
    })?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "newMessageId": submitted.agent_message_id,
        "researchSessionId": submitted.session_id,
    })))
}
