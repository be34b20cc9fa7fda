//! Two `dra serve` processes on one database: a run started on one streams from the
//! other, and when the process running it is killed (SIGKILL) the other ends the job
//! within the heartbeat timeout, with every stored event delivered and nothing lost.

use std::time::Duration;

use crate::support::world::Fakes;
use crate::support::TestDb;
use futures::StreamExt;
use serde_json::{json, Value};

const ALICE: &str = "alice@example.com";

use crate::support::browser::free_port;

/// The test config with jobs that notice a dead process within seconds and do not retry.
fn quick_config(dir: &std::path::Path) -> std::path::PathBuf {
    let base = std::fs::read_to_string(crate::support::cli::config_path("app.test.yaml")).unwrap();
    let path = dir.join("app.yaml");
    std::fs::write(
        &path,
        format!(
            "{base}\njobs:\n  heartbeat_interval_seconds: 1\n  zombie_threshold_seconds: 3\n  max_attempts: 1\n  poll_interval_seconds: 1\n  keep_alive_seconds: 1\n"
        ),
    )
    .unwrap();
    path
}

struct Process {
    child: tokio::process::Child,
    url: String,
    _home: tempfile::TempDir,
}

async fn serve(fakes: &Fakes, db: &TestDb, config: &std::path::Path) -> Process {
    serve_with(fakes, db, config, &[]).await
}

