//! `/api/v1/chats`: list (paginated, searchable), create, get, rename or archive, soft
//! delete, restore. Another user's chat is 404, exactly like an unknown one.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Routes;
use crate::db::repo::chats::{self, ChatQuery, ChatStatus, ChatSummary};
use crate::db::repo::ChatId;
use crate::serve::body::{Body, Keys, RequestBody};
use crate::serve::{audit, ApiError, AppState, User};

/// The original's title limit.
const MAX_TITLE: usize = 200;

pub(super) fn mount(r: &mut Routes) {
    r.get("/chats", list)
        .post("/chats", create)
        .get("/chats/{chat_id}", get)
        .patch("/chats/{chat_id}", update)
        .delete("/chats/{chat_id}", delete)
        .post("/chats/{chat_id}/restore", restore);
}

/// The docs' older `/v1` chat routes: the same chats, their list as `{"chats": [...]}`
/// and one chat with its messages.
pub(super) fn mount_v1(r: &mut Routes) {
    r.get("/chats", list_v1)
        .post("/chats", create)
        .get("/chats/{chat_id}", get_v1)
        .delete("/chats/{chat_id}", delete);
}

/// `ChatResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChatResponse {
    id: Uuid,
    title: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    message_count: i64,
}

impl From<ChatSummary> for ChatResponse {
    fn from(s: ChatSummary) -> ChatResponse {
        ChatResponse {
            id: s.chat.id.0,
            title: s.chat.title,
            status: s.chat.status,
            created_at: s.chat.created_at,
            updated_at: s.chat.updated_at,
            message_count: s.message_count,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
    search: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `ChatCreate`: the original's route takes it as an optional body (`ChatCreate | None`),
/// so none, an empty one or `null` is a chat without a title.
#[derive(Debug, Default, Deserialize)]
struct ChatCreate {
    title: Option<String>,
}

impl RequestBody for ChatCreate {
    const KEYS: Keys = Keys::NameOrCamelAlias;

    fn when_absent() -> Option<Self> {
        Some(ChatCreate::default())
    }
}

/// `ChatUpdate`.
#[derive(Debug, Deserialize)]
struct ChatUpdate {
    title: Option<String>,
    status: Option<String>,
}

impl RequestBody for ChatUpdate {
    const KEYS: Keys = Keys::NameOrCamelAlias;
}

async fn list(
    state: web::Data<AppState>,
    user: User,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = super::page(params.limit, params.offset)?;
    let status = params
        .status
        .as_deref()
        .map(|s| {
            ChatStatus::parse(s).ok_or_else(|| {
                unprocessable("query", "status", "must be active, archived or deleted")
            })
        })
        .transpose()?;
    let query = ChatQuery {
        status,
        search: params.search.as_deref(),
        limit,
        offset,
        without_total: false,
    };
    let mut conn = state.conn().await?;
    let (items, total) = chats::list(&mut conn, &user.id, &query).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items.into_iter().map(ChatResponse::from).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

async fn create(
    state: web::Data<AppState>,
    user: User,
    body: Body<ChatCreate>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let title = checked_title(request.title.as_deref())?.filter(|t| !t.is_empty());
    let id = ChatId::new();
    let mut conn = state.conn().await?;
    chats::create(&mut conn, id, &user.id, title).await?;
    let chat = chats::get_for_user(&mut conn, id, &user.id, false)
        .await?
        .ok_or_else(|| ApiError::Internal("a created chat could not be read back".into()))?;
    Ok(audit::created(
        HttpResponse::Created().json(ChatResponse::from(chat)),
        id,
    ))
}

async fn get(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    found(
        chats::get_for_user(&mut conn, id, &user.id, false).await?,
        id,
    )
}

async fn update(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    body: Body<ChatUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = ChatId(path.into_inner());
    let body = body.into_inner();
    let title = checked_title(body.title.as_deref())?;
    // Deleting goes through DELETE, so it can be undone with restore.
    let status = match body.status.as_deref() {
        None => None,
        Some("deleted") => return Err(ApiError::invalid("status", "use DELETE to delete a chat")),
        Some(s) => Some(
            ChatStatus::parse(s)
                .ok_or_else(|| unprocessable("body", "status", "must be active or archived"))?,
        ),
    };
    let mut conn = state.conn().await?;
    found(
        chats::update(&mut conn, id, &user.id, title, status).await?,
        id,
    )
}

async fn delete(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    if chats::soft_delete(&mut conn, id, &user.id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("Chat", id))
    }
}

async fn restore(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    found(chats::restore(&mut conn, id, &user.id).await?, id)
}

/// The chat as the answer, or 404 when there was none to act on.
fn found(chat: Option<ChatSummary>, id: ChatId) -> Result<HttpResponse, ApiError> {
    chat.map(|c| HttpResponse::Ok().json(ChatResponse::from(c)))
        .ok_or_else(|| ApiError::not_found("Chat", id))
}

/// A title the schema can hold: trimmed, at most [`MAX_TITLE`] characters.
fn checked_title(title: Option<&str>) -> Result<Option<&str>, ApiError> {
    match title.map(str::trim) {
        Some(t) if t.chars().count() > MAX_TITLE => Err(unprocessable(
            "body",
            "title",
            "must be at most 200 characters",
        )),
        other => Ok(other),
    }
}

fn unprocessable(location: &'static str, name: &'static str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        location,
        name,
        message: message.into(),
    }
}

/// `GET /v1/chats`: every live chat of the user, most recent first.
async fn list_v1(state: web::Data<AppState>, user: User) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let query = ChatQuery {
        limit: 100,
        without_total: true,
        ..ChatQuery::default()
    };
    let (items, _) = chats::list(&mut conn, &user.id, &query).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "chats": items.into_iter().map(ChatResponse::from).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/chats/{id}`: the chat with its messages, oldest first.
async fn get_v1(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    let chat = chats::get_for_user(&mut conn, id, &user.id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("Chat", id))?;
    let (messages, _) = crate::db::repo::messages::page(&mut conn, id, i64::MAX, 0).await?;
    let mut body = serde_json::to_value(ChatResponse::from(chat))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    body["messages"] = messages
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "role": crate::db::repo::messages::Role::parse(&m.role)
                    .unwrap_or(crate::db::repo::messages::Role::Agent)
                    .as_str(),
                "content": m.content.unwrap_or_default(),
                "createdAt": m.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}
