//! `dra serve`'s API over a real PostgreSQL: chats (lifecycle, pagination, search, per-user
//! isolation), identity in production and development, malformed input, health, and a
//! verified run's provenance read back through the original's routes.

use std::sync::Arc;

use crate::support::serve::{app, call, migrated_pool, pool_for, send, unlimited_app};
use crate::support::world::Fakes;
use crate::support::TestDb;
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use dra::config::AppConfig;
use dra::db::PgPool;
use dra::serve::{AppState, IdentityMode, LimitClock, RateLimits};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

#[actix_web::test]
async fn a_chat_lives_is_renamed_deleted_and_restored_and_lists_page_and_search() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;

    let (status, created) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "Delta wetlands"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["title"], "Delta wetlands");
    assert_eq!(created["status"], "active");
    assert_eq!(created["messageCount"], 0);
    let id = created["id"].as_str().unwrap().to_string();
    for title in ["Sodium batteries", "Glacier melt", "River deltas in Asia"] {
        let (status, _) = call(
            &s,
            TestRequest::post()
                .uri("/api/v1/chats")
                .set_json(json!({"title": title})),
            Some(ALICE),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // No body at all is a chat without a title, as in the original.
    let (status, untitled) = call(&s, TestRequest::post().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::CREATED, "{untitled}");

    let (status, page) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?limit=2&offset=1"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 5);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    let (_, found) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?search=DELTA"),
        Some(ALICE),
    )
    .await;
    let titles: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{found}");
    assert!(titles.contains(&"Delta wetlands") && titles.contains(&"River deltas in Asia"));
    // LIKE wildcards in a search are literal.
    let (_, none) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?search=%25"),
        Some(ALICE),
    )
    .await;
    assert_eq!(none["total"], 0, "{none}");

    let uri = format!("/api/v1/chats/{id}");
    let (status, renamed) = call(
        &s,
        TestRequest::patch()
            .uri(&uri)
            .set_json(json!({"title": "Wetland loss"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["title"], "Wetland loss");
    let (_, archived) = call(
        &s,
        TestRequest::patch()
            .uri(&uri)
            .set_json(json!({"status": "archived"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(archived["status"], "archived");

    let (status, body) = call(&s, TestRequest::delete().uri(&uri), Some(ALICE)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, gone) = call(&s, TestRequest::get().uri(&uri), Some(ALICE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["code"], "NOT_FOUND");
    assert_eq!(gone["details"]["resource"], "Chat");
    let (_, live) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(live["total"], 4);
    let (_, deleted) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?status=deleted"),
        Some(ALICE),
    )
    .await;
    assert_eq!(deleted["total"], 1);
    assert_eq!(deleted["items"][0]["id"], id.as_str());
    // Deleting twice is a 404: there is no live chat to delete.
    let (status, _) = call(&s, TestRequest::delete().uri(&uri), Some(ALICE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, restored) = call(
        &s,
        TestRequest::post().uri(&format!("{uri}/restore")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["status"], "active");
    assert_eq!(restored["title"], "Wetland loss");
    let (status, _) = call(&s, TestRequest::get().uri(&uri), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    // A live chat cannot be restored.
    let (status, _) = call(
        &s,
        TestRequest::post().uri(&format!("{uri}/restore")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn another_users_chat_is_not_found_whatever_they_try() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let (_, created) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "Private"})),
        Some(ALICE),
    )
    .await;
    let uri = format!("/api/v1/chats/{}", created["id"].as_str().unwrap());

    for req in [
        TestRequest::get().uri(&uri),
        TestRequest::patch()
            .uri(&uri)
            .set_json(json!({"title": "Mine now"})),
        TestRequest::delete().uri(&uri),
        TestRequest::post().uri(&format!("{uri}/restore")),
    ] {
        let (status, body) = call(&s, req, Some(BOB)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(!body.to_string().contains(ALICE), "no leak: {body}");
    }
    let (_, bobs) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(BOB)).await;
    assert_eq!(bobs["total"], 0);
    // Alice's chat is untouched.
    let (status, mine) = call(&s, TestRequest::get().uri(&uri), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["title"], "Private");
}

#[actix_web::test]
async fn production_needs_the_proxy_identity_and_development_has_a_local_one() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let prod = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let response =
        test::call_service(&prod, TestRequest::get().uri("/api/v1/chats").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get("WWW-Authenticate").unwrap(),
        "Bearer"
    );

    let dev = unlimited_app(
        Some(pool),
        IdentityMode::Development {
            local_user: "dev@localhost".into(),
        },
    )
    .await;
    let (status, _) = call(
        &dev,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "Local"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, local) = call(&dev, TestRequest::get().uri("/api/v1/chats"), None).await;
    assert_eq!(local["total"], 1);
    // The proxy header still wins in development.
    let (_, alices) = call(&dev, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(alices["total"], 0);
}

#[actix_web::test]
async fn bad_input_gets_the_status_and_field_it_deserves() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;

    let (status, body) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?limit=0"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]));
    let (status, body) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?status=lost"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "status"]));
    let (status, _) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats?limit=ten"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = call(
        &s,
        TestRequest::get().uri("/api/v1/chats/not-a-uuid"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Malformed JSON is FastAPI's 422 `json_invalid`, at a character offset.
    let malformed = TestRequest::post()
        .uri("/api/v1/chats")
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{\"title\": ");
    let (status, body) = call(&s, malformed, Some(ALICE)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid", "{body}");
    assert_eq!(body["detail"][0]["loc"][0], "body", "{body}");
    assert!(body["detail"][0]["loc"][1].is_u64(), "{body}");

    let (status, body) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "x".repeat(201)})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "title"]));

    let (status, body) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{}", uuid::Uuid::new_v4()))
            .set_json(json!({"status": 5})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "status"]));

    let huge = json!({"title": "x".repeat(dra::serve::MAX_JSON_BODY)});
    let (status, _) = call(
        &s,
        TestRequest::post().uri("/api/v1/chats").set_json(huge),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (_, list) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(list["total"], 0, "no bad request created a chat");
}

#[actix_web::test]
async fn health_checks_the_database_rather_than_assuming_it() {
    let db = TestDb::new().await;
    let up = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    for path in ["/health", "/api/v1/health"] {
        let (status, body) = call(&up, TestRequest::get().uri(path), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["database"], "connected");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }

    // A database nobody listens on: health says so with 503, data routes too.
    let down = unlimited_app(
        Some(pool_for("postgres://postgres@127.0.0.1:1/nothing").await),
        IdentityMode::Production,
    )
    .await;
    let (status, body) = call(&down, TestRequest::get().uri("/api/v1/health"), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unhealthy");
    let (status, body) = call(&down, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(!body.to_string().contains("postgres://"), "{body}");

    let none = unlimited_app(None, IdentityMode::Production).await;
    let (status, body) = call(&none, TestRequest::get().uri("/health"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "not_configured");
    let (status, _) = call(&none, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn a_verified_runs_provenance_is_served_to_its_owner_only() {
    let fakes = Fakes::start().await;
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    fakes.script_one_step_run("Deltas");
    fakes.verifier_says_supported();
    let out_dir = tempfile::tempdir().unwrap();
    let run = fakes
        .dra([
            "research",
            "-q",
            "--verify",
            "--out",
            out_dir.path().to_str().unwrap(),
            "How fast are deltas losing wetlands?",
        ])
        .env("DATABASE_URL", db.url())
        .env("DRA_USER", ALICE)
        .run()
        .await;
    assert!(run.ok(), "{run:?}");
    let exported: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("provenance.json")).unwrap(),
    )
    .unwrap();
    let message = exported["messageId"].as_str().unwrap().to_string();
    let s = unlimited_app(Some(pool), IdentityMode::Production).await;

    let (status, claims) = call(
        &s,
        TestRequest::get().uri(&format!(
            "/api/v1/messages/{message}/claims?include_corrections=true"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claims}");
    assert_eq!(claims["messageId"], message.as_str());
    let claim_list = claims["claims"].as_array().unwrap();
    assert_eq!(
        claim_list.len(),
        exported["claims"].as_array().unwrap().len()
    );
    let claim_id = claim_list[0]["id"].as_str().unwrap().to_string();

    let (status, summary) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message}/verification-summary")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(summary, exported["summary"]);

    let (status, export) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message}/provenance")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["claims"], exported["claims"]);
    let (status, markdown) = call(
        &s,
        TestRequest::get().uri(&format!(
            "/api/v1/messages/{message}/provenance?format=markdown"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, report) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message}/report")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let report = report.as_str().unwrap().to_string();
    assert!(report.starts_with("# Deltas"), "{report}");
    assert!(report.contains("## References"), "{report}");
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message}/report")),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/v1/messages/{message}/report")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        markdown.as_str().unwrap().contains("Verification Report"),
        "{markdown}"
    );
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message}/provenance?format=pdf")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, one) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/claims/{claim_id}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], claim_id.as_str());
    let (status, evidence) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/claims/{claim_id}/evidence")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{evidence}");
    assert_eq!(evidence["claimId"], claim_id.as_str());

    // Bob sees none of it, and cannot tell it exists.
    for uri in [
        format!("/api/v1/messages/{message}/claims"),
        format!("/api/v1/messages/{message}/verification-summary"),
        format!("/api/v1/messages/{message}/provenance"),
        format!("/api/v1/claims/{claim_id}"),
        format!("/api/v1/claims/{claim_id}/evidence"),
    ] {
        let (status, body) = call(&s, TestRequest::get().uri(&uri), Some(BOB)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
    }
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/claims/{unknown}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The run's chat holds the question and the report.
    let (_, chats) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(chats["total"], 1);
    assert_eq!(chats["items"][0]["messageCount"], 2);
    let chat = chats["items"][0]["id"].as_str().unwrap().to_string();
    let (status, page) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/messages")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[0]["content"], "How fast are deltas losing wetlands?");
    assert_eq!(items[1]["role"], "agent");
    assert_eq!(items[1]["id"], message.as_str());
    assert!(items[1]["content"]
        .as_str()
        .unwrap()
        .starts_with("# Deltas"));
    let (_, second) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/messages?limit=1&offset=1")),
        Some(ALICE),
    )
    .await;
    assert_eq!(second["items"][0]["id"], message.as_str());
    let (status, one) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/messages/{message}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["chatId"], chat.as_str());
    assert_eq!(one["isEdited"], false);
    let (_, copied) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/messages/{message}/copy")),
        Some(ALICE),
    )
    .await;
    assert_eq!(copied["content"], items[1]["content"]);
    // Through another chat of Alice's, or as Bob, the message does not exist.
    let (_, other) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "Other"})),
        Some(ALICE),
    )
    .await;
    let other = other["id"].as_str().unwrap();
    for (user, uri) in [
        (ALICE, format!("/api/v1/chats/{other}/messages/{message}")),
        (BOB, format!("/api/v1/chats/{chat}/messages/{message}")),
        (BOB, format!("/api/v1/chats/{chat}/messages")),
        (BOB, format!("/api/v1/chats/{chat}/messages/{message}/copy")),
    ] {
        let (status, body) = call(&s, TestRequest::get().uri(&uri), Some(user)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{user} {uri}: {body}");
    }
}

