//! TLS to PostgreSQL with libpq's `sslmode` semantics, against private clusters: Debian's
//! stock setup (TLS on, a self-signed "snakeoil" certificate), a CA-signed certificate, the
//! PostgreSQL documentation's self-signed recipe, and a server without TLS.

use std::path::Path;

use crate::support::{Dra, PrivateCluster, ServerCert};
use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use dra::config::{AppConfig, DatabaseUrl, Env};
use dra::db::ConnectionTarget;

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn url(cluster: &PrivateCluster, host: &str, query: &str) -> String {
    format!(
        "postgres://postgres:superpw@{host}:{}/postgres?{query}",
        cluster.port
    )
}

/// A target by 127.0.0.1, with no home directory (so no `~/.postgresql/root.crt`).
fn target(cluster: &PrivateCluster, query: &str) -> Result<ConnectionTarget, String> {
    target_with(cluster, "127.0.0.1", query, &Env::new())
}

fn target_with(
    cluster: &PrivateCluster,
    host: &str,
    query: &str,
    env: &Env,
) -> Result<ConnectionTarget, String> {
    let url = DatabaseUrl::parse(&url(cluster, host, query)).unwrap();
    ConnectionTarget::from_url(&url, &AppConfig::default(), env).map_err(|e| e.to_string())
}

