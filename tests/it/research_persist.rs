//! `dra research` saving its run in PostgreSQL: chats, messages, the session, sources and
//! the event log; `--no-save`, `--chat` follow-ups, other users' chats, a database that is
//! down; and the event log sink on its own.

use std::collections::BTreeSet;

use crate::support::llm::Reply;
use crate::support::search::BRAVE_KEY;
use crate::support::world::{interrupt_after_first_step, Fakes};
use crate::support::{Dra, TestDb};
use dra::config::{AppConfig, DatabaseUrl, Env};
use dra::db::event_log::EventLog;
use dra::db::repo::{ChatId, MessageId, SessionId};
use dra::db::runs::{self, RunStart};
use dra::db::{build_pool, ConnectionTarget, PgPool};
use dra::events::sink::EventBus;
use dra::events::ResearchEvent;
use serde_json::Value;

const QUESTION: &str = "How fast are deltas losing wetlands?";

struct World {
    fakes: Fakes,
    db: TestDb,
}

impl std::ops::Deref for World {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

impl World {
    async fn start() -> World {
        let w = World {
            fakes: Fakes::start().await,
            db: TestDb::new().await,
        };
        let migrated = Dra::new(["migrate"])
            .env("DATABASE_URL", w.db.url())
            .run()
            .await;
        assert!(migrated.ok(), "{migrated:?}");
        w
    }

    /// `dra research` on the fakes, saving to the test database as `user`.
    fn dra(&self, user: &str, args: &[&str]) -> Dra {
        self.dra_with_database(&self.db.url(), user, args)
    }

    fn dra_with_database(&self, url: &str, user: &str, args: &[&str]) -> Dra {
        self.fakes
            .dra(std::iter::once("research").chain(args.iter().copied()))
            .env("DATABASE_URL", url)
            .env("DRA_USER", user)
    }

    /// Alice's light run that hangs after its first step, spawned, its events in `events`.
    fn spawn_run_that_hangs_after_one_step(
        &self,
        events: &std::path::Path,
    ) -> (tokio::process::Child, tempfile::TempDir) {
        self.script_run_that_hangs_after_one_step();
        self.dra(
            "alice@example.com",
            &[
                "--mode",
                "deep-research",
                "--depth",
                "light",
                "--events",
                events.to_str().unwrap(),
                QUESTION,
            ],
        )
        .spawn()
    }

    /// The user of the one chat in the database.
    async fn only_chat_owner(&self) -> String {
        self.db
            .client()
            .await
            .query_one("SELECT user_id FROM chats", &[])
            .await
            .unwrap()
            .get(0)
    }

