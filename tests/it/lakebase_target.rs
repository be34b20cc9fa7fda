//! How a Lakebase connection target is resolved: Databricks Apps variables first, then the
//! instance API, and the user per `lakebase.user`.

use std::sync::Arc;

use crate::support::workspace::{FakeWorkspace, ME, PAT};
use dra::config::{AppConfig, Env, PgUser, SslMode};
use dra::databricks::{AuthOptions, DatabricksAuth, WorkspaceClient};
use dra::db::tls::{Roots, Verify};
use dra::db::ConnectionTarget;
use futures::FutureExt;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn client(ws: &FakeWorkspace) -> WorkspaceClient {
    let e = env(&[("DATABRICKS_HOST", &ws.url), ("DATABRICKS_TOKEN", PAT)]);
    WorkspaceClient::new(Arc::new(
        DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap(),
    ))
}

async fn resolve(ws: &FakeWorkspace, user: PgUser, e: &Env) -> ConnectionTarget {
    let mut config = AppConfig::default();
    config.lakebase.user = user;
    ConnectionTarget::lakebase(&client(ws), "lb", &config, e)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_dns_and_jwt_subject_by_default_with_tls_verified_fully() {
    let ws = FakeWorkspace::start().await.with_instance(
        "lb",
        &["AVAILABLE"],
        "instance-1.database.example",
    );
    ws.set_credential_subject("sp-application-id");
    let t = resolve(&ws, PgUser::Auto, &Env::new()).await;
    assert_eq!(t.host, "instance-1.database.example");
    assert_eq!(t.port, 5432);
    assert_eq!(t.database, "deep_research");
    assert_eq!(t.user, "sp-application-id");
    assert_eq!(t.sslmode, SslMode::VerifyFull);
    assert_eq!(
        t.verify,
        Verify::ChainAndHost(Roots::Lakebase { extra: None })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weaker_sslmode_does_not_weaken_lakebase_verification() {
    let ws = FakeWorkspace::start().await.with_instance(
        "lb",
        &["AVAILABLE"],
        "instance-1.database.example",
    );
    for mode in [SslMode::Prefer, SslMode::Require, SslMode::VerifyCa] {
        let mut config = AppConfig::default();
        config.database.sslmode = Some(mode);
        let t = ConnectionTarget::lakebase(&client(&ws), "lb", &config, &Env::new())
            .await
            .unwrap();
        assert_eq!(t.sslmode, SslMode::VerifyFull, "{mode}");
        assert_eq!(
            t.verify,
            Verify::ChainAndHost(Roots::Lakebase { extra: None }),
            "{mode}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn databricks_apps_variables_win() {
    let ws = FakeWorkspace::start().await.with_instance(
        "lb",
        &["AVAILABLE"],
        "instance-1.database.example",
    );
    let e = env(&[
        ("PGHOST", "injected.host"),
        ("PGPORT", "6543"),
        ("PGDATABASE", "appdb"),
        ("PGUSER", "app-sp"),
    ]);
    let t = resolve(&ws, PgUser::Auto, &e).await;
    assert_eq!(
        (
            t.host.as_str(),
            t.port,
            t.database.as_str(),
            t.user.as_str()
        ),
        ("injected.host", 6543, "appdb", "app-sp")
    );
    assert!(
        !ws.requests()
            .iter()
            .any(|r| r.path.starts_with("/api/2.0/database/instances")),
        "PGHOST makes the instance lookup unnecessary"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn user_token_mode_and_scim_fallback() {
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", &["AVAILABLE"], "h");
    assert_eq!(resolve(&ws, PgUser::Token, &Env::new()).await.user, "token");
    assert_eq!(
        resolve(&ws, PgUser::Named("fixed".into()), &Env::new())
            .await
            .user,
        "fixed"
    );

    // A credential that is not a JWT: the user comes from SCIM Me.
    ws.set_credential_hook(Arc::new(|| {
        async { "opaque-credential".to_string() }.boxed()
    }));
    assert_eq!(resolve(&ws, PgUser::Auto, &Env::new()).await.user, ME);
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_without_dns_says_to_wait() {
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", &["STARTING"], "h");
    let mut config = AppConfig::default();
    config.lakebase.user = PgUser::Token;
    let err = ConnectionTarget::lakebase(&client(&ws), "lb", &config, &Env::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no read_write_dns yet (state STARTING)") && err.contains("dra wait-lakebase"),
        "{err}"
    );
}