/// Whether the connection's backend is encrypted, per `pg_stat_ssl`.
async fn uses_tls(t: Result<ConnectionTarget, String>) -> Result<bool, String> {
    let mut conn = t?.connect().await.map_err(|e| e.to_string())?;
    let rows: Vec<Ssl> =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .load(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(rows[0].ssl)
}

fn assert_mentions(err: &str, words: &[&str]) {
    for w in words {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
    assert!(!err.contains("superpw"), "password in: {err}");
}

fn home_with_root_crt(cert: &Path) -> (tempfile::TempDir, Env) {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(cert, home.path().join(".postgresql/root.crt")).unwrap();
    let env = Env::from([(
        "HOME".to_string(),
        home.path().to_string_lossy().into_owned(),
    )]);
    (home, env)
}

/// A certificate (with its key) that signed nothing the server presents.
fn unrelated_cert(dir: &Path) -> std::path::PathBuf {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=someone else",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
        ])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("other.pem")
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_by_default_encrypts_without_verifying_a_self_signed_certificate() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;

    assert_eq!(uses_tls(target(&cluster, "")).await, Ok(true));
    assert_eq!(uses_tls(target(&cluster, "sslmode=prefer")).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn require_encrypts_without_verifying() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;

    assert_eq!(
        uses_tls(target(&cluster, "sslmode=require")).await,
        Ok(true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_ca_without_a_root_certificate_fails_saying_how_to_configure_one() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;
    let empty_home = tempfile::tempdir().unwrap();
    let env = Env::from([(
        "HOME".to_string(),
        empty_home.path().to_string_lossy().into_owned(),
    )]);

    let err = uses_tls(target_with(
        &cluster,
        "127.0.0.1",
        "sslmode=verify-ca",
        &env,
    ))
    .await
    .unwrap_err();
    assert_mentions(
        &err,
        &[
            "sslmode=verify-ca",
            ".postgresql/root.crt does not exist",
            "sslrootcert=PATH",
            "PGSSLROOTCERT",
            "sslmode=require",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_ca_trusts_the_root_certificate_whatever_the_host_name() {
    let cluster = PrivateCluster::start();
    let cert = cluster.enable_tls(ServerCert::Snakeoil).await;

    // The certificate is for localhost; verify-ca does not look at the name.
    let query = format!("sslmode=verify-ca&sslrootcert={}", cert.display());
    assert_eq!(uses_tls(target(&cluster, &query)).await, Ok(true));

    let scratch = tempfile::tempdir().unwrap();
    let other = unrelated_cert(scratch.path());
    let query = format!("sslmode=verify-ca&sslrootcert={}", other.display());
    let err = uses_tls(target(&cluster, &query)).await.unwrap_err();
    assert_mentions(
        &err,
        &[
            "sslmode=verify-ca",
            "unknown issuer",
            "sslrootcert=PATH",
            "PGSSLROOTCERT",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_checks_the_host_name() {
    let cluster = PrivateCluster::start();
    let cert = cluster.enable_tls(ServerCert::Snakeoil).await;
    let query = format!("sslmode=verify-full&sslrootcert={}", cert.display());

    let err = uses_tls(target(&cluster, &query)).await.unwrap_err();
    assert_mentions(
        &err,
        &["sslmode=verify-full", "`127.0.0.1`", "sslmode=verify-ca"],
    );

    let by_name = target_with(&cluster, "localhost", &query, &Env::new());
    assert_eq!(uses_tls(by_name).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_accepts_a_ca_signed_certificate_for_an_ip_address() {
    let cluster = PrivateCluster::start();
    let ca = cluster.enable_tls(ServerCert::CaSigned).await;

    let query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    assert_eq!(uses_tls(target(&cluster, &query)).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_accepts_the_documentations_self_signed_recipe() {
    // CA:TRUE and only a Common Name: libpq trusts the certificate itself and falls back to
    // the Common Name when there are no DNS names, where webpki alone would refuse both.
    let cluster = PrivateCluster::start();
    let cert = cluster.enable_tls(ServerCert::DocsRecipe).await;
    let query = format!("sslmode=verify-full&sslrootcert={}", cert.display());

    let by_name = target_with(&cluster, "localhost", &query, &Env::new());
    assert_eq!(uses_tls(by_name).await, Ok(true));
    let err = uses_tls(target(&cluster, &query)).await.unwrap_err();
    assert_mentions(&err, &["sslmode=verify-full", "`127.0.0.1`"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_certificate_makes_require_verify_like_verify_ca() {
    let cluster = PrivateCluster::start();
    let cert = cluster.enable_tls(ServerCert::Snakeoil).await;
    let scratch = tempfile::tempdir().unwrap();
    let other = unrelated_cert(scratch.path());

    // sslrootcert set: verified, and refused when it did not sign the server's certificate.
    let query = format!("sslmode=require&sslrootcert={}", other.display());
    let err = uses_tls(target(&cluster, &query)).await.unwrap_err();
    assert_mentions(
        &err,
        &[
            "sslmode=require",
            "because a root certificate is configured",
            "other.pem",
        ],
    );

    // ~/.postgresql/root.crt counts too; the right one is accepted, for any host name.
    let (_wrong_home, env) = home_with_root_crt(&other);
    let err = uses_tls(target_with(&cluster, "127.0.0.1", "sslmode=require", &env))
        .await
        .unwrap_err();
    assert_mentions(&err, &["sslmode=require", "root.crt"]);
    let (_right_home, env) = home_with_root_crt(&cert);
    let right = target_with(&cluster, "127.0.0.1", "sslmode=require", &env);
    assert_eq!(uses_tls(right).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_falls_back_to_plain_when_a_configured_root_certificate_rejects_the_server() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;
    let scratch = tempfile::tempdir().unwrap();
    let other = unrelated_cert(scratch.path());

    let query = format!("sslrootcert={}", other.display());
    assert_eq!(uses_tls(target(&cluster, &query)).await, Ok(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_connects_without_tls() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;

    assert_eq!(
        uses_tls(target(&cluster, "sslmode=disable")).await,
        Ok(false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_connects_plain_unless_the_server_insists_on_tls() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;

    assert_eq!(uses_tls(target(&cluster, "sslmode=allow")).await, Ok(false));
    cluster.require_tls_in_hba().await;
    assert_eq!(uses_tls(target(&cluster, "sslmode=allow")).await, Ok(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_connects_plain_to_a_server_without_tls() {
    let cluster = PrivateCluster::start();

    assert_eq!(uses_tls(target(&cluster, "")).await, Ok(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn require_refuses_a_server_without_tls() {
    let cluster = PrivateCluster::start();

    let err = uses_tls(target(&cluster, "sslmode=require"))
        .await
        .unwrap_err();
    assert_mentions(&err, &["server does not support TLS", "sslmode=prefer"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_migrate_with_the_default_sslmode_works_against_a_self_signed_server() {
    // Issue 18: Debian's stock PostgreSQL, DATABASE_URL without sslmode.
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;

    let migrated = Dra::new(["migrate"])
        .env("DATABASE_URL", url(&cluster, "127.0.0.1", ""))
        .run()
        .await;
    assert!(migrated.ok(), "{migrated:?}");
    assert!(migrated.stdout.contains("applied "), "{migrated:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dra_explains_a_rejected_certificate() {
    let cluster = PrivateCluster::start();
    cluster.enable_tls(ServerCert::Snakeoil).await;
    let scratch = tempfile::tempdir().unwrap();
    let other = unrelated_cert(scratch.path());

    let refused = Dra::new(["migrate"])
        .env(
            "DATABASE_URL",
            url(&cluster, "127.0.0.1", "sslmode=verify-ca"),
        )
        .env("PGSSLROOTCERT", &other)
        .run()
        .await;
    assert_eq!(refused.code, 5, "{refused:?}");
    assert_mentions(
        &refused.stderr,
        &["sslmode=verify-ca", "sslrootcert=PATH", "sslmode=require"],
    );
}
