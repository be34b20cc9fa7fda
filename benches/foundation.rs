//! Foundation benchmarks: config loading, a fresh migration run, pool checkout + query.
//! Results go to `bench-results/foundation.json` (and a summary to stdout).
//!
//! Needs PostgreSQL: `DRA_TEST_PG_URL` (what `make bench` sets) or 127.0.0.1:5432.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ScratchDb;
use diesel_async::RunQueryDsl;
use dra::config::{load_str, AppConfig, Env};
use dra::db::{build_pool, migrations};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    common::block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/original-app.yaml"
    ))?;
    let config_load = time_many(200, || {
        load_str(&original, Path::new("app.yaml"), &Env::new()).map(|_| ())
    })?;

    let config = AppConfig::default();
    let db = ScratchDb::create().await?;
    let target = db.target.clone();

    let started = Instant::now();
    let applied = migrations::run_pending(target.connect().await?).await?;
    let migrate_ms = started.elapsed().as_secs_f64() * 1e3;

    let pool = build_pool(target.clone(), &config.database.pool).await?;
    let mut samples = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let t = Instant::now();
        let mut conn = pool.get().await?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).await?;
        samples.push(t.elapsed());
    }
    drop(pool);
    db.drop().await?;

    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    let result = json!({
        "benchmark": "foundation",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "config_load_original_yaml_us": { "mean": config_load.as_secs_f64() * 1e6 },
        "migrate_fresh_database_ms": { "value": migrate_ms, "migrations": applied.len() },
        "pool_checkout_select1_us": { "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "samples": samples.len() },
    });
    common::report("foundation", &result)?;
    Ok(())
}

fn time_many<E: std::error::Error + Send + Sync + 'static>(
    n: u32,
    mut f: impl FnMut() -> Result<(), E>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for _ in 0..n {
        f()?;
    }
    Ok(started.elapsed() / n)
}
