//! `dra serve`'s operations features over a real PostgreSQL: the audit log written by a
//! middleware for every successful mutation, the purge of chats deleted past retention,
//! and the chat export as markdown or JSON.

use std::time::{Duration, Instant};

use crate::support::serve::{audit_rows, call, migrated_pool, send, unlimited_app};
use crate::support::TestDb;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use dra::db::repo::messages::Role;
use dra::db::PgPool;
use dra::serve::IdentityMode;
use serde_json::{json, Value};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

async fn create_chat<S, B>(service: &S, user: &str, title: &str) -> uuid::Uuid
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, chat) = call(
        service,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": title})),
        Some(user),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    chat["id"].as_str().unwrap().parse().unwrap()
}

/// A research session of Alice's under `answer` in `chat`, stored straight in the database.
async fn insert_session(
    c: &tokio_postgres::Client,
    answer: uuid::Uuid,
    chat: uuid::Uuid,
) -> uuid::Uuid {
    let session = uuid::Uuid::new_v4();
    c.execute(
        "INSERT INTO research_sessions (id, message_id, query, user_id, chat_id) \
         VALUES ($1::text::uuid, $2::text::uuid, 'q', $3, $4::text::uuid)",
        &[
            &session.to_string(),
            &answer.to_string(),
            &ALICE,
            &chat.to_string(),
        ],
    )
    .await
    .unwrap();
    session
}

