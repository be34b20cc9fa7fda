//! The Databricks agent endpoint (`POST /invocations`, `POST /responses`): MLflow's
//! `ResponsesAgent` protocol over real research jobs against the fakes. Invoke answers with
//! the verified report, `url_citation` annotations and custom outputs; stream sends
//! progress, then deltas adding up to the final message, then `[DONE]`; the run is the
//! caller's alone; bad requests get 400; a failed run is an error the client can read.

use std::sync::Arc;
use std::time::Duration;

use crate::support::llm::Reply;
use crate::support::serve::{app, call, migrated_pool, unlimited, unlimited_app};
use crate::support::world::{researcher, World};
use crate::support::TestDb;
use actix_web::body::{to_bytes, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use dra::db::PgPool;
use dra::jobs::{Engine, Jobs, JobsConfig};
use dra::search::SearchProvider;
use dra::serve::{AppState, IdentityMode};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const REPORT: &str = "The river delta has lost nearly a fifth of its wetlands since 1990";

fn quick() -> JobsConfig {
    JobsConfig {
        heartbeat_interval_seconds: 1,
        poll_interval_seconds: 1,
        keep_alive_seconds: 1,
        ..JobsConfig::default()
    }
}

/// The fakes answering any run (the writer's report cites [1]) and a migrated database.
async fn world_and_pool() -> (World, TestDb, PgPool) {
    let w = World::start().await;
    w.llm.respond("ep-analytical", researcher);
    w.llm.respond("ep-simple", researcher);
    w.llm.always(
        "ep-complex",
        Reply::Stream(vec![format!("# Delta wetlands\n\n{REPORT} [1].")]),
    );
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    (w, db, pool)
}

/// A server whose worker runs research with `search` (the world's when `None`).
fn start(pool: &PgPool, w: &World, search: Option<Arc<dyn SearchProvider>>) -> Arc<AppState> {
    let engine = Arc::new(Engine {
        llm: Arc::new(w.router()),
        search: search.unwrap_or_else(|| w.search.clone()),
        fetcher: Arc::new(w.fetcher.clone()),
        tools: Arc::new(w.tools.clone()),
        config: Arc::new(w.config.research()),
    });
    let jobs = Arc::new(Jobs::start(
        pool.clone(),
        quick(),
        Some(engine),
        "agent".into(),
    ));
    Arc::new(AppState {
        jobs: Some(jobs),
        ..unlimited(Some(pool.clone()), IdentityMode::Production)
    })
}

async fn stop(state: &AppState) {
    if let Some(jobs) = &state.jobs {
        jobs.shutdown().await;
    }
}

/// The `data:` payloads of an SSE body, in order (`[DONE]` as a string).
fn data_of(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .flat_map(|block| block.lines())
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.into())))
        .collect()
}

/// Posts `body` to `path` as Alice and reads the whole event stream: the response's
/// headers and its `data:` payloads.
async fn stream<S, B>(s: &S, path: &str, body: Value) -> (HeaderMap, Vec<Value>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(
        s,
        TestRequest::post()
            .uri(path)
            .insert_header(("X-Forwarded-Email", ALICE))
            .set_json(body)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    let bytes = tokio::time::timeout(Duration::from_secs(60), to_bytes(response.into_body()))
        .await
        .expect("the stream ends when the run ends")
        .unwrap_or_else(|_| panic!("unreadable stream"));
    (headers, data_of(&String::from_utf8_lossy(&bytes)))
}

/// Posts `body` to `path` as `user`; status and JSON body.
async fn post<S, B>(s: &S, path: &str, body: Value, user: &str) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(s, TestRequest::post().uri(path).set_json(body), Some(user)).await
}

