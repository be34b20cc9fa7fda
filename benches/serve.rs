//! `dra serve` under load and at start. Results: `bench-results/serve.json`.
//!
//! - `list_chats`: `GET /v1/chats` (the user's 100 most recent live chats, each with its
//!   message count) with 10,000 chats of that user in the database, from 100 concurrent
//!   keep-alive connections on loopback for a fixed time: requests per second and latency
//!   percentiles. The server runs in this process (the app `dra serve` mounts, its default
//!   pool, rate limits off), on its own thread and actix workers; the load generator shares
//!   the machine's cores with it, so the numbers are a floor for a dedicated host.
//! - `cold_start`: the `dra serve` binary this bench was built with, spawned against a
//!   migrated database, until `/v1/health` answers 200: median of 5.
//!
//! Needs PostgreSQL: `DRA_TEST_PG_URL` (what `make bench` sets) or 127.0.0.1:5432.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use common::ScratchDb;
use diesel_async::RunQueryDsl;
use dra::config::AppConfig;
use dra::db::{build_pool, migrations};
use dra::serve::{AppState, IdentityMode};
use serde_json::json;

const USER: &str = "bench@example.com";
const CHATS: usize = 10_000;
const MESSAGES_PER_CHAT: usize = 2;
const CONNECTIONS: usize = 100;
const WARMUP: Duration = Duration::from_secs(2);
const DURATION: Duration = Duration::from_secs(15);
const COLD_STARTS: usize = 5;
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    common::block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = AppConfig::default();
    let db = ScratchDb::create().await?;
    let result = measure(&db, &config).await;
    db.drop().await?;
    let result = result?;
    common::report("serve", &result)?;
    Ok(())
}

async fn measure(db: &ScratchDb, config: &AppConfig) -> anyhow::Result<serde_json::Value> {
    let target = &db.target;
    migrations::run_pending(target.connect().await?).await?;
    let mut conn = target.connect().await?;
    diesel::sql_query(format!(
        "INSERT INTO chats (user_id, title, updated_at) \
         SELECT '{USER}', 'Bench chat ' || g, now() - make_interval(secs => g) \
         FROM generate_series(1, {CHATS}) g"
    ))
    .execute(&mut conn)
    .await?;
    diesel::sql_query(format!(
        "INSERT INTO messages (chat_id, role, content) \
         SELECT c.id, CASE WHEN n % 2 = 1 THEN 'user' ELSE 'agent' END, 'message ' || n \
         FROM chats c, generate_series(1, {MESSAGES_PER_CHAT}) n"
    ))
    .execute(&mut conn)
    .await?;
    diesel::sql_query("ANALYZE").execute(&mut conn).await?;
    drop(conn);

    let pool = build_pool(target.clone(), &config.database.pool).await?;
    let state = Arc::new(AppState {
        limits: None,
        ..AppState::new(
            Some(pool),
            IdentityMode::Development {
                local_user: USER.into(),
            },
        )
    });
    let (addr, workers, stop) = start_in_process(state)?;
    // Other work on the host (builds) takes cores from both sides of the loopback; the
    // load at start says how much the numbers below are worth.
    let load_before = load_average();
    let list = load(&format!("http://{addr}/v1/chats")).await;
    stop.stop(true).await;
    let list = list?;

    let cold = cold_start(db.url.as_str()).await?;

    Ok(json!({
        "benchmark": "serve",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "host_load_average_1m_at_start": load_before,
        "list_chats": {
            "route": "GET /v1/chats",
            "chats_in_database": CHATS,
            "messages_in_database": CHATS * MESSAGES_PER_CHAT,
            "connections": CONNECTIONS,
            "server_workers": workers,
            "pool_max_size": config.database.pool.max_size,
            "duration_s": DURATION.as_secs_f64(),
            "requests": list.requests,
            "errors": list.errors,
            "requests_per_second": list.requests as f64 / list.elapsed.as_secs_f64(),
            "latency_ms": {
                "p50": list.percentile(0.50),
                "p90": list.percentile(0.90),
                "p99": list.percentile(0.99),
                "max": list.percentile(1.0),
            },
        },
        "cold_start": cold,
    }))
}

/// The host's 1-minute load average (Linux), `null` where there is none.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The app on an HTTP server of its own thread and actix system, on a free loopback port.
fn start_in_process(
    state: Arc<AppState>,
) -> anyhow::Result<(std::net::SocketAddr, usize, actix_web::dev::ServerHandle)> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        let ready = tx.clone();
        let started = system.block_on(async move {
            let server = actix_web::HttpServer::new(move || dra::serve::app(Arc::clone(&state)))
                .workers(workers)
                .backlog(1024)
                .bind(("127.0.0.1", 0))?;
            let addr = server.addrs()[0];
            let server = server.run();
            let _ = ready.send(Ok((addr, server.handle())));
            server.await
        });
        if let Err(e) = started {
            let _ = tx.send(Err(e));
        }
    });
    let (addr, handle) = rx.recv_timeout(Duration::from_secs(10))??;
    Ok((addr, workers, handle))
}

struct Load {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Latencies of successful requests, sorted.
    latencies: Vec<Duration>,
}

impl Load {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let at = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[at].as_secs_f64() * 1e3
    }
}

/// `CONNECTIONS` clients, each with one keep-alive connection, sending `GET url` back to
/// back: a warm-up, then `DURATION` measured.
async fn load(url: &str) -> anyhow::Result<Load> {
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    let begin = Instant::now() + WARMUP;
    let end = begin + DURATION;
    for _ in 0..CONNECTIONS {
        // One client per task, so each holds its own connection, like wrk's.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()?;
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let answer = match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if started < begin {
                    continue;
                }
                if answer {
                    ok += 1;
                    latencies.push(started.elapsed());
                } else {
                    errors += 1;
                }
            }
            (ok, errors, latencies)
        }));
    }
    let mut total = Load {
        requests: 0,
        errors: 0,
        elapsed: DURATION,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (ok, errors, latencies) = task.await?;
        total.requests += ok;
        total.errors += errors;
        total.latencies.extend(latencies);
    }
    total.latencies.sort();
    if total.requests == 0 {
        bail!("no request to {url} succeeded");
    }
    Ok(total)
}

/// Spawns `dra serve` `COLD_STARTS` times and times each until `/v1/health` is 200.
async fn cold_start(database_url: &str) -> anyhow::Result<serde_json::Value> {
    let binary = env!("CARGO_BIN_EXE_dra");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut samples = Vec::with_capacity(COLD_STARTS);
    for _ in 0..COLD_STARTS {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let health = format!("http://127.0.0.1:{port}/v1/health");
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--local-user", USER])
            .env("DATABASE_URL", database_url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let ready = loop {
            if matches!(client.get(&health).send().await, Ok(r) if r.status().is_success()) {
                break Some(started.elapsed());
            }
            if started.elapsed() > START_TIMEOUT || child.try_wait()?.is_some() {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        match ready {
            Some(t) => samples.push(t),
            None => {
                bail!("{binary} serve did not answer {health} with 200 within {START_TIMEOUT:?}")
            }
        }
    }
    let mut sorted = samples.clone();
    sorted.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    Ok(json!({
        "binary": binary,
        "until": "GET /v1/health answers 200",
        "runs": COLD_STARTS,
        "median_ms": ms(&sorted[sorted.len() / 2]),
        "min_ms": ms(&sorted[0]),
        "max_ms": ms(&sorted[sorted.len() - 1]),
        "samples_ms": samples.iter().map(ms).collect::<Vec<_>>(),
    }))
}
