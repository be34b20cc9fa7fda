//! `dra serve`'s durable research jobs over a real PostgreSQL and the fakes: a run
//! submitted through the API executes in the worker, every event streams as SSE and is
//! stored; a client that drops mid-run resumes with `Last-Event-ID` and gets exactly the
//! rest; cancel, limits, isolation; a process shutting down hands its run back and
//! another process finishes it; a dead process's job is ended.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::support::llm::Reply;
use crate::support::serve::{app, audit_rows, call, migrated_pool, unlimited};
use crate::support::world::{researcher, say, World};
use crate::support::TestDb;
use actix_web::body::{to_bytes, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use dra::db::PgPool;
use dra::jobs::{Engine, Jobs, JobsConfig};
use dra::serve::{AppState, IdentityMode};
use serde_json::{json, Value};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Quick timings so takeover and polling happen within a test.
fn quick() -> JobsConfig {
    JobsConfig {
        max_concurrent_per_user: 2,
        max_concurrent_runs: 2,
        heartbeat_interval_seconds: 1,
        zombie_threshold_seconds: 3,
        max_attempts: 2,
        poll_interval_seconds: 1,
        keep_alive_seconds: 1,
    }
}

/// The fakes answering any number of web_search runs: the researcher by request, the
/// writer with a one-sentence report citing [1] (after `writer_delay`).
fn answer_every_run(w: &World, writer_delay: Duration) {
    w.llm.respond("ep-analytical", researcher);
    w.llm.respond("ep-simple", researcher);
    w.llm.always(
        "ep-complex",
        Reply::Stream(vec![
            "# Delta wetlands\n\nDeltas lost a fifth of their wetlands [1].".into(),
        ]),
    );
    w.llm.latency("ep-complex", writer_delay);
}

/// The fakes answering every run (see [`answer_every_run`]) and a migrated database.
async fn world_and_pool(writer_delay: Duration) -> (World, TestDb, PgPool) {
    let w = World::start().await;
    answer_every_run(&w, writer_delay);
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    (w, db, pool)
}

/// Alice's messages in `chat`, as the API lists them.
async fn list_messages<S, B>(s: &S, chat: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (_, messages) = call(
        s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/messages")),
        Some(ALICE),
    )
    .await;
    messages
}

/// Alice opens the stream of `session`; the response, its body unread.
async fn open_stream<S, B>(s: &S, session: &str) -> ServiceResponse<B>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    test::call_service(
        s,
        TestRequest::get()
            .uri(&format!("/api/v1/research/jobs/{session}/stream"))
            .insert_header(("X-Forwarded-Email", ALICE))
            .to_request(),
    )
    .await
}

fn engine(w: &World) -> Arc<Engine> {
    Arc::new(Engine {
        llm: Arc::new(w.router()),
        search: w.search.clone(),
        fetcher: Arc::new(w.fetcher.clone()),
        tools: Arc::new(w.tools.clone()),
        config: Arc::new(w.config.research()),
    })
}

/// One "process": its jobs (hub and worker) and its app.
struct Server {
    jobs: Arc<Jobs>,
    state: Arc<AppState>,
}

impl Server {
    fn start(pool: &PgPool, w: &World, name: &str, config: JobsConfig) -> Server {
        let jobs = Arc::new(Jobs::start(
            pool.clone(),
            config,
            Some(engine(w)),
            name.to_string(),
        ));
        let state = Arc::new(AppState {
            jobs: Some(jobs.clone()),
            ..unlimited(Some(pool.clone()), IdentityMode::Production)
        });
        Server { jobs, state }
    }

    async fn app(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        app(self.state.clone()).await
    }
}

/// An SSE frame: its `id:` and its `data:` as JSON.
#[derive(Debug, Clone)]
struct Frame {
    id: Option<i64>,
    data: Value,
}

fn parse_frames(text: &str) -> Vec<Frame> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            data.map(|data| Frame { id, data })
        })
        .collect()
}

/// Open the stream of `session` (optionally resuming) and read it to its end.
async fn read_stream<S, B>(s: &S, session: &str, last_event_id: Option<i64>) -> Vec<Frame>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = TestRequest::get()
        .uri(&format!("/api/v1/research/jobs/{session}/stream"))
        .insert_header(("X-Forwarded-Email", ALICE));
    if let Some(id) = last_event_id {
        req = req.insert_header(("Last-Event-ID", id.to_string()));
    }
    let response = test::call_service(s, req.to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let bytes = tokio::time::timeout(Duration::from_secs(60), to_bytes(response.into_body()))
        .await
        .expect("the stream ends when the run ends")
        .unwrap_or_else(|_| panic!("unreadable stream"));
    parse_frames(&String::from_utf8_lossy(&bytes))
}

/// Read frames of an open stream until `enough` says stop; then drop the connection.
async fn read_until<B: MessageBody>(
    response: ServiceResponse<B>,
    enough: impl Fn(&[Frame]) -> bool,
) -> Vec<Frame> {
    let mut body = Box::pin(response.into_body());
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(
            Duration::from_secs(30),
            futures::future::poll_fn(|cx| Pin::as_mut(&mut body).poll_next(cx)),
        )
        .await
        .expect("a frame within 30 s");
        let Some(Ok(bytes)) = chunk else {
            panic!("the stream ended early: {text}");
        };
        text.push_str(&String::from_utf8_lossy(&bytes));
        let frames = parse_frames(&text);
        if enough(&frames) {
            return frames;
        }
    }
}