/// Alice deletes `chat` through the API.
async fn delete_chat<S, B>(service: &S, chat: uuid::Uuid)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, _) = call(
        service,
        TestRequest::delete().uri(&format!("/api/v1/chats/{chat}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// A message stored straight in the database, `seconds` after a fixed start so turns
/// keep their order.
async fn insert_message(
    pool: &PgPool,
    chat: uuid::Uuid,
    role: Role,
    content: &str,
    seconds: i64,
) -> uuid::Uuid {
    use dra::db::repo::messages::{self, NewMessage};
    use dra::db::repo::{ChatId, MessageId};
    let id = MessageId::new();
    let start = "2026-11-25T10:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    messages::insert(
        &mut conn,
        &NewMessage {
            id,
            chat_id: ChatId(chat),
            role,
            content: Some(content),
            created_at: start + chrono::Duration::seconds(seconds),
        },
    )
    .await
    .unwrap();
    id.0
}

#[actix_web::test]
async fn each_successful_mutation_leaves_one_audit_row_naming_action_resource_and_user() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;

    let chat = create_chat(&s, ALICE, "Delta wetlands").await;
    let audit_rows_now = audit_rows(&pool, ALICE, 1).await;
    assert_eq!(audit_rows_now.len(), 1);
    let (status, _) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{chat}"))
            .insert_header(("User-Agent", "dra-tests/1"))
            .insert_header(("X-Forwarded-For", "203.0.113.7, 10.0.0.1"))
            .set_json(json!({"title": "Wetland loss"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let message = insert_message(&pool, chat, Role::Agent, "# Report", 0).await;
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri(&format!("/api/v1/chats/{chat}/messages/{message}/feedback"))
            .set_json(json!({"rating": "positive", "feedbackText": "private words"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &s,
        TestRequest::delete().uri(&format!("/v1/chats/{chat}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let rows = audit_rows(&pool, ALICE, 4).await;
    let mut seen: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.action.as_str(),
                r.resource_type.as_str(),
                r.resource_id.as_deref(),
            )
        })
        .collect();
    // Rows are written concurrently; their order is not the requests' order.
    seen.sort();
    let (chat_id, message_id) = (chat.to_string(), message.to_string());
    assert_eq!(
        seen,
        vec![
            ("chat.create", "chat", Some(chat_id.as_str())),
            ("chat.delete", "chat", Some(chat_id.as_str())),
            ("chat.update", "chat", Some(chat_id.as_str())),
            ("message.feedback", "message", Some(message_id.as_str())),
        ]
    );
    assert!(rows.iter().all(|r| r.user_id == ALICE));
    let update = rows.iter().find(|r| r.action == "chat.update").unwrap();
    assert_eq!(
        update.details,
        Some(json!({"method": "PATCH", "path": format!("/api/v1/chats/{chat}"), "status": 200}))
    );
    assert_eq!(update.ip_address.as_deref(), Some("203.0.113.7"));
    assert_eq!(update.user_agent.as_deref(), Some("dra-tests/1"));
    let feedback = rows
        .iter()
        .find(|r| r.action == "message.feedback")
        .unwrap();
    assert!(
        !feedback
            .details
            .as_ref()
            .unwrap()
            .to_string()
            .contains("private"),
        "request bodies never reach the audit log"
    );
    let delete = rows.iter().find(|r| r.action == "chat.delete").unwrap();
    assert_eq!(delete.details.as_ref().unwrap()["status"], 204);
    assert!(audit_rows(&pool, BOB, 0).await.is_empty());
}

#[actix_web::test]
async fn reads_and_refused_mutations_leave_no_audit_row() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let missing = uuid::Uuid::new_v4();

    let (status, _) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &s,
        TestRequest::get().uri("/api/v1/preferences"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/chats/{missing}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &s,
        TestRequest::put()
            .uri("/api/v1/preferences")
            .set_json(json!({"theme": "x".repeat(50)})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // One audited change afterwards: once its row is there, any row the requests above
    // had wrongly caused would have been written too.
    let (status, _) = call(
        &s,
        TestRequest::put()
            .uri("/api/v1/preferences")
            .set_json(json!({"theme": "dark"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows = audit_rows(&pool, ALICE, 1).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["preferences.update"]);
    assert_eq!(rows[0].resource_type, "preferences");
}

#[actix_web::test]
async fn chats_deleted_past_retention_are_purged_with_everything_under_them() {
    use dra::db::repo::chats;
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let old = create_chat(&s, ALICE, "Deleted long ago").await;
    let recent = create_chat(&s, ALICE, "Deleted yesterday").await;
    let live = create_chat(&s, ALICE, "Still here").await;
    let mut answers = Vec::new();
    for chat in [old, recent, live] {
        insert_message(&pool, chat, Role::User, "question", 0).await;
        answers.push(insert_message(&pool, chat, Role::Agent, "answer", 1).await);
    }
    let c = db.client().await;
    // A research session with a source and a rating under the old chat's answer, so the
    // cascade is tested through more than one level.
    insert_session(&c, answers[0], old).await;
    c.execute(
        "INSERT INTO sources (research_session_id, url, chat_id) \
         SELECT id, 'https://a.example/', chat_id FROM research_sessions",
        &[],
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO message_feedback (message_id, user_id, rating) \
         VALUES ($1::text::uuid, $2, 'positive')",
        &[&answers[0].to_string(), &ALICE],
    )
    .await
    .unwrap();
    for (chat, days) in [(old, 31_i32), (recent, 1)] {
        delete_chat(&s, chat).await;
        c.execute(
            "UPDATE chats SET deleted_at = now() - make_interval(days => $2) \
             WHERE id = $1::text::uuid",
            &[&chat.to_string(), &days],
        )
        .await
        .unwrap();
    }

    let purged = dra::serve::purge::purge_once(&pool, Duration::from_secs(30 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let count = |sql: &'static str| {
        let c = &c;
        async move { c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let remaining: Vec<String> = c
        .query("SELECT id::text FROM chats ORDER BY title", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(remaining, vec![recent.to_string(), live.to_string()]);
    assert_eq!(count("SELECT count(*) FROM messages").await, 4);
    assert_eq!(count("SELECT count(*) FROM research_sessions").await, 0);
    assert_eq!(count("SELECT count(*) FROM sources").await, 0);
    assert_eq!(count("SELECT count(*) FROM message_feedback").await, 0);
    // A second pass finds nothing; yesterday's chat can still be restored.
    let mut conn = pool.get().await.unwrap();
    let again = chats::purge_deleted(&mut conn, chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(again, 0);
    drop(conn);
    let (status, _) = call(
        &s,
        TestRequest::post().uri(&format!("/api/v1/chats/{recent}/restore")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// A chat of Alice's with a question, an answer with one source, and a follow-up.
async fn chat_to_export<S, B>(s: &S, pool: &PgPool, db: &TestDb) -> uuid::Uuid
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let chat = create_chat(s, ALICE, "Delta wetlands").await;
    insert_message(pool, chat, Role::User, "Why do deltas sink?", 0).await;
    let answer = insert_message(pool, chat, Role::Agent, "Mostly subsidence [1].", 1).await;
    insert_message(pool, chat, Role::User, "And sea level?", 2).await;
    let c = db.client().await;
    let session = insert_session(&c, answer, chat).await;
    c.execute(
        "INSERT INTO sources (research_session_id, url, title) \
         VALUES ($1::text::uuid, 'https://a.example/sinking', 'Sinking deltas')",
        &[&session.to_string()],
    )
    .await
    .unwrap();
    chat
}

/// [`chat_to_export`] exported by Alice in `format`: the chat, and the status, headers and
/// body of the export.
async fn export(format: &str) -> (uuid::Uuid, StatusCode, HeaderMap, String) {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let chat = chat_to_export(&s, &pool, &db).await;
    let (status, headers, body) = send(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/export?format={format}")),
        Some(ALICE),
    )
    .await;
    (chat, status, headers, body)
}

#[actix_web::test]
async fn a_chat_exports_as_markdown_with_each_turn_in_order_and_its_sources() {
    let (chat, status, headers, body) = export("markdown").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers.get("content-disposition").unwrap(),
        &format!("attachment; filename=\"chat-{chat}.md\"")
    );
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert!(
        body.starts_with("# Delta wetlands\n\n**Exported**: "),
        "{body}"
    );
    let turns: Vec<(usize, &str)> = [
        "### **You**\n\nWhy do deltas sink?\n",
        "### **Agent**\n\nMostly subsidence [1].\n\n#### Sources\n\n- [Sinking deltas](https://a.example/sinking)\n",
        "### **You**\n\nAnd sea level?\n",
    ]
    .iter()
    .map(|turn| (body.find(turn).unwrap_or_else(|| panic!("{turn:?} in {body}")), *turn))
    .collect();
    assert!(turns.windows(2).all(|w| w[0].0 < w[1].0), "{body}");
}

#[actix_web::test]
async fn a_chat_exports_as_json_with_its_messages() {
    let (chat, status, headers, body) = export("json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers.get("content-disposition").unwrap(),
        &format!("attachment; filename=\"chat-{chat}.json\"")
    );
    let exported: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(exported["id"], chat.to_string());
    assert_eq!(exported["title"], "Delta wetlands");
    assert_eq!(exported["status"], "active");
    assert_eq!(exported["message_count"], 3);
    let turns: Vec<(&str, &str)> = exported["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        [
            ("user", "Why do deltas sink?"),
            ("agent", "Mostly subsidence [1]."),
            ("user", "And sea level?"),
        ]
    );
    assert_eq!(exported["messages"][0]["is_edited"], false);
}

#[actix_web::test]
async fn an_export_needs_a_known_format_and_the_owners_live_chat() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let chat = chat_to_export(&s, &pool, &db).await;

    for query in ["?format=pdf", "", "?format=Markdown"] {
        let (status, body) = call(
            &s,
            TestRequest::get().uri(&format!("/api/v1/chats/{chat}/export{query}")),
            Some(ALICE),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["query", "format"]),
            "{body}"
        );
    }
    let (status, body) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/export?format=json")),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["details"]["resource"], "Chat");
    delete_chat(&s, chat).await;
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/export?format=markdown")),
        Some(ALICE),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted chat is not exported"
    );
}

#[actix_web::test]
async fn the_purge_task_runs_once_at_start() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let chat = create_chat(&s, ALICE, "Deleted long ago").await;
    delete_chat(&s, chat).await;
    let c = db.client().await;
    c.execute(
        "UPDATE chats SET deleted_at = now() - interval '2 hours'",
        &[],
    )
    .await
    .unwrap();

    let task = dra::serve::purge::spawn(
        pool.clone(),
        dra::config::RetentionSection {
            deleted_chats: Duration::from_secs(3600),
            purge_interval: Duration::from_secs(3600),
        },
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = loop {
        let left: i64 = c
            .query_one("SELECT count(*) FROM chats", &[])
            .await
            .unwrap()
            .get(0);
        if left == 0 || Instant::now() > deadline {
            break left == 0;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    task.abort();
    assert!(
        gone,
        "the first pass runs when the task starts, not an interval later"
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The JSON events with target `dra::access`.
    fn access_events(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "dra::access")
            .collect()
    }
}

#[actix_web::test]
async fn each_request_leaves_one_structured_access_event_carrying_its_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = unlimited_app(None, IdentityMode::Production).await;

    let chat = uuid::Uuid::new_v4();
    let (status, headers, _) = send(
        &s,
        TestRequest::get()
            .uri(&format!("/api/v1/chats/{chat}?q=private+words"))
            .insert_header(("X-Request-Id", "req-42"))
            .insert_header(("X-Forwarded-For", "203.0.113.9")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no database here");
    assert_eq!(headers.get("x-request-id").unwrap(), "req-42");
    let (status, headers, _) = send(
        &s,
        TestRequest::get()
            .uri("/health")
            .insert_header(("X-Request-Id", "bad id\twith tab")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let fresh = headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");

    let events = captured.access_events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let first = &events[0];
    assert_eq!(first["request_id"], "req-42");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], format!("/api/v1/chats/{chat}"));
    assert_eq!(first["route"], "/api/v1/chats/{chat_id}");
    assert_eq!(first["status"], 503);
    assert_eq!(first["client"], "203.0.113.9");
    assert!(first["duration_ms"].as_f64().is_some(), "{first}");
    assert!(
        !first.to_string().contains("private"),
        "the query string is not logged: {first}"
    );
    assert_eq!(events[1]["request_id"], fresh.as_str());
    assert_eq!(events[1]["status"], 200);
}
