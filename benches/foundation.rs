//! Foundation benchmarks: config loading, a fresh migration run, pool checkout + query.
//! Results go to `bench-results/foundation.json` (and a summary to stdout).
//!
//! Needs PostgreSQL: `DRA_TEST_PG_URL` (what `make bench` sets) or 127.0.0.1:5432.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use dra::config::{load_str, AppConfig, DatabaseUrl, Env};
use dra::db::{admin, build_pool, migrations, ConnectionTarget};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/original-app.yaml"
    ))?;
    let config_load = time_many(200, || {
        load_str(&original, Path::new("app.yaml"), &Env::new()).map(|_| ())
    })?;

    let admin_url = std::env::var("DRA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let config = AppConfig::default();
    let mut url = url::Url::parse(&admin_url)?;
    url.set_query(Some("sslmode=disable"));
    let server = ConnectionTarget::from_url(
        &DatabaseUrl::parse(url.as_str()).map_err(anyhow::Error::msg)?,
        &config,
    )?;
    let name = format!("dra_bench_{}", uuid::Uuid::new_v4().simple());
    admin::create_database(&mut server.connect().await?, &name).await?;
    let target = server.with_database(&name);

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
    diesel::sql_query(format!(
        "DROP DATABASE {} WITH (FORCE)",
        admin::quote_ident(&name)
    ))
    .execute(&mut server.connect().await?)
    .await?;

    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    let result = json!({
        "benchmark": "foundation",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "config_load_original_yaml_us": { "mean": config_load.as_secs_f64() * 1e6 },
        "migrate_fresh_database_ms": { "value": migrate_ms, "migrations": applied.len() },
        "pool_checkout_select1_us": { "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "samples": samples.len() },
    });
    std::fs::create_dir_all("bench-results")?;
    std::fs::write(
        "bench-results/foundation.json",
        serde_json::to_string_pretty(&result)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&result)?);
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
