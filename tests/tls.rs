//! TLS to PostgreSQL: rustls with certificate verification.

mod support;

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use dra::config::{AppConfig, DatabaseUrl};
use dra::db::ConnectionTarget;
use support::PrivateCluster;

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn target(cluster: &PrivateCluster, query: &str) -> ConnectionTarget {
    let url = DatabaseUrl::parse(&format!(
        "postgres://postgres:superpw@127.0.0.1:{}/postgres?{query}",
        cluster.port
    ))
    .unwrap();
    ConnectionTarget::from_url(&url, &AppConfig::default()).unwrap()
}

async fn uses_tls(t: &ConnectionTarget) -> Result<bool, String> {
    let mut conn = t.connect().await.map_err(|e| e.to_string())?;
    let rows: Vec<Ssl> =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .load(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(rows[0].ssl)
}

#[tokio::test(flavor = "multi_thread")]
async fn require_verifies_the_server_certificate() {
    let cluster = PrivateCluster::start();
    let ca = cluster.enable_tls().await;

    let trusted = target(
        &cluster,
        &format!("sslmode=require&sslrootcert={}", ca.display()),
    );
    assert_eq!(uses_tls(&trusted).await, Ok(true));

    // Same server, CA not trusted: refused, not silently accepted.
    let untrusted = target(&cluster, "sslmode=require");
    let err = uses_tls(&untrusted).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains("superpw"), "{err}");

    let plain = target(&cluster, "sslmode=disable");
    assert_eq!(uses_tls(&plain).await, Ok(false));
}
