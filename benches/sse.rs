//! 1,000 concurrent event streams on one `dra serve` process. Results:
//! `bench-results/sse.json`.
//!
//! The `dra serve` binary this bench was built with runs against a fresh database with
//! 1,000 users, each with a running research session, and each user streams their own
//! session (`GET /api/v1/research/jobs/{id}/stream`). Every tick, one statement stores the
//! next event of every session (as a worker's event log does, in batches); each event
//! carries the time it was written, and the client records when it arrived. Reported:
//! delivery latency percentiles over every event of every stream, events delivered, and
//! the server's resident memory idle and with all streams open. The clients run in this
//! process on the same two cores, so latencies include their scheduling too.
//!
//! Needs PostgreSQL: `DRA_TEST_PG_URL` (what `make bench` sets) or 127.0.0.1:5432.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use common::ScratchDb;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::RunQueryDsl;
use dra::db::{migrations, ConnectionTarget};
use futures::StreamExt;
use serde_json::{json, Value};

const STREAMS: usize = 1_000;
const TICKS: i32 = 20;
const TICK: Duration = Duration::from_millis(250);

fn main() -> anyhow::Result<()> {
    common::block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let db = ScratchDb::create().await?;
    let result = measure(&db.target, &db.url).await;
    db.drop().await?;
    let result = result?;
    common::report("sse", &result)?;
    Ok(())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    Ok(kib / 1024.0)
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    user_id: String,
}

async fn measure(target: &ConnectionTarget, db_url: &url::Url) -> anyhow::Result<Value> {
    migrations::run_pending(target.connect().await?).await?;
    let mut conn = target.connect().await?;
    for sql in [
        "INSERT INTO chats (id, user_id, title) SELECT gen_random_uuid(), 'user' || g || '@bench.example', 'bench' FROM generate_series(1, 1000) g",
        "INSERT INTO messages (id, chat_id, role) SELECT gen_random_uuid(), id, 'agent' FROM chats",
        "INSERT INTO research_sessions (id, message_id, query, status, user_id, chat_id) \
         SELECT gen_random_uuid(), m.id, 'q', 'in_progress', c.user_id, c.id \
         FROM messages m JOIN chats c ON c.id = m.chat_id",
    ] {
        diesel::sql_query(sql).execute(&mut conn).await?;
    }
    let sessions: Vec<Row> =
        diesel::sql_query("SELECT id, user_id::text AS user_id FROM research_sessions")
            .load(&mut conn)
            .await?;
    if sessions.len() != STREAMS {
        bail!("expected {STREAMS} sessions, made {}", sessions.len());
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dra"))
        .args(["serve", "--production", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("DATABASE_URL", db_url.as_str())
        .env(
            "APP_CONFIG_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/app.yaml"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(STREAMS)
        .build()?;
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("dra serve did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = rss_mib(child.id())?;

    let latencies = Arc::new(Mutex::new(Vec::with_capacity(STREAMS * TICKS as usize)));
    let ends = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for s in &sessions {
        let response = client
            .get(format!("{base}/api/v1/research/jobs/{}/stream", s.id))
            .header("X-Forwarded-Email", &s.user_id)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("stream answered {}", response.status());
        }
        let latencies = latencies.clone();
        let ends = ends.clone();
        tasks.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                        continue;
                    };
                    let Ok(frame) = serde_json::from_str::<Value>(data) else {
                        continue;
                    };
                    if let Some(sent) = frame["payload"]["sentAtMicros"].as_i64() {
                        let delay = (now_micros() - sent).max(0) as f64 / 1000.0;
                        if let Ok(mut l) = latencies.lock() {
                            l.push(delay);
                        }
                    } else if frame["eventType"] == "job_completed" {
                        ends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    // Let every stream reach its follow loop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open_rss = rss_mib(child.id())?;

    let mut peak_rss = open_rss;
    for tick in 1..=TICKS {
        diesel::sql_query(
            "INSERT INTO research_events (research_session_id, event_type, payload, sequence_number) \
             SELECT id, 'tool_call', jsonb_build_object('eventType', 'tool_call', 'sentAtMicros', $1::bigint), $2 \
             FROM research_sessions",
        )
        .bind::<BigInt, _>(now_micros())
        .bind::<Integer, _>(tick)
        .execute(&mut conn)
        .await?;
        tokio::time::sleep(TICK).await;
        peak_rss = peak_rss.max(rss_mib(child.id())?);
    }
    // Let stragglers arrive, then end every session: each stream closes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    diesel::sql_query("UPDATE research_sessions SET status = 'completed', completed_at = now()")
        .execute(&mut conn)
        .await?;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let _ = child.kill();
    let _ = child.wait();

    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| l.get(((l.len().max(1) - 1) as f64 * p) as usize).copied();
    Ok(json!({
        "benchmark": "sse",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "streams": STREAMS,
        "events_per_stream": TICKS,
        "tick_ms": TICK.as_millis() as u64,
        "events_expected": STREAMS * TICKS as usize,
        "events_delivered": l.len(),
        "streams_ended": std::sync::atomic::AtomicUsize::load(&ends, std::sync::atomic::Ordering::SeqCst),
        "delivery_latency_ms": {
            "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": l.last(),
        },
        "server_rss_mib": { "idle": idle_rss, "streams_open": open_rss, "peak": peak_rss },
        "server_rss_per_stream_kib": (peak_rss - idle_rss) * 1024.0 / STREAMS as f64,
    }))
}
