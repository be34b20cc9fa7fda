//! `GET /api/v1/chats/{chat_id}/export?format=markdown|json`: a whole chat as a download,
//! in the original's shapes: markdown with a header, each turn under `### **You**` or
//! `### **Agent**` and an answer's sources after it; or the chat and its messages as JSON.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Routes;
use crate::db::repo::chats::{self, ChatSummary};
use crate::db::repo::messages::{self, Message, Role};
use crate::db::repo::{sources, ChatId};
use crate::serve::{ApiError, AppState, User};

/// The original exports at most this many messages of a chat.
const MAX_MESSAGES: i64 = 1000;

pub(super) fn mount(r: &mut Routes) {
    r.get("/chats/{chat_id}/export", export);
}

/// The two formats; the query parameter is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Markdown,
    Json,
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    format: Option<String>,
}

/// A source listed under an answer.
struct SourceLink {
    url: String,
    title: Option<String>,
}

async fn export(
    state: web::Data<AppState>,
    user: User,
    path: web::Path<Uuid>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    // FastAPI validates the query before the handler runs: a bad format is 422 whoever
    // owns the chat.
    let format = match params.format.as_deref() {
        Some("markdown") => Format::Markdown,
        Some("json") => Format::Json,
        Some(_) => {
            return Err(bad_format(
                "String should match pattern '^(markdown|json)$'",
            ))
        }
        None => return Err(bad_format("Field required")),
    };
    let id = ChatId(path.into_inner());
    let mut conn = state.conn().await?;
    let chat = chats::get_for_user(&mut conn, id, &user.id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("Chat", id))?;
    let (messages, total) = messages::page(&mut conn, id, MAX_MESSAGES, 0).await?;
    Ok(match format {
        Format::Markdown => {
            let answers: Vec<Uuid> = messages
                .iter()
                .filter(|m| m.role != Role::User.as_str())
                .map(|m| m.id.0)
                .collect();
            let mut by_message: HashMap<Uuid, Vec<SourceLink>> = HashMap::new();
            for (message, url, title) in sources::for_messages(&mut conn, &answers).await? {
                by_message
                    .entry(message)
                    .or_default()
                    .push(SourceLink { url, title });
            }
            attachment(
                "text/markdown; charset=utf-8",
                &format!("chat-{id}.md"),
                markdown(&chat, &messages, &by_message, Utc::now()),
            )
        }
        Format::Json => {
            let body = serde_json::to_string_pretty(&as_json(&chat, &messages, total))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            attachment("application/json", &format!("chat-{id}.json"), body)
        }
    })
}

fn bad_format(message: &str) -> ApiError {
    ApiError::Unprocessable {
        location: "query",
        name: "format",
        message: message.into(),
    }
}

/// `body` as a download named `filename` (built from a UUID, so nothing in it needs
/// quoting).
fn attachment(content_type: &str, filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// The original's markdown export.
fn markdown(
    chat: &ChatSummary,
    messages: &[Message],
    sources: &HashMap<Uuid, Vec<SourceLink>>,
    now: DateTime<Utc>,
) -> String {
    const STAMP: &str = "%Y-%m-%d %H:%M:%S";
    // A title is one line; a newline in it would end the heading early.
    let title = chat
        .chat
        .title
        .as_deref()
        .map(|t| t.replace(['\r', '\n'], " "))
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "Untitled Chat".into());
    let mut lines = vec![
        format!("# {title}"),
        String::new(),
        format!("**Exported**: {}", now.format(STAMP)),
        format!("**Created**: {}", chat.chat.created_at.format(STAMP)),
        String::new(),
        "---".into(),
        String::new(),
    ];
    for m in messages {
        let is_user = m.role == Role::User.as_str();
        lines.push(
            if is_user {
                "### **You**"
            } else {
                "### **Agent**"
            }
            .into(),
        );
        lines.push(String::new());
        lines.push(m.content.clone().unwrap_or_default());
        lines.push(String::new());
        let Some(links) = sources.get(&m.id.0).filter(|_| !is_user) else {
            continue;
        };
        lines.push("#### Sources".into());
        lines.push(String::new());
        for link in links {
            let title = link.title.as_deref().unwrap_or(&link.url);
            lines.push(format!("- [{title}]({})", link.url));
        }
        lines.push(String::new());
    }
    lines.join("\n")
}

/// The original's JSON export: snake_case keys, roles as stored.
fn as_json(chat: &ChatSummary, messages: &[Message], total: i64) -> serde_json::Value {
    json!({
        "id": chat.chat.id,
        "title": chat.chat.title,
        "status": chat.chat.status,
        "created_at": chat.chat.created_at,
        "updated_at": chat.chat.updated_at,
        "message_count": total,
        "messages": messages.iter().map(|m| json!({
            "id": m.id,
            "role": Role::parse(&m.role).unwrap_or(Role::Agent).as_str(),
            "content": m.content,
            "created_at": m.created_at,
            "is_edited": m.is_edited,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::repo::chats::Chat;
    use crate::db::repo::MessageId;

    fn message(role: Role, content: &str) -> Message {
        Message {
            id: MessageId::new(),
            chat_id: ChatId(Uuid::nil()),
            role: role.as_str().into(),
            content: Some(content.into()),
            research_session_id: None,
            is_edited: false,
            metadata: json!({}),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn markdown_has_the_header_each_turn_in_order_and_an_answers_sources() {
        let at = "2026-11-25T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let chat = ChatSummary {
            chat: Chat {
                id: ChatId(Uuid::nil()),
                user_id: "u".into(),
                title: Some("Delta\nwetlands".into()),
                status: "active".into(),
                created_at: at,
                updated_at: at,
            },
            message_count: 2,
        };
        let question = message(Role::User, "Why do deltas sink?");
        let answer = message(Role::Agent, "Subsidence [1].");
        let sources = HashMap::from([(
            answer.id.0,
            vec![
                SourceLink {
                    url: "https://a.example/".into(),
                    title: Some("A study".into()),
                },
                SourceLink {
                    url: "https://b.example/".into(),
                    title: None,
                },
            ],
        )]);
        let md = markdown(&chat, &[question, answer], &sources, at);
        assert_eq!(
            md,
            "# Delta wetlands\n\n**Exported**: 2026-11-25 10:00:00\n**Created**: 2026-11-25 10:00:00\n\n---\n\n\
             ### **You**\n\nWhy do deltas sink?\n\n\
             ### **Agent**\n\nSubsidence [1].\n\n\
             #### Sources\n\n- [A study](https://a.example/)\n- [https://b.example/](https://b.example/)\n"
        );
    }
}