/// Alice opens the stream of `session` and reads it until an event of `kind`; then drops
/// the connection.
async fn read_until_event<S, B>(s: &S, session: &str, kind: &str) -> Vec<Frame>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = open_stream(s, session).await;
    read_until(response, |frames| {
        events_of(frames)
            .iter()
            .any(|f| f.data["eventType"] == kind)
    })
    .await
}

fn events_of(frames: &[Frame]) -> Vec<&Frame> {
    frames
        .iter()
        .filter(|f| f.data.get("payload").is_some())
        .collect()
}

fn sequence(frames: &[Frame]) -> Vec<i64> {
    events_of(frames)
        .iter()
        .map(|f| f.data["sequenceNumber"].as_i64().unwrap())
        .collect()
}

async fn new_chat<S, B>(s: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, chat) = call(s, TestRequest::post().uri("/api/v1/chats"), Some(ALICE)).await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    chat["id"].as_str().unwrap().to_string()
}

async fn submit<S, B>(s: &S, chat: &str) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(
        s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({
                "chat_id": chat,
                "query": "How fast are river deltas losing wetlands?",
                "query_mode": "web_search",
                "research_depth": "light",
                "verify_sources": false,
            })),
        Some(ALICE),
    )
    .await
}

/// A new chat of Alice's with a job submitted in it: the chat and the job's session.
async fn chat_with_job<S, B>(s: &S) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let chat = new_chat(s).await;
    let (_, job) = submit(s, &chat).await;
    let session = job["sessionId"].as_str().unwrap().to_string();
    (chat, session)
}

/// The original's `ActiveResearchResponse` for a chat with no research: every key, null.
fn no_active_research() -> Value {
    json!({
        "has_active_research": false,
        "session_id": null,
        "status": null,
        "last_sequence_number": null,
        "query": null,
        "query_mode": null,
        "started_at": null,
    })
}

#[actix_web::test]
async fn a_chat_with_no_research_running_has_no_active_job_rather_than_a_404() {
    let db = TestDb::new().await;
    let pool = migrated_pool(&db).await;
    let s = app(Arc::new(unlimited(Some(pool), IdentityMode::Production))).await;
    let chat = new_chat(&s).await;
    // Alice's new chat, a chat id nobody has (the original's frontend asks about draft
    // chats before they are stored), and Alice's chat asked about by Bob.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (id, user) in [(&chat, ALICE), (&unknown, ALICE), (&chat, BOB)] {
        let (status, job) = call(
            &s,
            TestRequest::get().uri(&format!("/api/v1/research/jobs/chat/{id}/active")),
            Some(user),
        )
        .await;
        assert_eq!(
            (status, job),
            (StatusCode::OK, Value::Null),
            "{id} as {user}"
        );
        let (status, active) = call(
            &s,
            TestRequest::get().uri(&format!("/api/v1/chats/{id}/research/active")),
            Some(user),
        )
        .await;
        assert_eq!(
            (status, active),
            (StatusCode::OK, no_active_research()),
            "{id} as {user}"
        );
    }
}

