//! The shared pool over a plain DATABASE_URL.

use std::time::Duration;

use crate::support::TestDb;
use diesel_async::RunQueryDsl;
use dra::config::{AppConfig, DatabaseUrl, Env};
use dra::db::{build_pool, ConnectionTarget};

fn target(url: &str) -> ConnectionTarget {
    ConnectionTarget::from_url(
        &DatabaseUrl::parse(url).unwrap(),
        &AppConfig::default(),
        &Env::new(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_serves_more_tasks_than_connections() {
    let db = TestDb::new().await;
    let mut limits = AppConfig::default().database.pool;
    limits.max_size = 3;
    let pool = build_pool(target(&db.url()), &limits).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut conn = pool.get().await?;
                diesel::sql_query(format!("SELECT {i}"))
                    .execute(&mut *conn)
                    .await
                    .map_err(dra::db::DbError::from)
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let c = db.client().await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dra'",
            &[&db.name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(n <= 3, "at most max_size connections, saw {n}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_reports_the_real_connection_error() {
    let db = TestDb::new().await;
    let missing = db.url().replace(&db.name, "dra_no_such_database");
    let mut limits = AppConfig::default().database.pool;
    limits.connect_timeout = Duration::from_secs(2);
    let pool = build_pool(target(&missing), &limits).await.unwrap();
    let err = pool.get().await.map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("dra_no_such_database") && err.contains("does not exist"),
        "{err}"
    );
}
