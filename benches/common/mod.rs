//! What the benches share: the runtime they run on and a scratch PostgreSQL database.
#![allow(dead_code)]

use std::future::Future;

use diesel_async::RunQueryDsl;
use dra::config::{AppConfig, DatabaseUrl, Env};
use dra::db::{admin, ConnectionTarget};

/// Runs `bench` to its end on a multi-threaded runtime.
pub fn block_on(bench: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench)
}

/// Writes `result` to `bench-results/{name}.json`.
pub fn save(name: &str, result: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::create_dir_all("bench-results")?;
    std::fs::write(
        format!("bench-results/{name}.json"),
        serde_json::to_string_pretty(result)?,
    )?;
    Ok(())
}

/// [`save`]s `result` and prints it.
pub fn report(name: &str, result: &serde_json::Value) -> anyhow::Result<()> {
    save(name, result)?;
    println!("{}", serde_json::to_string_pretty(result)?);
    Ok(())
}

/// A fresh database on the server of `DRA_TEST_PG_URL` (what `make bench` sets) or
/// 127.0.0.1:5432, dropped by [`ScratchDb::drop`].
pub struct ScratchDb {
    /// The server, through the database the URL names.
    pub server: ConnectionTarget,
    /// The scratch database's name.
    pub name: String,
    /// The scratch database.
    pub target: ConnectionTarget,
    /// The scratch database's URL (`sslmode=disable`).
    pub url: url::Url,
}

impl ScratchDb {
    pub async fn create() -> anyhow::Result<ScratchDb> {
        let admin_url = std::env::var("DRA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut url = url::Url::parse(&admin_url)?;
        url.set_query(Some("sslmode=disable"));
        let server = ConnectionTarget::from_url(
            &DatabaseUrl::parse(url.as_str()).map_err(anyhow::Error::msg)?,
            &AppConfig::default(),
            &Env::new(),
        )?;
        let name = format!("dra_bench_{}", uuid::Uuid::new_v4().simple());
        admin::create_database(&mut server.connect().await?, &name).await?;
        let target = server.with_database(&name);
        url.set_path(&format!("/{name}"));
        Ok(ScratchDb {
            server,
            name,
            target,
            url,
        })
    }

    /// Drops the database, whoever is still connected.
    pub async fn drop(self) -> anyhow::Result<()> {
        diesel::sql_query(format!(
            "DROP DATABASE {} WITH (FORCE)",
            admin::quote_ident(&self.name)
        ))
        .execute(&mut self.server.connect().await?)
        .await?;
        Ok(())
    }
}