/// The characters `start..end` of `text`.
fn chars(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

/// Every annotation is a `url_citation` over a `[n]` marker of `text`, pointing at a
/// source of `custom_outputs` that the page server was asked for.
fn assert_citations_point_at_fetched_sources(
    w: &World,
    text: &str,
    annotations: &Value,
    custom: &Value,
) {
    let annotations = annotations.as_array().unwrap();
    assert!(!annotations.is_empty(), "the report cites [1]: {text}");
    let sources = custom["sources"].as_array().unwrap();
    for a in annotations {
        assert_eq!(a["type"], "url_citation", "{a}");
        let url = a["url"].as_str().unwrap();
        let marker = chars(
            text,
            a["start_index"].as_u64().unwrap(),
            a["end_index"].as_u64().unwrap(),
        );
        assert!(
            marker.starts_with('[') && marker.ends_with(']'),
            "{marker:?} in {text}"
        );
        let source = sources
            .iter()
            .find(|s| s["url"] == url)
            .unwrap_or_else(|| panic!("{url} is not among the run's sources {sources:?}"));
        assert!(
            marker.contains(&source["number"].to_string()),
            "{marker} cites {source}"
        );
        assert!(a["title"].as_str().is_some_and(|t| !t.is_empty()), "{a}");
        let path = url
            .strip_prefix(&w.pages.url(""))
            .unwrap_or_else(|| panic!("{url} is not a page of the page server"));
        let path = format!("/{}", path.trim_start_matches('/'));
        assert!(w.pages.hits(&path) > 0, "{url} was never fetched");
    }
}

#[actix_web::test]
async fn invoke_answers_with_the_report_its_url_citations_and_custom_outputs() {
    let (w, _db, pool) = world_and_pool().await;
    let state = start(&pool, &w, None);
    let s = app(state.clone()).await;

    let (status, answer) = post(
        &s,
        "/invocations",
        json!({
            "input": [
                {"role": "user", "content": "I study the Mekong."},
                {"role": "assistant", "content": "Noted."},
                {"role": "user", "content": "How fast are river deltas losing wetlands?"}
            ],
            "custom_inputs": {"research_depth": "light"},
            "context": {"conversation_id": "playground-1", "user_id": "ignored@example.com"},
        }),
        ALICE,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["object"], "response");
    let item = &answer["output"][0];
    assert_eq!(item["type"], "message", "{answer}");
    assert_eq!(item["role"], "assistant");
    let content = &item["content"][0];
    assert_eq!(content["type"], "output_text");
    let text = content["text"].as_str().unwrap();
    assert!(text.contains(REPORT), "{text}");
    let custom = &answer["custom_outputs"];
    assert_citations_point_at_fetched_sources(&w, text, &content["annotations"], custom);
    for field in ["conversation_id", "session_id", "message_id"] {
        assert!(
            custom[field]
                .as_str()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
            "{field}: {custom}"
        );
    }
    assert_eq!(custom["status"], "completed");
    assert_eq!(item["id"], custom["message_id"]);
    for source in custom["sources"].as_array().unwrap() {
        assert!(source["number"].as_u64().is_some(), "{source}");
        assert!(source["url"].as_str().is_some(), "{source}");
        assert!(source.get("title").is_some(), "{source}");
        assert_eq!(source["source_type"], "web", "{source}");
    }
    assert!(custom["claims"].is_array(), "{custom}");
    assert!(custom["verification"]["total_claims"].is_u64(), "{custom}");
    // The earlier turns became the conversation the planner saw.
    assert!(
        w.llm
            .calls_to("ep-analytical")
            .iter()
            .any(|c| c.body.to_string().contains("I study the Mekong.")),
        "the planner saw the earlier turns"
    );

    // The run is Alice's: its job, report and chat on the other routes, for her alone.
    let session = custom["session_id"].as_str().unwrap();
    let message = custom["message_id"].as_str().unwrap();
    let chat = custom["conversation_id"].as_str().unwrap();
    for (user, expected) in [(ALICE, StatusCode::OK), (BOB, StatusCode::NOT_FOUND)] {
        for uri in [
            format!("/api/v1/research/jobs/{session}"),
            format!("/api/v1/messages/{message}/claims"),
            format!("/api/v1/chats/{chat}"),
        ] {
            let (status, _) = call(&s, TestRequest::get().uri(&uri), Some(user)).await;
            assert_eq!(status, expected, "{user} GET {uri}");
        }
    }
    // Bob cannot continue Alice's conversation by its id.
    let (status, body) = post(
        &s,
        "/invocations",
        json!({"input": [{"role": "user", "content": "q"}], "context": {"conversation_id": chat}}),
        BOB,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The same conversation id of Alice's continues her chat.
    let (status, again) = post(
        &s,
        "/invocations",
        json!({"input": "And in Asia?", "context": {"conversation_id": "playground-1"}, "custom_inputs": {"research_depth": "light"}}),
        ALICE,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["custom_outputs"]["conversation_id"], chat);
    assert_ne!(again["custom_outputs"]["session_id"], session);
    stop(&state).await;
}

#[actix_web::test]
async fn stream_sends_progress_then_deltas_that_add_up_to_the_final_message_then_done() {
    let (w, _db, pool) = world_and_pool().await;
    let state = start(&pool, &w, None);
    let s = app(state.clone()).await;

    let (headers, events) = stream(
        &s,
        "/responses",
        json!({
            "input": [{"role": "user", "content": "How fast are river deltas losing wetlands?"}],
            "custom_inputs": {"research_depth": "light", "query_mode": "web_search"},
            "stream": true,
        }),
    )
    .await;
    assert_eq!(events.last(), Some(&json!("[DONE]")), "{events:?}");
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .collect();
    let (message, progress) = done.split_last().expect("a done item");
    assert_eq!(message["item"]["type"], "message", "{events:?}");
    assert!(
        !progress.is_empty(),
        "progress as reasoning items: {events:?}"
    );
    for p in progress {
        assert_eq!(p["item"]["type"], "reasoning", "{p}");
        assert_eq!(p["item"]["summary"][0]["type"], "summary_text", "{p}");
    }
    let item = &message["item"];
    let text = item["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(REPORT), "{text}");
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .collect();
    assert!(!deltas.is_empty(), "{events:?}");
    assert!(
        deltas.iter().all(|d| d["item_id"] == item["id"]),
        "{deltas:?}"
    );
    let streamed: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, text, "the deltas add up to the final text");
    // Progress first, then the report's text, then its item.
    let first_delta = events
        .iter()
        .position(|e| e["type"] == "response.output_text.delta")
        .unwrap();
    let last_progress = events
        .iter()
        .rposition(|e| e["item"]["type"] == "reasoning")
        .unwrap();
    assert!(last_progress < first_delta, "{events:?}");

    let custom = &message["custom_outputs"];
    assert_citations_point_at_fetched_sources(&w, text, &item["content"][0]["annotations"], custom);
    assert_eq!(custom["status"], "completed");
    let session = custom["session_id"].as_str().unwrap();
    assert_eq!(
        headers
            .get("x-research-session-id")
            .unwrap()
            .to_str()
            .unwrap(),
        session
    );
    // The streamed text is the report the run stored.
    let message_id = custom["message_id"].as_str().unwrap();
    let (status, _, stored) = crate::support::serve::send(
        &s,
        TestRequest::get().uri(&format!("/api/v1/messages/{message_id}/report")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, text);
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the run is not Bob's");
    stop(&state).await;
}

#[actix_web::test]
async fn a_failed_run_is_an_error_in_both_modes() {
    let (w, _db, pool) = world_and_pool().await;
    let state = start(
        &pool,
        &w,
        Some(Arc::new(crate::support::search::PanickingSearch)),
    );
    let s = app(state.clone()).await;
    let ask = json!({"input": "How fast are river deltas losing wetlands?", "custom_inputs": {"query_mode": "web_search", "research_depth": "light"}});

    let (status, body) = post(&s, "/invocations", ask.clone(), ALICE).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "RESEARCH_FAILED", "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    let mut streaming = ask;
    streaming["stream"] = json!(true);
    let (_, events) = stream(&s, "/invocations", streaming).await;
    assert_eq!(events.last(), Some(&json!("[DONE]")), "{events:?}");
    let error = &events[events.len() - 2];
    assert_eq!(error["type"], "error", "{events:?}");
    assert_eq!(error["code"], "RESEARCH_FAILED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("research failed: "),
        "{error}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "response.output_text.delta"),
        "no report text for a failed run"
    );
    stop(&state).await;
}

#[actix_web::test]
async fn malformed_requests_get_400_naming_the_problem_and_no_user_gets_401() {
    let s = unlimited_app(None, IdentityMode::Production).await;
    let bodies: [(&str, &[u8]); 9] = [
        ("malformed JSON", b"{\"input\": ["),
        ("empty body", b""),
        ("no question", b"{}"),
        ("no messages", b"{\"input\": []}"),
        ("the last message is the assistant's", b"{\"input\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}"),
        ("an unknown role", b"{\"messages\": [{\"role\": \"robot\", \"content\": \"q\"}]}"),
        ("stream is not a boolean", b"{\"input\": \"q\", \"stream\": \"maybe\"}"),
        ("an unknown depth", b"{\"input\": \"q\", \"custom_inputs\": {\"research_depth\": \"deep\"}}"),
        ("context is not an object", b"{\"input\": \"q\", \"context\": \"c\"}"),
    ];
    for path in ["/invocations", "/responses"] {
        for (what, body) in bodies {
            let (status, answer) = call(
                &s,
                TestRequest::post()
                    .uri(path)
                    .insert_header(("Content-Type", "application/json"))
                    .set_payload(body.to_vec()),
                Some(ALICE),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
            assert_eq!(answer["code"], "VALIDATION_ERROR", "{what}: {answer}");
            assert!(
                answer["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {answer}"
            );
        }
        let (status, _) = call(
            &s,
            TestRequest::post()
                .uri(path)
                .set_json(json!({"input": "q"})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}