    async fn count(&self, table: &str) -> i64 {
        self.db
            .client()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    async fn counts(&self) -> [i64; 5] {
        [
            self.count("chats").await,
            self.count("messages").await,
            self.count("research_sessions").await,
            self.count("sources").await,
            self.count("research_events").await,
        ]
    }
}

/// The chat id from `saved as chat <id>` on stderr.
fn saved_chat(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("saved as chat "))
        .unwrap_or_else(|| panic!("no `saved as chat` line: {stderr}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_research_run_is_saved_as_a_chat_with_its_session_sources_and_events() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let out_dir = tempfile::tempdir().unwrap();
    let out = w
        .dra(
            "alice@example.com",
            &[QUESTION, "--out", out_dir.path().to_str().unwrap()],
        )
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let chat = saved_chat(&out.stderr);
    let c = w.db.client().await;

    let row = c
        .query_one("SELECT id::text, user_id, title, status FROM chats", &[])
        .await
        .unwrap();
    let (id, user, title, status): (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (id.as_str(), user.as_str(), title.as_str(), status.as_str()),
        (chat.as_str(), "alice@example.com", QUESTION, "active")
    );

    let messages = c
        .query(
            "SELECT role, content, research_session_id::text FROM messages WHERE chat_id = $1::text::uuid ORDER BY created_at",
            &[&chat],
        )
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let (role, content): (String, String) = (messages[0].get(0), messages[0].get(1));
    assert_eq!((role.as_str(), content.as_str()), ("user", QUESTION));
    let (role, report, linked): (String, String, Option<String>) =
        (messages[1].get(0), messages[1].get(1), messages[1].get(2));
    assert_eq!(role, "agent", "the original's role for answers");
    assert_eq!(
        report, out.stdout,
        "the agent message is the printed report"
    );

    let session = c
        .query_one(
            "SELECT id::text, status, query, user_id, chat_id::text, completed_at IS NOT NULL, \
             research_depth, current_step_index, plan->>'title', query_mode \
             FROM research_sessions",
            &[],
        )
        .await
        .unwrap();
    let session_id: String = session.get(0);
    assert_eq!(linked.as_deref(), Some(session_id.as_str()));
    assert_eq!(session.get::<_, String>(1), "completed");
    assert_eq!(session.get::<_, String>(2), QUESTION);
    assert_eq!(session.get::<_, String>(3), "alice@example.com");
    assert_eq!(session.get::<_, String>(4), chat);
    assert!(session.get::<_, bool>(5), "completed_at is set");
    assert_eq!(session.get::<_, String>(6), "light");
    assert_eq!(session.get::<_, Option<i32>>(7), Some(1), "steps executed");
    assert_eq!(session.get::<_, Option<String>>(8).as_deref(), Some("Plan"));
    assert_eq!(session.get::<_, String>(9), "deep_research");

    let fetched: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("sources.json")).unwrap(),
    )
    .unwrap();
    let stored = c
        .query(
            "SELECT url, is_cited, chat_id::text FROM sources WHERE research_session_id = $1::text::uuid",
            &[&session_id],
        )
        .await
        .unwrap();
    let stored_urls: BTreeSet<String> = stored.iter().map(|r| r.get(0)).collect();
    let fetched_urls: BTreeSet<String> = fetched
        .iter()
        .map(|s| s["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored_urls, fetched_urls, "one row per fetched source");
    assert_eq!(stored.len(), fetched.len());
    let cited: Vec<String> = stored
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    assert_eq!(cited, [fetched[0]["url"].as_str().unwrap()], "[1] is cited");
    assert!(stored
        .iter()
        .all(|r| r.get::<_, Option<String>>(2).as_deref() == Some(chat.as_str())));

    let jsonl = std::fs::read_to_string(out_dir.path().join("events.jsonl")).unwrap();
    let logged: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = c
        .query(
            "SELECT id::text, event_type, sequence_number, payload::text FROM research_events \
             WHERE research_session_id = $1::text::uuid ORDER BY sequence_number",
            &[&session_id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), logged.len(), "every event is stored");
    for (row, event) in rows.iter().zip(&logged) {
        assert_eq!(row.get::<_, String>(0), event["id"].as_str().unwrap());
        assert_eq!(
            row.get::<_, String>(1),
            event["eventType"].as_str().unwrap()
        );
        assert_eq!(
            i64::from(row.get::<_, i32>(2)),
            event["sequenceNumber"].as_i64().unwrap()
        );
        let payload: Value = serde_json::from_str(&row.get::<_, String>(3)).unwrap();
        assert_eq!(payload, event["payload"]);
    }
    let kinds: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["research_completed", "persistence_completed"],
        "the run completes, is saved, and says so"
    );
    // What `dra serve` would stream for it: the original's announcement of a saved run.
    let claims: i64 = c
        .query_one(
            "SELECT count(*) FROM claims WHERE research_session_id = $1::text::uuid",
            &[&session_id],
        )
        .await
        .unwrap()
        .get(0);
    let persisted = &logged.last().unwrap()["payload"];
    let agent_message: String = c
        .query_one(
            "SELECT id::text FROM messages WHERE chat_id = $1::text::uuid AND role = 'agent'",
            &[&chat],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        persisted,
        &serde_json::json!({
            "eventType": "persistence_completed",
            "timestamp": persisted["timestamp"],
            "chatId": chat,
            "messageId": agent_message,
            "researchSessionId": session_id,
            "chatTitle": QUESTION,
            "wasDraft": true,
            "counts": {"sources": stored.len(), "claims": claims},
        }),
        "a CLI run creates its chat"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_user_or_databricks_credentials_chats_belong_to_the_os_user() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra("ignored", &[QUESTION])
        .env_remove("DRA_USER")
        .env("USER", "carol")
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let user = w.only_chat_owner().await;
    assert_eq!(user, "carol@localhost");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_databricks_credentials_chats_belong_to_the_databricks_user() {
    let w = World::start().await;
    let ws = crate::support::FakeWorkspace::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra("ignored", &[QUESTION])
        .env_remove("DRA_USER")
        .workspace(&ws)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let user = w.only_chat_owner().await;
    assert_eq!(user, crate::support::workspace::ME);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_save_stores_nothing() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let out = w
        .dra("alice@example.com", &[QUESTION, "--no-save"])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    assert!(!out.stderr.contains("saved as chat"), "{}", out.stderr);
    assert_eq!(w.counts().await, [0; 5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_sees_the_earlier_report_and_is_appended_to_the_chat() {
    let w = World::start().await;
    w.script_one_step_run("Deltas first report");
    let first = w.dra("alice@example.com", &[QUESTION]).run().await;
    assert!(first.ok(), "{first:?}");
    let chat = saved_chat(&first.stderr);

    let calls_before = w.llm.calls().len();
    w.script_one_step_run("Deltas in Asia");
    let second = w
        .dra(
            "alice@example.com",
            &["And in Asia?", "--chat", &chat, "--format", "json"],
        )
        .run()
        .await;
    assert!(second.ok(), "{second:?}");
    assert_eq!(saved_chat(&second.stderr), chat, "same chat");
    let doc: Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(doc["chatId"], chat.as_str());
    assert!(doc["messageId"].is_string() && doc["sessionId"].is_string());

    // The coordinator and the planner of the follow-up were shown the first report.
    let follow_up_fast: Vec<String> = w.llm.calls()[calls_before..]
        .iter()
        .filter(|c| c.model == "test-fast")
        .map(|c| c.body["messages"].to_string())
        .collect();
    assert!(follow_up_fast.len() >= 2, "{follow_up_fast:?}");
    for prompt in &follow_up_fast[..2] {
        assert!(prompt.contains("Deltas first report"), "{prompt}");
    }

    let c = w.db.client().await;
    let rows = c
        .query(
            "SELECT role, content FROM messages WHERE chat_id = $1::text::uuid ORDER BY created_at",
            &[&chat],
        )
        .await
        .unwrap();
    let turns: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let content: String = r.get(1);
            (r.get(0), content.lines().next().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(
        turns,
        [
            ("user".into(), QUESTION.into()),
            ("agent".into(), "# Deltas first report".into()),
            ("user".into(), "And in Asia?".into()),
            ("agent".into(), "# Deltas in Asia".into()),
        ]
    );
    let sessions: i64 = c
        .query_one(
            "SELECT count(*) FROM research_sessions WHERE chat_id = $1::text::uuid AND status = 'completed'",
            &[&chat],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 2);
    assert_eq!(w.count("chats").await, 1);
    // The follow-up's chat existed before it: its announcement says so.
    let announced: Vec<Value> = c
        .query(
            "SELECT payload::text FROM research_events \
             WHERE event_type = 'persistence_completed' ORDER BY timestamp",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r.get(0)).unwrap())
        .collect();
    let drafts: Vec<&Value> = announced.iter().map(|p| &p["wasDraft"]).collect();
    assert_eq!(drafts, [&Value::Bool(true), &Value::Bool(false)]);
    assert_eq!(announced[1]["chatTitle"], "And in Asia?");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_chat_or_an_unknown_one_is_not_found_and_nothing_is_written() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let first = w.dra("alice@example.com", &[QUESTION]).run().await;
    assert!(first.ok(), "{first:?}");
    let chat = saved_chat(&first.stderr);
    let before = w.counts().await;
    let calls = w.llm.calls().len();

    let unknown = ChatId::new().to_string();
    for id in [&chat, &unknown] {
        let out = w
            .dra("mallory@example.com", &["Tell me more", "--chat", id])
            .run()
            .await;
        assert_eq!(out.code, 7, "{out:?}");
        assert!(
            out.stderr.contains(&format!("chat {id} not found")),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    assert_eq!(w.counts().await, before, "nothing written");
    assert_eq!(w.llm.calls().len(), calls, "no research ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_warns_and_the_report_is_still_printed() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("postgres://postgres@127.0.0.1:{closed}/deep_research?sslmode=disable");
    let out = w
        .dra_with_database(&down, "alice@example.com", &[QUESTION])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning: this run will not be saved")
            && out.stderr.contains(&format!("127.0.0.1:{closed}")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("saved as chat"), "{}", out.stderr);

    // A follow-up cannot run without its chat's history.
    let chat = ChatId::new().to_string();
    let out = w
        .dra_with_database(&down, "alice@example.com", &["More?", "--chat", &chat])
        .run()
        .await;
    assert_eq!(out.code, 5, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("--chat {chat} needs the database")),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_without_the_schema_warns_to_migrate_and_the_report_is_printed() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let empty = TestDb::new().await;
    let out = w
        .dra_with_database(&empty.url(), "alice@example.com", &[QUESTION])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("# Deltas"), "{}", out.stdout);
    assert!(
        out.stderr.contains("will not be saved") && out.stderr.contains("dra migrate"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_saved_as_failed_with_its_error() {
    let w = World::start().await;
    w.llm.always("test-fast", Reply::Status(400, None));
    let out = w.dra("alice@example.com", &[QUESTION]).run().await;
    assert_ne!(out.code, 0, "{out:?}");
    saved_chat(&out.stderr);
    let row = w
        .db
        .client()
        .await
        .query_one(
            "SELECT s.status, s.error_message, s.completed_at IS NOT NULL, m.content              FROM research_sessions s JOIN messages m ON m.id = s.message_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(
        row.get::<_, Option<String>>(1)
            .is_some_and(|e| e.contains("coordinator")),
        "{:?}",
        row.get::<_, Option<String>>(1)
    );
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, Option<String>>(3), None, "no answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_database_nothing_is_required() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let out = Dra::new(["research", QUESTION])
        .env("OPENAI_BASE_URL", format!("{}/v1", w.llm.url))
        .env("BRAVE_BASE_URL", &w.search.url)
        .env("BRAVE_API_KEY", BRAVE_KEY)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        !out.stderr.contains("warning") && !out.stderr.contains("saved"),
        "{}",
        out.stderr
    );
}

// ---- the event log sink on its own ----

async fn pool_for(db: &TestDb) -> PgPool {
    let config = AppConfig::default();
    let target = ConnectionTarget::from_url(
        &DatabaseUrl::parse(&db.url()).unwrap(),
        &config,
        &Env::new(),
    )
    .unwrap();
    // Through the binary: embedded migrations need a multi-threaded runtime, and these
    // tests run on a single thread.
    let migrated = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(migrated.ok(), "{migrated:?}");
    build_pool(target, &config.database.pool).await.unwrap()
}

async fn started_session(pool: &PgPool) -> SessionId {
    let session = SessionId::new();
    runs::start(
        pool,
        &RunStart {
            user_id: "alice@example.com",
            chat: None,
            query: "q",
            query_mode: "deep_research",
            research_depth: "auto",
            agent_message_id: MessageId::new(),
            session_id: session,
            user_message: None,
            verify_sources: true,
        },
    )
    .await
    .unwrap();
    session
}

fn chunk(i: usize) -> ResearchEvent {
    ResearchEvent::SynthesisProgress {
        content_chunk: format!("chunk {i}"),
    }
}

// current_thread: the writer task cannot run until the test awaits, so every event below
// is queued before the first write and the batch sizes are deterministic.
#[tokio::test(flavor = "current_thread")]
async fn the_event_log_writes_queued_events_in_batches_in_sequence_order() {
    let db = TestDb::new().await;
    let pool = pool_for(&db).await;
    let session = started_session(&pool).await;
    let log = std::sync::Arc::new(EventLog::start(pool.clone(), session, 5000));
    let bus = EventBus::new(vec![Box::new(log.clone())]);
    let ids: Vec<String> = (0..1500)
        .map(|i| bus.emit(chunk(i)).id.to_string())
        .collect();
    let stats = log.close().await.unwrap();
    assert_eq!(stats.saved, 1500);
    assert_eq!(stats.batches, 2, "1000 rows, then the remaining 500");

    let rows = db
        .client()
        .await
        .query(
            "SELECT id::text, sequence_number, payload->>'contentChunk' FROM research_events \
             WHERE research_session_id = $1::text::uuid ORDER BY sequence_number",
            &[&session.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1500);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.get::<_, String>(0), ids[i]);
        assert_eq!(row.get::<_, i32>(1), i as i32 + 1);
        assert_eq!(row.get::<_, String>(2), format!("chunk {i}"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_or_a_failing_write_is_reported_at_close_never_a_panic() {
    let db = TestDb::new().await;
    let pool = pool_for(&db).await;

    // Queue of 2, nothing drained yet: three of five events have nowhere to go.
    let session = started_session(&pool).await;
    let log = EventLog::start(pool.clone(), session, 2);
    let full = {
        let bus_log = std::sync::Arc::new(log);
        let bus = EventBus::new(vec![Box::new(bus_log.clone())]);
        for i in 0..5 {
            bus.emit(chunk(i));
        }
        bus_log.close().await.unwrap_err()
    };
    assert_eq!((full.total, full.unsaved), (5, 3), "{full}");
    assert!(full.cause.contains("queue full"), "{full}");

    // A session that does not exist: the insert violates the foreign key.
    let orphan = std::sync::Arc::new(EventLog::start(pool.clone(), SessionId::new(), 100));
    let bus = EventBus::new(vec![Box::new(orphan.clone())]);
    for i in 0..3 {
        bus.emit(chunk(i));
    }
    let err = orphan.close().await.unwrap_err();
    assert_eq!((err.total, err.unsaved), (3, 3), "{err}");
    assert!(err.cause.contains("foreign key"), "{err}");
    bus.emit(chunk(99));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_saves_the_partial_report_as_a_cancelled_session() {
    let w = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let (child, _home) = w.spawn_run_that_hangs_after_one_step(&events);
    let out = interrupt_after_first_step(child, &events).await;
    assert_eq!(out.code, 130, "{out:?}");

    let c = w.db.client().await;
    let session = c
        .query_one("SELECT status FROM research_sessions", &[])
        .await
        .unwrap();
    assert_eq!(session.get::<_, String>(0), "cancelled");
    let answer = c
        .query_one("SELECT content FROM messages WHERE role = 'agent'", &[])
        .await
        .unwrap();
    let answer: String = answer.get(0);
    assert_eq!(answer, out.stdout, "the partial report is kept");
    assert!(answer.contains("**Partial report.**"), "{answer}");
    let stored: i64 = c
        .query_one("SELECT count(*) FROM research_events", &[])
        .await
        .unwrap()
        .get(0);
    let written = std::fs::read_to_string(&events).unwrap().lines().count() as i64;
    assert_eq!(
        stored, written,
        "every event up to the cancellation is stored"
    );
    // A cancelled run is not announced as saved, nor as an error.
    let ended: i64 = c
        .query_one(
            "SELECT count(*) FROM research_events \
             WHERE event_type IN ('persistence_completed', 'research_completed', 'error')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_run_stores_its_claims_with_evidence_that_points_into_the_stored_text() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    w.verifier_says_supported();
    let out = w
        .dra("alice@example.com", &["--verify", QUESTION])
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let c = w.db.client().await;
    let claim = c
        .query_one(
            "SELECT claim_text, verification_verdict, m.role FROM claims JOIN messages m ON m.id = claims.message_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        claim.get::<_, String>(0),
        "Deltas lost a fifth of their wetlands."
    );
    assert_eq!(
        claim.get::<_, Option<String>>(1).as_deref(),
        Some("supported")
    );
    assert_eq!(
        claim.get::<_, String>(2),
        "agent",
        "claims belong to the report"
    );
    let spans = c
        .query_one(
            "SELECT count(*), bool_and(substring(s.content FROM e.start_offset + 1 \
             FOR e.end_offset - e.start_offset) = e.quote_text) \
             FROM evidence_spans e JOIN sources s ON s.id = e.source_id",
            &[],
        )
        .await
        .unwrap();
    assert!(spans.get::<_, i64>(0) >= 1, "evidence is stored");
    assert_eq!(
        spans.get::<_, Option<bool>>(1),
        Some(true),
        "every span's offsets point at its quote in the stored source text"
    );
    let citations: i64 = c
        .query_one("SELECT count(*) FROM citations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(citations >= 1);
}

/// What is saved reads back as the same provenance the run wrote next to its report: the
/// claims, their verdicts, citations with exact spans and source URLs, and the summary.
#[tokio::test(flavor = "multi_thread")]
async fn stored_claims_read_back_as_the_provenance_the_run_exported() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    w.verifier_says_supported();
    let out_dir = tempfile::tempdir().unwrap();
    let out = w
        .dra(
            "alice@example.com",
            &[
                "--verify",
                "--out",
                out_dir.path().to_str().unwrap(),
                QUESTION,
            ],
        )
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
    let exported: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("provenance.json")).unwrap(),
    )
    .unwrap();
    let message: uuid::Uuid = exported["messageId"].as_str().unwrap().parse().unwrap();

    let pool = build_pool(
        ConnectionTarget::from_url(
            &DatabaseUrl::parse(&w.db.url()).unwrap(),
            &AppConfig::default(),
            &Env::new(),
        )
        .unwrap(),
        &AppConfig::default().database.pool,
    )
    .await
    .unwrap();
    let mut conn = pool.get().await.unwrap();
    let claims = dra::db::repo::claims::load(&mut conn, MessageId(message))
        .await
        .unwrap();
    assert!(!claims.is_empty());
    assert!(claims.iter().all(|c| !c.citations.is_empty()));
    let read_back = serde_json::to_value(
        dra::citations::provenance::Provenance::new(message, claims).export(chrono::Utc::now()),
    )
    .unwrap();
    assert_eq!(read_back["claims"], exported["claims"]);
    assert_eq!(read_back["summary"], exported["summary"]);

    // Another message's claims are not mixed in; an unknown message has none.
    let none = dra::db::repo::claims::load(&mut conn, MessageId::new())
        .await
        .unwrap();
    assert!(none.is_empty());
}

// ---- a run that breaks: a bug inside it, or its process killed ----

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_inside_the_run_fails_it_cleanly_and_saves_it_failed() {
    let w = World::start().await;
    w.script_one_step_run("Deltas");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = w
        .dra(
            "alice@example.com",
            &["--out", out_dir.to_str().unwrap(), QUESTION],
        )
        .env(dra::research::fault::VAR, "synthesizer")
        .run()
        .await;
    assert_eq!(out.code, 1, "a failure, not a crash (101): {out:?}");
    assert!(
        out.stderr
            .contains("internal error: the research run stopped at a bug"),
        "{}",
        out.stderr
    );
    assert!(out
        .stderr
        .contains("fault injected at the synthesizer stage"));
    saved_chat(&out.stderr);

    // What it has is written: every event up to the failure, and the usage.
    let events = std::fs::read_to_string(out_dir.join("events.jsonl")).unwrap();
    let last: Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["eventType"], "error", "{last}");
    assert_eq!(last["payload"]["errorCode"], "INTERNAL_ERROR");
    assert_eq!(last["payload"]["recoverable"], false);
    assert!(events.contains("\"step_completed\""), "research ran first");
    assert!(!events.contains("\"research_completed\""));
    let usage: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("usage.json")).unwrap())
            .unwrap();
    assert_eq!(usage["failed"], true, "{usage}");
    assert!(usage["calls"].as_u64().unwrap() >= 3, "{usage}");
    assert!(!out_dir.join("report.md").exists());

    let c = w.db.client().await;
    let row = c
        .query_one("SELECT status, error_message FROM research_sessions", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row
        .get::<_, Option<String>>(1)
        .is_some_and(|e| e.contains("internal error")));
    let stored: String = c
        .query_one(
            "SELECT payload->>'errorCode' FROM research_events ORDER BY sequence_number DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "INTERNAL_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_keeps_beating_until_killed_then_any_server_sweep_ends_it_failed() {
    use dra::jobs::{sweep, JobsConfig};
    let w = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let (mut child, _home) = w.spawn_run_that_hangs_after_one_step(&events);
    crate::support::world::wait_for_first_step(&events).await;
    let pool = pool_for(&w.db).await;
    let c = w.db.client().await;
    let beat = c
        .query_one(
            "SELECT worker_id, last_heartbeat IS NOT NULL, status FROM research_sessions",
            &[],
        )
        .await
        .unwrap();
    assert!(
        beat.get::<_, Option<String>>(0)
            .is_some_and(|w| w.starts_with("dra-research:")),
        "the CLI run holds its session"
    );
    assert!(beat.get::<_, bool>(1), "and beats");
    // A live run is left alone by a sweep.
    let patient = JobsConfig::default();
    sweep::once(&pool, &patient).await.unwrap();
    let status: String = c
        .query_one("SELECT status FROM research_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "in_progress");

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let eager = JobsConfig {
        zombie_threshold_seconds: 1,
        ..JobsConfig::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        sweep::once(&pool, &eager).await.unwrap();
        let status: String = c
            .query_one("SELECT status FROM research_sessions", &[])
            .await
            .unwrap()
            .get(0);
        if status != "in_progress" {
            assert_eq!(status, "failed");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the killed run was never swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let last: Value = serde_json::from_str(
        &c.query_one(
            "SELECT payload::text FROM research_events ORDER BY sequence_number DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0),
    )
    .unwrap();
    assert_eq!(last["eventType"], "error");
    assert_eq!(last["errorCode"], "WORKER_LOST");
    assert!(last["errorMessage"]
        .as_str()
        .unwrap()
        .contains("stopped responding"));
    // Nothing is ended twice.
    sweep::once(&pool, &eager).await.unwrap();
    let errors: i64 = c
        .query_one(
            "SELECT count(*) FROM research_events WHERE event_type = 'error'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(errors, 1);
}