#[actix_web::test]
async fn a_submitted_job_runs_in_the_worker_and_streams_every_event_then_its_end() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;

    let chat = new_chat(&s).await;
    let (status, job) = submit(&s, &chat).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "in_progress");
    assert_eq!(job["chatId"], chat.as_str());
    assert_eq!(job["queryMode"], "web_search");
    let session = job["sessionId"].as_str().unwrap().to_string();
    // The audit row names the session the submission created.
    let audited = audit_rows(&pool, ALICE, 2).await;
    assert!(
        audited.iter().any(|r| r.action == "research.submit"
            && r.resource_type == "research_session"
            && r.resource_id.as_deref() == Some(session.as_str())),
        "{audited:#?}"
    );

    let frames = read_stream(&s, &session, None).await;
    let seq = sequence(&frames);
    assert!(seq.len() > 5, "{frames:#?}");
    assert_eq!(seq, (1..=seq.len() as i64).collect::<Vec<_>>(), "no gaps");
    let ids: Vec<i64> = events_of(&frames).iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(ids, seq, "every frame's id is its sequence number");
    let first = &events_of(&frames)[0].data;
    assert_eq!(first["eventType"], "research_started");
    assert_eq!(first["payload"]["researchSessionId"], session.as_str());
    let kinds: Vec<&str> = events_of(&frames)
        .iter()
        .map(|f| f.data["eventType"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"step_completed"), "{kinds:?}");
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["research_completed", "persistence_completed"],
        "{kinds:?}"
    );
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "completed"})
    );

    // The answer is stored on the agent message; the job reads completed.
    let (_, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["totalSteps"], 1);
    let messages = list_messages(&s, &chat).await;
    let items = messages["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{messages}");
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[1]["role"], "agent");
    assert!(
        items[1]["content"]
            .as_str()
            .unwrap()
            .contains("Deltas lost a fifth of their wetlands"),
        "{messages}"
    );

    // Polling gives the same events; a finished stream replayed from a point gives the rest.
    let (_, polled) = call(
        &s,
        TestRequest::get().uri(&format!(
            "/api/v1/research/jobs/{session}/events?sinceSequence=3&limit=2"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(polled["sessionStatus"], "completed");
    // The original's meaning: more is to come while the session runs, whatever is stored.
    assert_eq!(polled["hasMore"], false, "{polled}");
    let polled_seq: Vec<i64> = polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(polled_seq, [4, 5]);
    let rest = read_stream(&s, &session, Some(5)).await;
    assert_eq!(sequence(&rest), (6..=seq.len() as i64).collect::<Vec<_>>());

    // The state route hydrates a reloaded page.
    let (_, state) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/research/{session}/state")),
        Some(ALICE),
    )
    .await;
    assert_eq!(state["status"], "completed");
    assert!(state["final_report"].as_str().unwrap().contains("Deltas"));
    let (_, chat_events) = call(
        &s,
        TestRequest::get().uri(&format!(
            "/api/v1/chats/{chat}/research/{session}/events?sinceSequence=0&limit=1"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(chat_events["events"].as_array().unwrap().len(), 1);
    assert_eq!(chat_events["has_more"], false, "{chat_events}");
    // No research runs: the latest session is described, as the original does.
    let (status, active) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/research/active")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(active["has_active_research"], false, "{active}");
    assert_eq!(active["session_id"], session.as_str(), "{active}");
    assert_eq!(active["status"], "completed");
    assert_eq!(active["last_sequence_number"], seq.len());
    assert_eq!(active["query_mode"], "web_search");
    let (status, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/chat/{chat}/active")),
        Some(ALICE),
    )
    .await;
    assert_eq!((status, job), (StatusCode::OK, Value::Null));
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_client_that_drops_mid_run_resumes_with_last_event_id_and_cancel_stops_the_run() {
    // The writer takes long: the run waits in synthesis until it is cancelled.
    let (w, _db, pool) = world_and_pool(Duration::from_secs(120)).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let (chat, session) = chat_with_job(&s).await;

    let seen = read_until_event(&s, &session, "step_completed").await;
    let last_seen = *sequence(&seen).last().unwrap();
    // The connection is gone; the run goes on without it.
    let (_, active) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/chat/{chat}/active")),
        Some(ALICE),
    )
    .await;
    assert_eq!(active["sessionId"], session.as_str(), "{active}");
    assert_eq!(active["status"], "in_progress");
    let (_, active) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/research/active")),
        Some(ALICE),
    )
    .await;
    assert_eq!(active["has_active_research"], true, "{active}");
    assert_eq!(active["session_id"], session.as_str());
    assert!(
        active["last_sequence_number"].as_i64().unwrap() >= last_seen,
        "{active}"
    );
    // While it runs, more is to come even when every stored event has been read.
    let (_, polled) = call(
        &s,
        TestRequest::get().uri(&format!(
            "/api/v1/research/jobs/{session}/events?sinceSequence={last_seen}"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(polled["hasMore"], true, "{polled}");

    // Another user can neither see nor cancel it: the active routes answer as for a chat
    // with nothing running.
    for req in [
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}/stream")),
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
    ] {
        let (status, body) = call(&s, req, Some(BOB)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/chat/{chat}/active")),
        Some(BOB),
    )
    .await;
    assert_eq!((status, job), (StatusCode::OK, Value::Null));
    let (status, active) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}/research/active")),
        Some(BOB),
    )
    .await;
    assert_eq!((status, active), (StatusCode::OK, no_active_research()));
    // A second question in the same chat runs beside this one, as the original accepts it
    // (only the per-user limit bounds them); it is stopped here to keep to one run.
    let (status, second) = submit(&s, &chat).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second = second["sessionId"].as_str().unwrap().to_string();
    assert_ne!(second, session);
    let (status, _) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{second}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, cancelled) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");

    let rest = read_stream(&s, &session, Some(last_seen)).await;
    let rest_seq = sequence(&rest);
    assert_eq!(
        rest_seq.first(),
        Some(&(last_seen + 1)),
        "resumes right after the last event seen"
    );
    assert_eq!(
        rest_seq,
        (last_seen + 1..=last_seen + rest_seq.len() as i64).collect::<Vec<_>>()
    );
    assert_eq!(
        rest.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    // As the original ends a cancelled run: no error (its frontend shows one as a
    // failure), no completion, just the stream's end; the job reads cancelled.
    let rest_kinds: Vec<&str> = events_of(&rest)
        .iter()
        .map(|f| f.data["eventType"].as_str().unwrap())
        .collect();
    for kind in ["error", "research_completed", "persistence_completed"] {
        assert!(!rest_kinds.contains(&kind), "{rest_kinds:?}");
    }
    let (_, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    // Everything seen plus the rest is exactly what was stored.
    let full = read_stream(&s, &session, None).await;
    let mut joined = sequence(&seen);
    joined.extend(&rest_seq);
    assert_eq!(sequence(&full), joined);
    // What was gathered is kept as a partial report.
    let messages = list_messages(&s, &chat).await;
    assert!(
        messages["items"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Partial report"),
        "{messages}"
    );
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn bad_requests_limits_and_other_users_are_refused() {
    let (w, _db, pool) = world_and_pool(Duration::from_secs(120)).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;

    let (status, body) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({
                "chat_id": chat, "query": "q", "query_mode": "guess",
            })),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "query_mode"]));
    let (status, body) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({
                "chat_id": chat, "query": "q", "research_depth": "deep",
            })),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "research_depth"]));
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({"chat_id": chat, "query": ""})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &s,
        TestRequest::get().uri("/api/v1/research/jobs?status=sleeping"),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Alice's chat is not Bob's to research in.
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(json!({
                "chat_id": chat, "query": "q",
            })),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Two running jobs is Alice's limit; a chat id nobody has is created for her.
    for _ in 0..2 {
        let fresh = uuid::Uuid::new_v4().to_string();
        let (status, body) = submit(&s, &fresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = submit(&s, &chat).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (_, list) = call(
        &s,
        TestRequest::get().uri("/api/v1/research/jobs"),
        Some(ALICE),
    )
    .await;
    assert_eq!(list["activeCount"], 2, "{list}");
    assert_eq!(list["limitReached"], true);
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2);
    let (_, list) = call(
        &s,
        TestRequest::get().uri("/api/v1/research/jobs"),
        Some(BOB),
    )
    .await;
    assert_eq!(list["jobs"], json!([]));

    let unknown = uuid::Uuid::new_v4();
    for req in [
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{unknown}")),
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{unknown}/events")),
        TestRequest::post().uri(&format!("/api/v1/chats/{unknown}/cancel")),
    ] {
        let (status, _) = call(&s, req, Some(ALICE)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn messages_send_edit_and_regenerate_run_research() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;

    let (status, sent) = call(
        &s,
        TestRequest::post()
            .uri(&format!("/api/v1/chats/{chat}/messages"))
            .set_json(json!({"content": "How fast are deltas losing wetlands?", "researchDepth": "light", "queryMode": "web_search"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["userMessage"]["role"], "user");
    let session = sent["researchSessionId"].as_str().unwrap().to_string();
    let frames = read_stream(&s, &session, None).await;
    assert_eq!(frames.last().unwrap().data["status"], "completed");
    let question = sent["userMessage"]["id"].as_str().unwrap().to_string();
    let answer = sent["agentMessageId"].as_str().unwrap().to_string();

    let (status, regenerated) = call(
        &s,
        TestRequest::post().uri(&format!(
            "/api/v1/chats/{chat}/messages/{answer}/regenerate"
        )),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{regenerated}");
    assert_ne!(regenerated["newMessageId"], answer.as_str());
    let frames = read_stream(&s, regenerated["researchSessionId"].as_str().unwrap(), None).await;
    assert_eq!(frames.last().unwrap().data["status"], "completed");
    let messages = list_messages(&s, &chat).await;
    let ids: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            question.as_str(),
            regenerated["newMessageId"].as_str().unwrap()
        ]
    );

    let (status, edited) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{chat}/messages/{question}"))
            .set_json(json!({"content": "How fast are Asian deltas losing wetlands?"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["removedMessageCount"], 1);
    assert_eq!(edited["message"]["isEdited"], true);
    assert_eq!(
        edited["message"]["content"],
        "How fast are Asian deltas losing wetlands?"
    );
    let frames = read_stream(&s, edited["researchSessionId"].as_str().unwrap(), None).await;
    assert_eq!(frames.last().unwrap().data["status"], "completed");

    // An answer cannot be edited; another user's message is not found.
    let new_answer = {
        let messages = list_messages(&s, &chat).await;
        messages["items"][1]["id"].as_str().unwrap().to_string()
    };
    let (status, _) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{chat}/messages/{new_answer}"))
            .set_json(json!({"content": "x"})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &s,
        TestRequest::patch()
            .uri(&format!("/api/v1/chats/{chat}/messages/{question}"))
            .set_json(json!({"content": "x"})),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri(&format!("/api/v1/chats/{chat}/messages"))
            .set_json(json!({"content": ""})),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_process_shutting_down_hands_its_run_back_and_another_finishes_it() {
    let (w, _db, pool) = world_and_pool(Duration::from_secs(4)).await;
    let first = Server::start(&pool, &w, "first", quick());
    let s1 = first.app().await;
    let (_chat, session) = chat_with_job(&s1).await;
    // Wait until the first process is writing the report, then stop it.
    let seen = read_until_event(&s1, &session, "synthesis_started").await;
    first.jobs.shutdown().await;

    // A second process (started afterwards) claims the queued job and finishes it; its
    // events continue the numbering.
    let w_fast = Duration::ZERO;
    w.llm.latency("ep-complex", w_fast);
    let second = Server::start(&pool, &w, "second", quick());
    let s2 = second.app().await;
    let frames = read_stream(&s2, &session, None).await;
    let seq = sequence(&frames);
    assert_eq!(seq, (1..=seq.len() as i64).collect::<Vec<_>>());
    assert!(seq.len() > seen.len());
    let starts = events_of(&frames)
        .iter()
        .filter(|f| f.data["eventType"] == "research_started")
        .count();
    assert_eq!(
        starts, 2,
        "the second attempt starts over after the first's events"
    );
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "completed"})
    );
    second.jobs.shutdown().await;
}

#[actix_web::test]
async fn the_agent_query_answers_in_json_or_streams_and_v1_research_streams_events() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;

    // JSON: the answer once the run is done, with the sources it fetched.
    let (status, answer) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/agent/query")
            .set_json(json!({
                "query": "How fast are river deltas losing wetlands?",
                "researchDepth": "light",
                "messages": [
                    {"role": "user", "content": "I study the Mekong."},
                    {"role": "agent", "content": "Noted."}
                ],
            })),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["response"]
            .as_str()
            .unwrap()
            .contains("Deltas lost a fifth of their wetlands"),
        "{answer}"
    );
    assert!(answer["sources"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1"));
    let session = answer["researchSessionId"].as_str().map(str::to_string);
    // The context messages became the conversation the coordinator saw.
    // (A fixed depth skips the coordinator; the planner plans in the conversation.)
    let asked = w.llm.calls_to("ep-analytical");
    assert!(
        asked
            .iter()
            .any(|c| c.body.to_string().contains("I study the Mekong.")),
        "the planner saw the context messages"
    );

    // With a fixed mode through /v1/research: `event:` lines and the job's end.
    let response = test::call_service(
        &s,
        TestRequest::post()
            .uri("/v1/research")
            .insert_header(("X-Forwarded-Email", ALICE))
            .set_json(json!({
                "query": "How fast are river deltas losing wetlands?",
                "query_mode": "web_search",
                "research_depth": "light",
                "verify_sources": false,
            }))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let chat = response
        .headers()
        .get("x-chat-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = to_bytes(response.into_body()).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("id: 1\nevent: research_started\ndata: {"),
        "{text}"
    );
    assert!(text.contains("event: research_completed\n"), "{text}");
    assert!(
        text.trim_end().ends_with(
            r#"event: job_completed
data: {"eventType":"job_completed","status":"completed"}"#
        ),
        "{text}"
    );
    let (status, _) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/chats/{chat}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the run's chat is Alice's");

    // Streaming agent query: the job's stream from its first event.
    let response = test::call_service(
        &s,
        TestRequest::post()
            .uri("/api/v1/agent/query")
            .insert_header(("X-Forwarded-Email", ALICE))
            .insert_header(("Accept", "text/event-stream"))
            .set_json(json!({"query": "q", "conversationId": chat}))
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let streamed = response
        .headers()
        .get("x-research-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(Some(streamed.clone()), session);
    let bytes = to_bytes(response.into_body()).await.unwrap_or_default();
    let frames = parse_frames(&String::from_utf8_lossy(&bytes));
    assert_eq!(frames[0].data["eventType"], "research_started");
    assert_eq!(frames.last().unwrap().data["eventType"], "job_completed");

    // Bob cannot continue Alice's conversation.
    let (status, _) = call(
        &s,
        TestRequest::post()
            .uri("/api/v1/agent/query")
            .set_json(json!({"query": "q", "conversationId": chat})),
        Some(BOB),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_process_runs_at_most_its_configured_number_of_jobs_at_once() {
    let (w, db, pool) = world_and_pool(Duration::from_secs(3)).await;
    let server = Server::start(
        &pool,
        &w,
        "one",
        JobsConfig {
            max_concurrent_runs: 1,
            ..quick()
        },
    );
    let s = server.app().await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let chat = new_chat(&s).await;
        let (status, job) = submit(&s, &chat).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        sessions.push(job["sessionId"].as_str().unwrap().to_string());
    }
    let statuses = || async {
        let c = db.client().await;
        c.query("SELECT status FROM research_jobs ORDER BY created_at", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    // While the first is writing its report, the second waits in the queue.
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen = statuses().await;
        if seen == ["running", "queued"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, ["running", "queued"]);
    assert_eq!(server.jobs.worker.as_ref().unwrap().running(), 1);
    // Then it runs too, and both finish.
    for session in &sessions {
        let frames = read_stream(&s, session, None).await;
        assert_eq!(frames.last().unwrap().data["status"], "completed");
    }
    assert_eq!(statuses().await, ["completed", "completed"]);
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_panic_inside_a_run_fails_its_job_frees_its_slot_and_ends_its_stream() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    let broken = Arc::new(Engine {
        llm: Arc::new(w.router()),
        search: Arc::new(crate::support::search::PanickingSearch),
        fetcher: Arc::new(w.fetcher.clone()),
        tools: Arc::new(w.tools.clone()),
        config: Arc::new(w.config.research()),
    });
    let jobs = Arc::new(Jobs::start(
        pool.clone(),
        quick(),
        Some(broken),
        "broken".into(),
    ));
    let state = Arc::new(AppState {
        jobs: Some(jobs.clone()),
        ..unlimited(Some(pool.clone()), IdentityMode::Production)
    });
    let s = app(state).await;

    // As many runs as Alice may have at once, each hitting the bug.
    let mut sessions = Vec::new();
    for _ in 0..quick().max_concurrent_per_user {
        let (_, session) = chat_with_job(&s).await;
        sessions.push(session);
    }
    for session in &sessions {
        let frames = read_stream(&s, session, None).await;
        let events = events_of(&frames);
        let error = events
            .iter()
            .find(|f| f.data["eventType"] == "error")
            .expect("an error event");
        assert_eq!(error.data["payload"]["errorCode"], "INTERNAL_ERROR");
        assert!(error.data["payload"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("internal error"));
        assert!(!events
            .iter()
            .any(|f| f.data["eventType"] == "research_completed"));
        assert_eq!(
            frames.last().unwrap().data,
            json!({"eventType": "job_completed", "status": "failed"})
        );
        let (status, job) = call(
            &s,
            TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
            Some(ALICE),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(job["status"], "failed", "{job}");
        // Cancel answers from the job's real state; nothing stays running.
        let (status, cancelled) = call(
            &s,
            TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
            Some(ALICE),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "failed", "{cancelled}");
    }
    assert_eq!(jobs.worker.as_ref().unwrap().running(), 0);
    // Her slots are free again: a new question is accepted, not 429.
    let chat = new_chat(&s).await;
    let (status, body) = submit(&s, &chat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    jobs.shutdown().await;
}

/// Submit `body` (with Alice's chat `chat`) as a job; its session.
async fn submit_job<S, B>(s: &S, chat: &str, body: Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = body;
    body["chat_id"] = json!(chat);
    let (status, job) = call(
        s,
        TestRequest::post()
            .uri("/api/v1/research/jobs")
            .set_json(body),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job["sessionId"].as_str().unwrap().to_string()
}

/// The `eventType`s of the events among `frames`.
fn kinds(frames: &[Frame]) -> Vec<&str> {
    events_of(frames)
        .iter()
        .map(|f| f.data["eventType"].as_str().unwrap())
        .collect()
}

/// The payload of the only event of `kind` among `frames`.
fn only<'f>(frames: &'f [Frame], kind: &str) -> &'f Value {
    let found: Vec<&Frame> = events_of(frames)
        .into_iter()
        .filter(|f| f.data["eventType"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind}: {frames:#?}");
    &found[0].data["payload"]
}

/// `payload` has exactly these keys: the original's fields (camelCase, by_alias) that its
/// frontend reads (`frontend/src/types/index.ts`), no more, no fewer.
fn assert_keys(payload: &Value, keys: &[&str]) {
    let mut got: Vec<&str> = payload
        .as_object()
        .unwrap_or_else(|| panic!("an object: {payload}"))
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{payload}");
}

const PERSISTENCE_KEYS: &[&str] = &[
    "eventType",
    "timestamp",
    "chatId",
    "messageId",
    "researchSessionId",
    "chatTitle",
    "wasDraft",
    "counts",
];

#[actix_web::test]
async fn a_finished_job_announces_its_stored_answer_before_the_stream_ends() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;
    // Longer than 50 characters: web_search mode cuts the title after 50 (the original's
    // orchestrator does, there only).
    let query = "How fast are the river deltas of Asia losing their wetlands today?";
    let session = submit_job(
        &s,
        &chat,
        json!({"query": query, "query_mode": "web_search", "research_depth": "light", "verify_sources": false}),
    )
    .await;

    // When the announcement arrives the answer and its sources are stored: the original's
    // frontend refetches the chat's messages on it.
    let seen = read_until_event(&s, &session, "persistence_completed").await;
    let messages = list_messages(&s, &chat).await;
    let answer = &messages["items"][1];
    assert!(
        answer["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Deltas lost a fifth of their wetlands"),
        "{messages}"
    );
    let persisted = only(&seen, "persistence_completed");
    assert_keys(persisted, PERSISTENCE_KEYS);
    let started = only(&seen, "research_started");
    assert_eq!(persisted["chatId"], chat.as_str());
    assert_eq!(persisted["messageId"], started["messageId"]);
    assert_eq!(persisted["messageId"], answer["id"]);
    assert_eq!(persisted["researchSessionId"], session.as_str());
    let head: String = query.chars().take(50).collect();
    assert_eq!(persisted["chatTitle"], format!("{head}..."));
    assert_eq!(
        persisted["wasDraft"], false,
        "a job's chat exists before its run"
    );
    let sources = {
        let mut conn = pool.get().await.unwrap();
        let id = dra::db::repo::SessionId(session.parse().unwrap());
        dra::db::repo::sources::for_session(&mut conn, id)
            .await
            .unwrap()
            .len()
    };
    assert!(sources > 0, "the run's fetched pages are stored");
    assert_eq!(
        persisted["counts"],
        json!({"sources": sources, "claims": 0}),
        "unverified: no claims"
    );

    // The original's order in web_search mode: the report as it stands replaces the
    // streamed draft, the run completes, is saved, is announced; then the stream ends.
    let frames = read_stream(&s, &session, None).await;
    let kinds = kinds(&frames);
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            "content_revised",
            "research_completed",
            "persistence_completed"
        ],
        "{kinds:?}"
    );
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "completed"})
    );
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_simple_job_streams_its_answer_in_chunks_then_announces_it() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    // Simple mode answers on the coordinator's tier, streamed.
    w.llm.script(
        "ep-simple",
        vec![Reply::Stream(vec![
            "Paris is ".into(),
            "the capital".into(),
            " of France.".into(),
        ])],
    );
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;
    let query = "What is the capital of France, and has it always been the capital?";
    let session = submit_job(
        &s,
        &chat,
        json!({"query": query, "query_mode": "simple", "research_depth": "auto", "verify_sources": false}),
    )
    .await;

    let frames = read_stream(&s, &session, None).await;
    // The original's simple mode: the synthesizer streams the answer as it is written.
    assert_eq!(
        kinds(&frames),
        [
            "research_started",
            "synthesis_started",
            "agent_started",
            "synthesis_progress",
            "synthesis_progress",
            "synthesis_progress",
            "agent_completed",
            "research_completed",
            "persistence_completed",
        ]
    );
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "completed"})
    );
    let events = events_of(&frames);
    let started = only(&frames, "synthesis_started");
    assert_keys(
        started,
        &[
            "eventType",
            "timestamp",
            "totalObservations",
            "totalSources",
        ],
    );
    assert_eq!(
        (&started["totalObservations"], &started["totalSources"]),
        (&json!(0), &json!(0))
    );
    for agent in [
        only(&frames, "agent_started"),
        only(&frames, "agent_completed"),
    ] {
        assert_eq!(agent["agent"], "synthesizer", "{agent}");
    }
    assert_keys(
        only(&frames, "agent_started"),
        &["eventType", "timestamp", "agent", "modelTier"],
    );
    assert_keys(
        only(&frames, "agent_completed"),
        &["eventType", "timestamp", "agent", "durationMs"],
    );
    let chunks: Vec<&Value> = events
        .iter()
        .filter(|f| f.data["eventType"] == "synthesis_progress")
        .map(|f| &f.data["payload"])
        .collect();
    for chunk in &chunks {
        assert_keys(chunk, &["eventType", "timestamp", "contentChunk"]);
    }
    let streamed: String = chunks
        .iter()
        .map(|c| c["contentChunk"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "Paris is the capital of France.");

    let messages = list_messages(&s, &chat).await;
    assert_eq!(messages["items"][1]["content"], streamed, "{messages}");
    let persisted = only(&frames, "persistence_completed");
    assert_keys(persisted, PERSISTENCE_KEYS);
    assert_eq!(persisted["messageId"], messages["items"][1]["id"]);
    // Simple mode keeps no research session in the original: none is named, and the
    // count is of the message it filled in. Titles past 50 characters keep 47.
    assert_eq!(persisted["researchSessionId"], Value::Null);
    assert_eq!(persisted["counts"], json!({"messages_updated": 1}));
    let head: String = query.chars().take(47).collect();
    assert_eq!(persisted["chatTitle"], format!("{head}..."));
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn cancelling_a_simple_job_mid_answer_ends_it_cancelled_without_an_error() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    w.llm.script(
        "ep-simple",
        vec![Reply::Delayed(
            Duration::from_secs(8),
            Box::new(Reply::Stream(vec!["Too late.".into()])),
        )],
    );
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;
    let session = submit_job(
        &s,
        &chat,
        json!({"query": "Capital of France?", "query_mode": "simple", "verify_sources": false}),
    )
    .await;
    read_until_event(&s, &session, "research_started").await;

    let (status, cancelled) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        cancelled,
        json!({"sessionId": session, "status": "cancelled"})
    );

    let frames = read_stream(&s, &session, None).await;
    let kinds = kinds(&frames);
    for kind in [
        "error",
        "synthesis_progress",
        "research_completed",
        "persistence_completed",
    ] {
        assert!(!kinds.contains(&kind), "{kinds:?}");
    }
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    let (_, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let (_, list) = call(
        &s,
        TestRequest::get().uri("/api/v1/research/jobs?status=cancelled"),
        Some(ALICE),
    )
    .await;
    assert_eq!(list["jobs"][0]["sessionId"], session.as_str(), "{list}");
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_job_researches_an_ambiguous_question_as_written_instead_of_asking() {
    let (w, _db, pool) = world_and_pool(Duration::ZERO).await;
    // The coordinator would ask; the original never stops a job to (its frontend could
    // not show the questions).
    w.llm.script(
        "ep-simple",
        vec![say(json!({
            "mode": "deep_research", "depth": "light", "is_ambiguous": true,
            "clarifying_questions": ["Which delta?"], "reasoning": "vague"
        }))],
    );
    w.llm.script(
        "ep-analytical",
        vec![say(json!({"title": "Delta wetlands", "thought": "t", "steps": [
            {"id": "a", "title": "Loss rates", "description": "measured loss", "step_type": "research", "needs_search": true}
        ]}))],
    );
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;
    let session = submit_job(
        &s,
        &chat,
        json!({"query": "How fast are deltas losing wetlands?", "query_mode": "deep_research", "research_depth": "auto", "verify_sources": false}),
    )
    .await;

    let frames = read_stream(&s, &session, None).await;
    let kinds = kinds(&frames);
    assert!(!kinds.contains(&"clarification_needed"), "{kinds:?}");
    assert!(kinds.contains(&"plan_created"), "{kinds:?}");
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "completed"})
    );
    let coordinator = &w.llm.calls_to("ep-simple")[0].body;
    assert!(
        !crate::support::world::last_user_message(coordinator).is_empty(),
        "the coordinator classified the question"
    );
    let messages = list_messages(&s, &chat).await;
    let answer = messages["items"][1]["content"].as_str().unwrap_or_default();
    assert!(answer.contains("Deltas lost a fifth"), "{messages}");
    assert!(!answer.contains("Which delta?"), "{messages}");
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn cancelling_a_job_while_its_report_is_verified_ends_it_cancelled_keeping_the_report() {
    let (mut w, _db, pool) = world_and_pool(Duration::ZERO).await;
    w.config.citation_verification.enabled = true;
    // The report's claim is not verbatim in its source: judging it takes a model call,
    // which takes two minutes.
    let slow_judge = |body: &Value| {
        if crate::support::world::last_user_message(body).contains("## Claim") {
            Reply::Delayed(
                Duration::from_secs(120),
                Box::new(say(json!({"verdict": "supported", "reasoning": "r"}))),
            )
        } else {
            researcher(body)
        }
    };
    w.llm.respond("ep-simple", slow_judge);
    w.llm.respond("ep-analytical", slow_judge);
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let chat = new_chat(&s).await;
    let session = submit_job(
        &s,
        &chat,
        json!({"query": "How fast are deltas losing wetlands?", "query_mode": "web_search", "research_depth": "light", "verify_sources": true}),
    )
    .await;
    let written = read_until(open_stream(&s, &session).await, |frames| {
        events_of(frames).iter().any(|f| {
            f.data["eventType"] == "agent_completed" && f.data["payload"]["agent"] == "synthesizer"
        })
    })
    .await;
    let last_seen = *sequence(&written).last().unwrap();

    let (status, cancelled) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");

    let rest = read_stream(&s, &session, Some(last_seen)).await;
    let kinds = kinds(&rest);
    for kind in ["error", "research_completed", "persistence_completed"] {
        assert!(!kinds.contains(&kind), "{kinds:?}");
    }
    assert_eq!(
        rest.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    let (_, job) = call(
        &s,
        TestRequest::get().uri(&format!("/api/v1/research/jobs/{session}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    // The report as written is kept (unverified).
    let messages = list_messages(&s, &chat).await;
    assert!(
        messages["items"][1]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Deltas lost a fifth of their wetlands"),
        "{messages}"
    );
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn cancelling_a_queued_job_ends_it_cancelled_without_an_error() {
    // One run at a time, and the first one waits in synthesis: the second stays queued.
    let (w, _db, pool) = world_and_pool(Duration::from_secs(120)).await;
    let server = Server::start(
        &pool,
        &w,
        "one",
        JobsConfig {
            max_concurrent_runs: 1,
            ..quick()
        },
    );
    let s = server.app().await;
    let (_, running) = chat_with_job(&s).await;
    read_until_event(&s, &running, "research_started").await;
    let (_, queued) = chat_with_job(&s).await;

    for session in [&queued, &running] {
        let (status, cancelled) = call(
            &s,
            TestRequest::delete().uri(&format!("/api/v1/research/jobs/{session}")),
            Some(ALICE),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
    }
    let frames = read_stream(&s, &queued, None).await;
    assert!(events_of(&frames).is_empty(), "{frames:#?}");
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    let frames = read_stream(&s, &running, None).await;
    assert!(!kinds(&frames).contains(&"error"), "{frames:#?}");
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    server.jobs.shutdown().await;
}

#[actix_web::test]
async fn a_question_sent_right_after_stop_starts_at_once_as_in_the_original() {
    // The original ends a cancelled job at once; its frontend sends the next question
    // right after Stop. The run still winding down here must not make that a 409.
    let (w, _db, pool) = world_and_pool(Duration::from_secs(120)).await;
    let server = Server::start(&pool, &w, "one", quick());
    let s = server.app().await;
    let (chat, running) = chat_with_job(&s).await;
    read_until_event(&s, &running, "research_started").await;
    let (status, cancelled) = call(
        &s,
        TestRequest::delete().uri(&format!("/api/v1/research/jobs/{running}")),
        Some(ALICE),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (status, next) = submit(&s, &chat).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_ne!(next["sessionId"].as_str().unwrap(), running);
    let frames = read_stream(&s, &running, None).await;
    assert_eq!(
        frames.last().unwrap().data,
        json!({"eventType": "job_completed", "status": "cancelled"})
    );
    server.jobs.shutdown().await;
}