#[actix_web::test]
async fn preferences_start_at_the_defaults_and_keep_what_each_user_sets() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let (status, prefs) = call(
        &s,
        TestRequest::get().uri("/api/v1/preferences"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    assert_eq!(prefs["defaultResearchDepth"], "auto");
    assert_eq!(
        prefs["defaultQueryMode"], "deep_research",
        "a new user starts in deep research"
    );
    assert_eq!(prefs["theme"], "system");
    assert_eq!(prefs["notificationsEnabled"], true);
    assert!(prefs["systemInstructions"].is_null());

    let (status, updated) = call(
        &s,
        TestRequest::put()
            .uri("/api/v1/preferences")
            .set_json(json!({"defaultResearchDepth": "extended", "theme": "dark"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["defaultResearchDepth"], "extended");
    assert_eq!(updated["theme"], "dark");
    assert_eq!(
        updated["defaultQueryMode"], "deep_research",
        "untouched fields stay"
    );
    let (_, again) = call(
        &s,
        TestRequest::put()
            .uri("/api/v1/preferences")
            .set_json(json!({"systemInstructions": "Cite primary sources."})),
        Some(ALICE),
    )
    .await;
    assert_eq!(again["theme"], "dark");
    assert_eq!(again["systemInstructions"], "Cite primary sources.");

    let (status, body) = call(
        &s,
        TestRequest::put()
            .uri("/api/v1/preferences")
            .set_json(json!({"defaultResearchDepth": "bottomless"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "defaultResearchDepth"])
    );

    let (_, bobs) = call(&s, TestRequest::get().uri("/api/v1/preferences"), Some(BOB)).await;
    assert_eq!(bobs["theme"], "system", "each user has their own");
}

#[actix_web::test]
async fn every_preference_field_is_validated_and_a_refused_update_stores_nothing() {
    // Issue 19 #7: `{"theme": "neon"}` was answered 200 and stored.
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let put = |body: Value| TestRequest::put().uri("/api/v1/preferences").set_json(body);
    let (status, _) = call(&s, put(json!({"theme": "dark"})), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    for (body, field, says) in [
        (
            json!({"theme": "neon"}),
            "theme",
            "'light', 'dark' or 'system'",
        ),
        (json!({"theme": 5}), "theme", ""),
        (
            json!({"default_research_depth": "deep"}),
            "defaultResearchDepth",
            "'auto', 'light', 'medium' or 'extended'",
        ),
        (
            json!({"defaultQueryMode": "chat"}),
            "defaultQueryMode",
            "'simple', 'web_search' or 'deep_research'",
        ),
        (
            json!({"systemInstructions": "x".repeat(10_001)}),
            "systemInstructions",
            "10000",
        ),
        (
            json!({"notificationsEnabled": "maybe"}),
            "notificationsEnabled",
            "boolean",
        ),
        (
            json!({"system_instructions": "cite\u{0}primary"}),
            "systemInstructions",
            "NUL",
        ),
    ] {
        let (status, answer) = call(&s, put(body.clone()), Some(ALICE)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", field]),
            "{body}: {answer}"
        );
        let msg = answer["detail"][0]["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{body}: {msg}");
    }
    let (_, prefs) = call(
        &s,
        TestRequest::get().uri("/api/v1/preferences"),
        Some(ALICE),
    )
    .await;
    assert_eq!(
        prefs["theme"], "dark",
        "nothing refused was stored: {prefs}"
    );
    assert!(prefs["systemInstructions"].is_null(), "{prefs}");
    // Each accepted value, in either spelling.
    for theme in ["light", "dark", "system"] {
        let (status, prefs) = call(&s, put(json!({"theme": theme})), Some(ALICE)).await;
        assert_eq!(
            (status, prefs["theme"].as_str()),
            (StatusCode::OK, Some(theme))
        );
    }
}

#[actix_web::test]
async fn feedback_is_recorded_on_the_owners_message_only() {
    use dra::db::repo::messages::Role;

    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let (_, chat) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "Rated"})),
        Some(ALICE),
    )
    .await;
    let chat_id: uuid::Uuid = chat["id"].as_str().unwrap().parse().unwrap();
    let message = insert_message(&pool, chat_id, Role::Agent, "# Report").await;
    let uri = format!("/api/v1/chats/{chat_id}/messages/{message}/feedback");
    let (status, saved) = call(
        &s,
        TestRequest::post()
            .uri(&uri)
            .set_json(json!({"rating": "positive", "feedbackText": "Clear and well cited"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["rating"], "positive");
    assert_eq!(saved["messageId"], message.to_string());
    assert_eq!(saved["feedbackText"], "Clear and well cited");

    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri(&uri)
            .set_json(json!({"rating": "meh"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri(&uri)
            .set_json(json!({"rating": "negative"})),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let c = db.client().await;
    let stored: i64 = c
        .query_one("SELECT count(*) FROM message_feedback", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "only Alice's valid rating is stored");
}

/// A write as the original's frontend sends it: JSON with `Content-Type: application/json`.
fn json_write(method: Method, uri: &str, body: Value) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri(uri)
        .set_json(body)
}

#[actix_web::test]
async fn bodies_are_taken_in_the_originals_spellings_and_unknown_keys_are_ignored() {
    use dra::db::repo::messages::Role;

    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;

    // The original's Settings page saves in snake_case; dra's UI in camelCase.
    let (status, saved) = call(
        &s,
        json_write(
            Method::PUT,
            "/api/v1/preferences",
            json!({
                "system_instructions": "Cite primary sources.",
                "default_research_depth": "extended",
                "default_query_mode": "web_search",
                "theme": "dark",
                "notifications_enabled": false,
                "not_a_preference": 1,
            }),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["systemInstructions"], "Cite primary sources.");
    assert_eq!(saved["defaultResearchDepth"], "extended");
    assert_eq!(saved["defaultQueryMode"], "web_search");
    assert_eq!(saved["notificationsEnabled"], false);
    let (status, saved) = call(
        &s,
        json_write(
            Method::PUT,
            "/api/v1/preferences",
            json!({"defaultQueryMode": "simple"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["defaultQueryMode"], "simple");
    assert_eq!(saved["theme"], "dark", "untouched fields stay");
    // A value checked after reading is named as the client may spell it too.
    let (status, body) = call(
        &s,
        json_write(
            Method::PUT,
            "/api/v1/preferences",
            json!({"default_query_mode": "guess"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "defaultQueryMode"])
    );

    // Chats: a `null` body or none at all is a chat without a title (the original's body
    // is optional); extra keys, as the frontend sends them, are ignored.
    for request in [
        json_write(Method::POST, "/api/v1/chats", Value::Null),
        TestRequest::post().uri("/api/v1/chats"),
        TestRequest::post()
            .uri("/api/v1/chats")
            .insert_header(("Content-Type", "application/json")),
    ] {
        let (status, chat) = call(&s, request, Some(ALICE)).await;
        assert_eq!(status, StatusCode::CREATED, "{chat}");
        assert!(chat["title"].is_null(), "{chat}");
    }
    let (status, chat) = call(
        &s,
        json_write(
            Method::POST,
            "/api/v1/chats",
            json!({"title": "Deltas", "id": "ignored", "createdAt": "ignored"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    assert_eq!(chat["title"], "Deltas");
    let id = chat["id"].as_str().unwrap().to_string();
    let (status, chat) = call(
        &s,
        json_write(
            Method::PATCH,
            &format!("/api/v1/chats/{id}"),
            json!({"title": "Wetlands", "messageCount": 3, "pinned": true}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    assert_eq!(chat["title"], "Wetlands");
    // A JSON body without any Content-Type is still JSON, as FastAPI reads it.
    let (status, chat) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_payload(r#"{"title": "No header"}"#),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    assert_eq!(chat["title"], "No header");

    // Feedback in snake_case; the original's frontend's `{rating: 1}` is refused, as the
    // original refuses it (its rating is "positive" or "negative").
    let message = insert_message(&pool, id.parse().unwrap(), Role::Agent, "# Report").await;
    let uri = format!("/api/v1/chats/{id}/messages/{message}/feedback");
    let (status, saved) = call(
        &s,
        json_write(
            Method::POST,
            &uri,
            json!({"rating": "negative", "feedback_text": "A source is missing", "feedback_category": "sources"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["feedbackText"], "A source is missing");
    assert_eq!(saved["feedbackCategory"], "sources");
    let (status, body) = call(
        &s,
        json_write(
            Method::POST,
            &uri,
            json!({"rating": 1, "error_report": "wrong"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "rating"]));
    let (status, body) = call(&s, json_write(Method::POST, &uri, json!({})), Some(ALICE)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["detail"][0],
        json!({"type": "missing", "loc": ["body", "rating"], "msg": "Field required"})
    );

    // The job submission is a plain pydantic model: snake_case only, so `chatId` is an
    // unknown key and `chat_id` is missing.
    let (status, body) = call(
        &s,
        json_write(
            Method::POST,
            "/api/v1/research/jobs",
            json!({"chatId": id, "query": "q"}),
        ),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "chat_id"]));
    // A body a route needs may not be `null`.
    let (status, body) = call(
        &s,
        json_write(Method::PUT, "/api/v1/preferences", Value::Null),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["detail"][0],
        json!({"type": "missing", "loc": ["body"], "msg": "Field required"})
    );
}

#[actix_web::test]
async fn writes_with_a_body_that_is_not_json_are_refused_on_every_route() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let (_, chat) = call(
        &s,
        json_write(Method::POST, "/api/v1/chats", json!({"title": "Kept"})),
        Some(ALICE),
    )
    .await;
    let id = chat["id"].as_str().unwrap().to_string();

    // What a page on another site can send with the user's cookies and no preflight.
    let simple = [
        ("text/plain;charset=UTF-8", r#"{"title": "csrf"}"#),
        ("application/x-www-form-urlencoded", "title=csrf"),
        (
            "multipart/form-data; boundary=x",
            "--x\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\ncsrf\r\n--x--\r\n",
        ),
        ("text/plain", ""),
    ];
    let routes = [
        (Method::POST, "/api/v1/chats".to_string()),
        (Method::PATCH, format!("/api/v1/chats/{id}")),
        (Method::DELETE, format!("/api/v1/chats/{id}")),
        (Method::POST, format!("/api/v1/chats/{id}/restore")),
        (Method::PUT, "/api/v1/preferences".to_string()),
        (Method::POST, "/v1/chats".to_string()),
    ];
    for (method, uri) in &routes {
        for (content_type, payload) in simple {
            let (status, body) = call(
                &s,
                TestRequest::default()
                    .method(method.clone())
                    .uri(uri)
                    .insert_header(("Content-Type", content_type))
                    .set_payload(payload),
                Some(ALICE),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {uri} as {content_type}: {body}"
            );
            assert_eq!(body["detail"][0]["loc"], json!(["body"]), "{body}");
        }
    }
    // Nothing was created, changed or deleted.
    let (_, list) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["title"], "Kept", "{list}");
    let (_, prefs) = call(
        &s,
        TestRequest::get().uri("/api/v1/preferences"),
        Some(ALICE),
    )
    .await;
    assert_eq!(prefs["theme"], "system");

    // Any JSON type FastAPI reads is fine.
    let (status, body) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{id}"))
            .insert_header((
                "Content-Type",
                "application/merge-patch+json; charset=utf-8",
            ))
            .set_payload(r#"{"title": "Merged"}"#),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "Merged");
}

#[actix_web::test]
async fn text_with_a_nul_is_refused_naming_the_field_on_every_route_never_500() {
    // Issue 19 #1: PostgreSQL cannot store U+0000; these seven answered 500.
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let (_, chat) = call(
        &s,
        json_write(Method::POST, "/api/v1/chats", json!({"title": "Kept"})),
        Some(ALICE),
    )
    .await;
    let id = chat["id"].as_str().unwrap().to_string();
    let nul = "a\u{0}b";
    let writes = [
        (
            Method::POST,
            "/api/v1/chats".to_string(),
            json!({"title": nul}),
            "title",
        ),
        (
            Method::PATCH,
            format!("/api/v1/chats/{id}"),
            json!({"title": nul}),
            "title",
        ),
        (
            Method::PUT,
            "/api/v1/preferences".to_string(),
            json!({"theme": nul}),
            "theme",
        ),
        (
            Method::POST,
            format!("/api/v1/chats/{id}/messages"),
            json!({"content": nul}),
            "content",
        ),
        (
            Method::POST,
            "/api/v1/agent/query".to_string(),
            json!({"query": nul}),
            "query",
        ),
        (
            Method::POST,
            "/v1/research".to_string(),
            json!({"query": nul}),
            "query",
        ),
    ];
    for (method, uri, body, field) in writes {
        let (status, answer) = call(&s, json_write(method.clone(), &uri, body), Some(ALICE)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {uri}: {answer}"
        );
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", field]),
            "{answer}"
        );
        assert_eq!(answer["detail"][0]["type"], "string_nul", "{answer}");
    }
    for uri in [
        "/api/v1/chats?search=%00",
        "/api/v1/chats?limit=5&search=x%00y",
        "/v1/chats?search=%00",
    ] {
        let (status, answer) = call(&s, TestRequest::get().uri(uri), Some(ALICE)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["query", "search"]),
            "{answer}"
        );
    }
    // Nothing was stored or changed, and the chat still answers.
    let (status, list) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["title"], "Kept", "{list}");
}

#[actix_web::test]
async fn an_invalid_or_repeated_identity_header_is_400_never_another_user() {
    // Issue 19 #5: an invalid X-Forwarded-Email fell through to X-Forwarded-User, and of
    // two email headers the first won.
    use actix_web::http::header::HeaderValue;
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let (_, bobs) = call(
        &s,
        json_write(Method::POST, "/api/v1/chats", json!({"title": "Bob's"})),
        Some(BOB),
    )
    .await;
    assert!(bobs["id"].is_string(), "{bobs}");
    let as_bob = || {
        TestRequest::get()
            .uri("/api/v1/chats")
            .insert_header(("X-Forwarded-User", BOB))
    };
    let not_utf8 = HeaderValue::from_bytes(b"\xffalice@example.com").unwrap();
    let long = "a".repeat(250) + "@x.com";
    for (req, says) in [
        (
            as_bob().insert_header(("X-Forwarded-Email", not_utf8)),
            "not UTF-8",
        ),
        (
            as_bob().insert_header(("X-Forwarded-Email", long.as_str())),
            "longer than 255",
        ),
        (
            TestRequest::get()
                .uri("/api/v1/chats")
                .append_header(("X-Forwarded-Email", BOB))
                .append_header(("X-Forwarded-Email", ALICE)),
            "more than once",
        ),
    ] {
        let (status, body) = call(&s, req, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says) && message.contains("X-Forwarded-Email"),
            "{body}"
        );
        assert!(
            !body.to_string().contains("Bob's"),
            "no one's chats: {body}"
        );
    }
    // A blank email header still counts as absent.
    let (status, list) = call(&s, as_bob().insert_header(("X-Forwarded-Email", "")), None).await;
    assert_eq!(
        (status, list["total"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{list}"
    );
}

#[actix_web::test]
async fn a_method_a_path_does_not_serve_is_405_as_fastapi_answers() {
    let db = TestDb::new().await;
    let s = unlimited_app(Some(migrated_pool(&db).await), IdentityMode::Production).await;
    let chat = uuid::Uuid::new_v4();
    for (method, uri, allow) in [
        (Method::TRACE, "/api/v1/chats".to_string(), "GET, POST"),
        (Method::PUT, "/api/v1/chats".to_string(), "GET, POST"),
        (Method::HEAD, "/api/v1/chats".to_string(), "GET, POST"),
        (
            Method::POST,
            format!("/api/v1/chats/{chat}"),
            "GET, PATCH, DELETE",
        ),
        (Method::TRACE, "/health".to_string(), "GET"),
        (
            Method::OPTIONS,
            "/api/v1/preferences".to_string(),
            "GET, PUT",
        ),
    ] {
        let (status, headers, body) = send(
            &s,
            TestRequest::default().method(method.clone()).uri(&uri),
            Some(ALICE),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {body}"
        );
        assert_eq!(headers.get("Allow").unwrap(), allow, "{method} {uri}");
        if method != Method::HEAD {
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap(),
                json!({"detail": "Method Not Allowed"})
            );
        }
    }
    // The method is refused before any body is looked at.
    let (status, _, _) = send(
        &s,
        TestRequest::put()
            .uri("/api/v1/chats")
            .insert_header(("Content-Type", "text/plain"))
            .set_payload("x"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // A method no route has is 405 on any path; an unknown path is still 404.
    let (status, _, _) = send(
        &s,
        TestRequest::default()
            .method(Method::TRACE)
            .uri("/api/v1/nowhere"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(&s, TestRequest::get().uri("/api/v1/nowhere"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The `rate_limits` section of `yaml`, loaded and validated as `dra serve` loads it.
fn rate_limits(yaml: &str) -> dra::serve::RateLimitsConfig {
    let loaded = dra::config::load_str(
        yaml,
        std::path::Path::new("app.yaml"),
        &dra::config::Env::new(),
    )
    .unwrap();
    loaded.config.rate_limits
}

#[actix_web::test]
async fn each_user_is_rate_limited_on_their_own_as_configured_with_retry_after() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let config = rate_limits("rate_limits:\n  requests_per_minute: 3\n  research_per_minute: 1\n");
    let state = Arc::new(AppState {
        limits: RateLimits::from_config(&config).map(Arc::new),
        ..AppState::new(Some(pool.clone()), IdentityMode::Production)
    });
    let s = app(state).await;
    for _ in 0..3 {
        let (status, _) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = test::call_service(
        &s,
        TestRequest::get()
            .uri("/api/v1/chats")
            .insert_header(("X-Forwarded-Email", ALICE))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response
        .headers()
        .get("Retry-After")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (_, body) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(body["code"], "RATE_LIMITED");
    // Bob has his own budget; health checks are never limited.
    let (status, _) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(BOB)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&s, TestRequest::get().uri("/health"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    // Research has its own budget: one a minute here (refused before its body is read).
    let submit = || json_write(Method::POST, "/api/v1/research/jobs", json!({}));
    let (status, _) = call(&s, submit(), Some(BOB)).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = call(&s, submit(), Some(BOB)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // Turned off, nobody is limited.
    let off = rate_limits("rate_limits:\n  enabled: false\n  requests_per_minute: 1\n");
    assert!(RateLimits::from_config(&off).is_none());
    let s = unlimited_app(Some(pool), IdentityMode::Production).await;
    for _ in 0..20 {
        let (status, _) = call(&s, TestRequest::get().uri("/api/v1/chats"), Some(ALICE)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// The original's React frontend at its busiest, in three tabs of one user (its
/// `refetchInterval`s and polling hooks), against the default limits on a clock the test
/// moves: nothing is refused. Two minutes, so the burst allowance alone would not do.
#[actix_web::test]
async fn the_original_frontends_polling_in_three_tabs_stays_under_the_default_limits() {
    let db = TestDb::new().await;
    let clock = LimitClock::manual();
    let state = Arc::new(AppState {
        limits: Some(Arc::new(RateLimits::with_clock(
            &dra::serve::RateLimitsConfig::default(),
            clock.clone(),
        ))),
        ..AppState::new(Some(migrated_pool(&db).await), IdentityMode::Production)
    });
    let s = app(state).await;
    let (_, chat) = call(
        &s,
        json_write(Method::POST, "/api/v1/chats", json!({"title": "Polled"})),
        Some(ALICE),
    )
    .await;
    let chat = chat["id"].as_str().unwrap().to_string();
    let session = uuid::Uuid::new_v4();
    // (every so many milliseconds, what the frontend asks)
    let mut polls: Vec<(u64, String)> = vec![
        // useActiveJobs: the running jobs, every 5 s.
        (5000, "/api/v1/research/jobs?status=in_progress".into()),
        // useChatActiveJob: the chat's job, every 3 s.
        (3000, format!("/api/v1/research/jobs/chat/{chat}/active")),
        // useResearchReconnection: events every 2 s while it reconnects.
        (
            2000,
            format!("/api/v1/chats/{chat}/research/{session}/events?sinceSequence=0"),
        ),
        // useJobEventPolling: job events every second.
        (
            1000,
            format!("/api/v1/research/jobs/{session}/events?sinceSequence=0&limit=100"),
        ),
        // useJobEventStream: a dropped stream is reopened after 2 s.
        (2000, format!("/api/v1/research/jobs/{session}")),
    ];
    // useCitations: each of ten answers polls its claims every 3 s until they exist.
    for _ in 0..10 {
        let message = uuid::Uuid::new_v4();
        polls.push((3000, format!("/api/v1/messages/{message}/claims")));
    }
    let tabs = 3;
    let step = 100;
    let mut sent: usize = 0;
    for now in (0..120_000u64).step_by(step) {
        for tab in 0..tabs {
            // The tabs were opened a moment apart.
            let at = now + tab * 700;
            for (every, uri) in &polls {
                if at % every < step as u64 {
                    let (status, body) = call(&s, TestRequest::get().uri(uri), Some(ALICE)).await;
                    assert_ne!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS,
                        "{uri} at {now} ms, {sent} requests sent: {body}"
                    );
                    sent += 1;
                }
            }
        }
        clock.advance(std::time::Duration::from_millis(step as u64));
    }
    assert!(sent > 2000, "{sent} requests: several a second per tab");
    // The burst allowance is a whole minute's: what keeps a tab open for hours from being
    // refused is that its steady rate is under the limit.
    let per_minute = sent / 2;
    let limit = dra::serve::RateLimitsConfig::default().requests_per_minute;
    assert!(
        per_minute < limit as usize,
        "{per_minute} a minute against a limit of {limit}"
    );
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let s = unlimited_app(None, IdentityMode::Production).await;
    let fresh = test::call_service(&s, TestRequest::get().uri("/health").to_request()).await;
    let id = fresh
        .headers()
        .get("X-Request-Id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let echoed = test::call_service(
        &s,
        TestRequest::get()
            .uri("/health")
            .insert_header(("X-Request-Id", "proxy-abc-123"))
            .to_request(),
    )
    .await;
    assert_eq!(
        echoed.headers().get("X-Request-Id").unwrap(),
        "proxy-abc-123"
    );
    // A header that could forge log lines is replaced.
    let forged = test::call_service(
        &s,
        TestRequest::get()
            .uri("/health")
            .insert_header(("X-Request-Id", "a b\tc"))
            .to_request(),
    )
    .await;
    assert_ne!(forged.headers().get("X-Request-Id").unwrap(), "a b\tc");
}

/// The docs' older `/v1` surface: thin aliases over the same data and the same owner checks.
#[actix_web::test]
async fn the_v1_aliases_answer_in_the_docs_shapes() {
    use dra::db::repo::messages::Role;

    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = unlimited_app(Some(pool.clone()), IdentityMode::Production).await;
    let (status, chat) = call(
        &s,
        TestRequest::post()
            .uri("/v1/chats")
            .set_json(json!({"title": "Old clients"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    let message = insert_message(&pool, id.parse().unwrap(), Role::User, "What changed?").await;

    let (_, list) = call(&s, TestRequest::get().uri("/v1/chats"), Some(ALICE)).await;
    assert_eq!(list["chats"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["chats"][0]["title"], "Old clients");
    let (status, one) = call(
        &s,
        TestRequest::get().uri(&format!("/v1/chats/{id}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["messages"][0]["content"], "What changed?");
    assert_eq!(one["messages"][0]["role"], "user");
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/v1/chats/{id}")),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, rated) = call(
        &s,
        TestRequest::post()
            .uri(&format!("/v1/messages/{message}/feedback"))
            .set_json(json!({"rating": "negative", "feedbackText": "Too short"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rated}");
    assert_eq!(rated["messageId"], message.to_string());
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri(&format!("/v1/messages/{message}/feedback"))
            .set_json(json!({"rating": "negative"})),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, prefs) = call(&s, TestRequest::get().uri("/v1/preferences"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(prefs["defaultQueryMode"], "deep_research");
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/v1/messages/{message}/provenance")),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(
        &s,
        TestRequest::delete().uri(&format!("/v1/chats/{id}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, after) = call(&s, TestRequest::get().uri("/v1/chats"), Some(ALICE)).await;
    assert_eq!(after["chats"].as_array().unwrap().len(), 0);
}

/// A message stored straight in the database, as a run would leave it.
async fn insert_message(
    pool: &PgPool,
    chat: uuid::Uuid,
    role: dra::db::repo::messages::Role,
    content: &str,
) -> dra::db::repo::MessageId {
    use dra::db::repo::messages::{self, NewMessage};
    use dra::db::repo::{ChatId, MessageId};
    let id = MessageId::new();
    let mut conn = pool.get().await.unwrap();
    messages::insert(
        &mut conn,
        &NewMessage {
            id,
            chat_id: ChatId(chat),
            role,
            content: Some(content),
            created_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    id
}

#[actix_web::test]
async fn v1_health_checks_the_model_endpoints_and_caches_the_answer() {
    use crate::support::llm::{add_tiers, router, FakeLlm, Reply};

    let fake = FakeLlm::start().await;
    fake.always("ep-simple", Reply::Text("ok".into()));
    let mut config = AppConfig::default();
    add_tiers(&mut config, &fake, &["simple"]);
    let check = Arc::new(dra::serve::LlmCheck::new(Arc::new(router(&config))));
    let state = Arc::new(AppState {
        llm: Some(check),
        ..AppState::new(None, IdentityMode::Production)
    });
    let s = app(state).await;
    let (status, body) = call(&s, TestRequest::get().uri("/v1/health"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["llm"], "available");
    assert_eq!(body["database"], "not_configured");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let probes = fake.calls_to("ep-simple").len();
    assert_eq!(probes, 1);
    let (_, again) = call(&s, TestRequest::get().uri("/v1/health"), None).await;
    assert_eq!(again["llm"], "available");
    assert_eq!(fake.calls_to("ep-simple").len(), 1, "the answer is cached");

    // An endpoint that errors is reported, and the app stays healthy without a model.
    let broken = FakeLlm::start().await;
    broken.always("ep-simple", Reply::Status(500, None));
    let mut config = AppConfig::default();
    add_tiers(&mut config, &broken, &["simple"]);
    let state = Arc::new(AppState {
        llm: Some(Arc::new(dra::serve::LlmCheck::new(Arc::new(router(
            &config,
        ))))),
        ..AppState::new(None, IdentityMode::Production)
    });
    let s = app(state).await;
    let (status, body) = call(&s, TestRequest::get().uri("/v1/health"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["llm"], "unavailable");

    let none = unlimited_app(None, IdentityMode::Production).await;
    let (_, body) = call(&none, TestRequest::get().uri("/v1/health"), None).await;
    assert_eq!(body["llm"], "not_configured");
}

#[actix_web::test]
async fn a_missing_model_and_a_missing_database_say_which_is_missing() {
    let db = TestDb::new().await;
    // A database but no model endpoint (jobs without a worker, as `dra serve` runs then):
    // chats work, research says the model is missing.
    let pool = migrated_pool(&db).await;
    let jobs = Arc::new(dra::jobs::Jobs::start(
        pool.clone(),
        dra::jobs::JobsConfig::default(),
        None,
        "no-model".into(),
    ));
    let no_model = app(Arc::new(AppState {
        jobs: Some(jobs.clone()),
        ..crate::support::serve::unlimited(Some(pool), IdentityMode::Production)
    }))
    .await;
    let (status, _) = call(
        &no_model,
        TestRequest::post()
            .uri("/api/v1/chats")
            .set_json(json!({"title": "t"})),
        Some(ALICE),
    )
    .await;
    assert!(status.is_success(), "{status}");
    let (status, body) = call(
        &no_model,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({"chat_id": uuid::Uuid::new_v4(), "query": "q"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["details"]["dependency"], "model", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no model is configured") && message.contains("OPENAI_BASE_URL"),
        "{body}"
    );
    assert!(!message.contains("database"), "{body}");
    jobs.shutdown().await;

    let no_database = unlimited_app(None, IdentityMode::Production).await;
    let (status, body) = call(
        &no_database,
        TestRequest::get().uri("/api/v1/chats"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["details"]["dependency"], "database", "{body}");
    assert_eq!(body["message"], "the database is unavailable");
}

#[actix_web::test]
async fn saved_preferences_keep_their_mode_when_new_users_start_in_deep_research() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    // Saved before this version, with the column's default (the original's `simple`).
    let mut conn = pool.get().await.unwrap();
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("INSERT INTO user_preferences (user_id) VALUES ('alice@example.com')"),
        &mut conn,
    )
    .await
    .unwrap();
    drop(conn);
    let s = unlimited_app(Some(pool), IdentityMode::Production).await;
    let (_, alice) = call(
        &s,
        TestRequest::get().uri("/api/v1/preferences"),
        Some(ALICE),
    )
    .await;
    assert_eq!(alice["defaultQueryMode"], "simple", "{alice}");
    let (_, bob) = call(&s, TestRequest::get().uri("/api/v1/preferences"), Some(BOB)).await;
    assert_eq!(bob["defaultQueryMode"], "deep_research", "{bob}");
}