/// [`serve`] with extra environment variables.
async fn serve_with(
    fakes: &Fakes,
    db: &TestDb,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> Process {
    let port = free_port();
    let mut dra = fakes
        .dra([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--production",
        ])
        .env("DATABASE_URL", db.url())
        .env("APP_CONFIG_PATH", config);
    for (k, v) in env {
        dra = dra.env(k, v);
    }
    let (child, home) = dra.spawn();
    let url = format!("http://127.0.0.1:{port}");
    crate::support::serve::wait_healthy(&url).await;
    Process {
        child,
        url,
        _home: home,
    }
}

/// Fakes whose research run hangs after its first step, a migrated database, and the
/// quick config (in a directory kept while this lives).
struct Hanging {
    fakes: Fakes,
    db: TestDb,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Hanging {
    async fn start() -> Hanging {
        let fakes = Fakes::start().await;
        fakes.script_run_that_hangs_after_one_step();
        let db = TestDb::new().await;
        crate::support::serve::migrate(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let config = quick_config(dir.path());
        Hanging {
            fakes,
            db,
            config,
            _dir: dir,
        }
    }

    /// A `dra serve` process on this database and config.
    async fn serve(&self) -> Process {
        serve(&self.fakes, &self.db, &self.config).await
    }
}

/// Sends `request` as Alice (through the proxy header); the answer as JSON.
async fn as_alice(request: reqwest::RequestBuilder) -> Value {
    request
        .header("X-Forwarded-Email", ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Alice submits a light deep-research job (with `verify_sources` when given) to
/// `process`; its session id.
async fn submit_job(process: &Process, verify_sources: Option<bool>) -> String {
    let mut request = json!({
        "chat_id": uuid::Uuid::new_v4(),
        "query": "How fast are river deltas losing wetlands?",
        "query_mode": "deep_research",
        "research_depth": "light",
    });
    if let Some(verify) = verify_sources {
        request["verify_sources"] = json!(verify);
    }
    let job = as_alice(
        reqwest::Client::new()
            .post(format!("{}/api/v1/research/jobs", process.url))
            .json(&request),
    )
    .await;
    job["sessionId"].as_str().expect("a session id").to_string()
}

/// Frames of an SSE body as they arrive.
struct Sse {
    body: std::pin::Pin<
        Box<dyn futures::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>,
    >,
    buffer: String,
}

impl Sse {
    async fn open(url: &str) -> Sse {
        let response = reqwest::Client::new()
            .get(url)
            .header("X-Forwarded-Email", ALICE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Sse {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The stream of the job `session` on `process`.
    async fn job(process: &Process, session: &str) -> Sse {
        Sse::open(&format!(
            "{}/api/v1/research/jobs/{session}/stream",
            process.url
        ))
        .await
    }

    /// The next `data:` frame, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return Some(serde_json::from_str(data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.body.next())
                .await
                .expect("a frame within a minute")?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_streams_from_the_other_process_and_survives_its_process_being_killed() {
    let hanging = Hanging::start().await;

    let mut first = hanging.serve().await;
    let client = reqwest::Client::new();
    let session = submit_job(&first, Some(false)).await;

    // The first process runs it; wait until its first step is done.
    let mut from_first = Sse::job(&first, &session).await;
    let mut seen_on_first = Vec::new();
    while let Some(frame) = from_first.next().await {
        let done = frame["eventType"] == "step_completed";
        seen_on_first.push(frame);
        if done {
            break;
        }
    }

    // A second process, started now, streams the same run from the database.
    let mut second = hanging.serve().await;
    let mut from_second = Sse::job(&second, &session).await;
    let mut frames = Vec::new();
    for _ in 0..seen_on_first.len() {
        frames.push(from_second.next().await.expect("the replayed events"));
    }
    assert_eq!(frames, seen_on_first, "the same events, in the same order");

    // Kill the process running it: no goodbye, no hand-back.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    while let Some(frame) = from_second.next().await {
        frames.push(frame);
    }
    let end = frames.pop().unwrap();
    assert_eq!(
        end,
        json!({"eventType": "job_completed", "status": "failed"})
    );
    let seq: Vec<i64> = frames
        .iter()
        .map(|f| f["sequenceNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seq,
        (1..=seq.len() as i64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    let last = frames.last().unwrap();
    assert_eq!(last["eventType"], "error");
    assert_eq!(last["payload"]["errorCode"], "WORKER_LOST");

    let job = as_alice(client.get(format!("{}/api/v1/research/jobs/{session}", second.url))).await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["errorMessage"]
            .as_str()
            .unwrap()
            .contains("stopped responding"),
        "{job}"
    );
    second.child.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_hands_the_running_job_back_to_the_queue() {
    let hanging = Hanging::start().await;
    let mut process = hanging.serve().await;
    let session = submit_job(&process, None).await;
    let mut stream = Sse::job(&process, &session).await;
    while let Some(frame) = stream.next().await {
        if frame["eventType"] == "step_completed" {
            break;
        }
    }
    let pid = process.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(45), process.child.wait())
        .await
        .expect("dra serve stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // The open stream was ended, not left hanging: its client resumes elsewhere.
    // (`next` panics if no frame arrives within a minute.)
    while let Some(frame) = stream.next().await {
        assert_ne!(frame["eventType"], "job_completed", "the run did not end");
    }
    let c = hanging.db.client().await;
    let row = c
        .query_one(
            "SELECT j.status, j.worker_id, j.attempts, s.status, coalesce(j.error_message, s.error_message, '') \
             FROM research_jobs j JOIN research_sessions s ON s.id = j.research_session_id",
            &[],
        )
        .await
        .unwrap();
    let (job, worker, attempts, session): (String, Option<String>, i32, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let why: String = row.get(4);
    assert_eq!(job, "queued", "handed back for another process ({why})");
    assert_eq!(worker, None);
    assert_eq!(attempts, 0, "an interrupted attempt does not count");
    assert_eq!(session, "in_progress");
}

/// Sends `head` (and what follows it) on a new connection to `url`'s port and returns the
/// connection, still open.
async fn open_slow(url: &str, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("send");
    conn
}

/// Everything the server sends on `conn` until it closes it (or `limit` passes: then what
/// came so far).
async fn read_until_closed(conn: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, conn.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_finishes_is_cut_off_and_open_connections_are_capped() {
    // Issue 19 #6: a request body that never finished held its connection open (one still
    // open after 130 s; 1,000 open after 33 s).
    let fakes = Fakes::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(crate::support::cli::config_path("app.test.yaml")).unwrap();
    let config = dir.path().join("app.yaml");
    std::fs::write(
        &config,
        format!("{base}\nserver:\n  body_timeout: 4s\n  max_connections: 2\n"),
    )
    .unwrap();
    let port = free_port();
    let (_child, _home) = fakes
        .dra(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("APP_CONFIG_PATH", &config)
        .spawn();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{url}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "dra serve did not start on {url}");

    // Two clients that announce 100 bytes and send one: the server's whole capacity.
    let slow = "PUT /api/v1/preferences HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    let mut first = open_slow(&url, slow).await;
    let mut second = open_slow(&url, slow).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A third is not served while they hold it...
    let mut third = open_slow(
        &url,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let early = read_until_closed(&mut third, Duration::from_secs(1)).await;
    assert_eq!(early, "", "served beyond max_connections");
    // ...the slow ones are answered 408 and closed once body_timeout passes...
    for conn in [&mut first, &mut second] {
        let answer = read_until_closed(conn, Duration::from_secs(60)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    }
    // ...and then the third gets its answer.
    let late = read_until_closed(&mut third, Duration::from_secs(60)).await;
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
    // A body that arrives in time is read as usual.
    let ok = client
        .put(format!("{url}/api/v1/preferences"))
        .json(&json!({"theme": "dark"}))
        .send()
        .await
        .unwrap();
    assert_ne!(ok.status(), reqwest::StatusCode::REQUEST_TIMEOUT);
}

/// A job run by `dra serve` is one trace in MLflow whose root names the signed-in user and
/// the chat, as the deployment guide promises (`mlflow.trace.user`, `mlflow.trace.session`).
#[tokio::test(flavor = "multi_thread")]
async fn a_served_run_is_traced_in_mlflow_with_its_user_and_chat() {
    let fakes = Fakes::start().await;
    fakes.script_one_step_run("Deltas");
    let db = TestDb::new().await;
    crate::support::serve::migrate(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let config = quick_config(dir.path());
    let mlflow = crate::support::mlflow::FakeMlflow::start().await;
    let process = serve_with(
        &fakes,
        &db,
        &config,
        &[
            ("MLFLOW_TRACKING_URI", &mlflow.url),
            (
                "MLFLOW_EXPERIMENT_NAME",
                "/Shared/deep-research-agent-experiments",
            ),
        ],
    )
    .await;
    let url = process.url.clone();
    let client = reqwest::Client::new();
    let chat = uuid::Uuid::new_v4();
    let job = as_alice(
        client
            .post(format!("{url}/api/v1/research/jobs"))
            .json(&json!({
                "chat_id": chat,
                "query": "How fast are river deltas losing wetlands?",
                "query_mode": "deep_research",
                "research_depth": "light",
            })),
    )
    .await;
    let session = job["sessionId"].as_str().expect("a session id").to_string();
    let mut stream = Sse::job(&process, &session).await;
    while let Some(frame) = stream.next().await {
        if frame["eventType"] == "research_completed" {
            break;
        }
    }
    drop(stream);
    // Spans are flushed when the server stops.
    let mut child = process.child;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::timeout(Duration::from_secs(45), child.wait())
        .await
        .expect("dra serve stops after SIGTERM")
        .unwrap();

    let spans = mlflow.spans();
    let root = spans
        .iter()
        .find(|s| s.name == "research_orchestration")
        .expect("the job's root span reached MLflow");
    assert_eq!(root.attr("user.id"), Some(ALICE));
    assert_eq!(root.attr("session.id"), Some(chat.to_string().as_str()));
    assert_eq!(root.attr("mlflow.spanType"), Some("CHAIN"));
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
}
