//! Databricks unified auth against the fake workspace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::workspace::{FakeWorkspace, ME, PAT};
use dra::config::Env;
use dra::databricks::{AuthError, AuthOptions, DatabricksAuth, WorkspaceClient};

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>()
}

fn client(auth: DatabricksAuth) -> WorkspaceClient {
    WorkspaceClient::new(Arc::new(auth))
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_access_token_from_environment() {
    let ws = FakeWorkspace::start().await;
    let home = tempfile::tempdir().unwrap();
    let e = env(&[
        ("DATABRICKS_HOST", &ws.url),
        ("DATABRICKS_TOKEN", PAT),
        ("HOME", home.path().to_str().unwrap()),
    ]);
    let auth = DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap();
    assert!(
        auth.source().contains("personal access token"),
        "{}",
        auth.source()
    );
    let me = client(auth).current_user().await.unwrap();
    assert_eq!(me.user_name, ME);
    let reqs = ws.requests();
    assert_eq!(
        reqs.last().unwrap().authorization.as_deref(),
        Some(format!("Bearer {PAT}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_m2m_token_is_fetched_once_reused_and_refreshed_before_expiry() {
    let ws = FakeWorkspace::start().await.with_m2m_client(
        "sp-id",
        "sp-secret",
        Duration::from_secs(3600),
    );
    let e = env(&[
        ("DATABRICKS_HOST", &ws.url),
        ("DATABRICKS_CLIENT_ID", "sp-id"),
        ("DATABRICKS_CLIENT_SECRET", "sp-secret"),
    ]);
    let c = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap());
    for _ in 0..3 {
        c.current_user().await.unwrap();
    }
    assert_eq!(ws.oidc_calls(), 1, "one token for three calls");

    // A short-lived token is refreshed at half-life, before it expires.
    let ws =
        FakeWorkspace::start()
            .await
            .with_m2m_client("sp-id", "sp-secret", Duration::from_secs(1));
    let e = env(&[
        ("DATABRICKS_HOST", &ws.url),
        ("DATABRICKS_CLIENT_ID", "sp-id"),
        ("DATABRICKS_CLIENT_SECRET", "sp-secret"),
    ]);
    let c = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap());
    c.current_user().await.unwrap();
    c.current_user().await.unwrap();
    assert_eq!(ws.oidc_calls(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.current_user().await.unwrap();
    assert_eq!(ws.oidc_calls(), 2, "refreshed after half its lifetime");
}

#[tokio::test(flavor = "multi_thread")]
async fn m2m_with_a_wrong_secret_fails_without_leaking_it() {
    let ws = FakeWorkspace::start().await.with_m2m_client(
        "sp-id",
        "right-secret",
        Duration::from_secs(3600),
    );
    let e = env(&[
        ("DATABRICKS_HOST", &ws.url),
        ("DATABRICKS_CLIENT_ID", "sp-id"),
        ("DATABRICKS_CLIENT_SECRET", "wrong-secret-value"),
    ]);
    let err = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap())
        .current_user()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid_client"), "{err}");
    assert!(!err.contains("wrong-secret-value"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_from_config_file() {
    let ws = FakeWorkspace::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(
        &cfg,
        format!(
            "[DEFAULT]\nhost = https://wrong.example\n\n[dev]\nhost = {}\ntoken = {PAT}\n",
            ws.url
        ),
    )
    .unwrap();
    let e = env(&[
        ("DATABRICKS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("DATABRICKS_CONFIG_PROFILE", "dev"),
    ]);
    let auth = DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap();
    assert!(auth.source().contains("profile `dev`"), "{}", auth.source());
    assert_eq!(client(auth).current_user().await.unwrap().user_name, ME);
}

#[tokio::test(flavor = "multi_thread")]
async fn explicit_profile_wins_over_environment_token() {
    let ws = FakeWorkspace::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(&cfg, format!("[dev]\nhost = {}\ntoken = {PAT}\n", ws.url)).unwrap();
    let e = env(&[
        ("DATABRICKS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("DATABRICKS_HOST", "https://env.example"),
        ("DATABRICKS_TOKEN", "env-token"),
    ]);
    let opts = AuthOptions {
        profile: Some("dev".into()),
        ..Default::default()
    };
    let auth = DatabricksAuth::resolve(&opts, &e).unwrap();
    assert_eq!(auth.host(), ws.url);
}

#[tokio::test(flavor = "multi_thread")]
async fn databricks_cli_profile_runs_the_cli_for_a_token() {
    let ws = FakeWorkspace::start().await;
    ws.accept_bearer("cli-issued-token");
    let dir = tempfile::tempdir().unwrap();
    let path = crate::support::cli::fake_databricks_cli(dir.path(), "cli-issued-token");
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(
        &cfg,
        format!("[work]\nhost = {}\nauth_type = databricks-cli\n", ws.url),
    )
    .unwrap();
    let e = env(&[
        ("DATABRICKS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("DATABRICKS_CONFIG_PROFILE", "work"),
        ("PATH", &path),
    ]);
    let c = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap());
    c.current_user().await.unwrap();
    c.current_user().await.unwrap();
    let args = std::fs::read_to_string(dir.path().join("cli-args.log")).unwrap();
    assert_eq!(
        args.trim(),
        "auth token --profile work",
        "called once, cached after"
    );
    assert_eq!(
        ws.requests().last().unwrap().authorization.as_deref(),
        Some("Bearer cli-issued-token")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_configured_lists_every_method_tried() {
    let home = tempfile::tempdir().unwrap();
    let e = env(&[("HOME", home.path().to_str().unwrap())]);
    let err = DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap_err();
    assert!(matches!(err, AuthError::NoCredentials { .. }));
    let msg = err
        .to_string()
        .replace(home.path().to_str().unwrap(), "$HOME");
    insta::assert_snapshot!(msg);
}

#[test]
fn bad_config_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(
        &cfg,
        "[dev]\nhost = https://x.example\n[broken\ntoken = y\n",
    )
    .unwrap();
    let e = env(&[
        ("DATABRICKS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("DATABRICKS_CONFIG_PROFILE", "dev"),
    ]);
    let err = DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, AuthError::ConfigFile { line: Some(3), .. }),
        "{msg}"
    );
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_profile_lists_the_profiles_there() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(
        &cfg,
        "[dev]\nhost = https://x.example\ntoken = t\n[prod]\nhost = https://y.example\ntoken = u\n",
    )
    .unwrap();
    let e = env(&[
        ("DATABRICKS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("DATABRICKS_CONFIG_PROFILE", "staging"),
    ]);
    let msg = DatabricksAuth::resolve(&AuthOptions::default(), &e)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("profile `staging` not found") && msg.contains("dev, prod"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_typed() {
    let ws = FakeWorkspace::start().await;
    let e = env(&[("DATABRICKS_HOST", &ws.url), ("DATABRICKS_TOKEN", PAT)]);
    let c = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap());
    let err = c.database_instance("missing").await.unwrap_err();
    assert!(
        matches!(err, dra::databricks::ApiError::NotFound { .. }),
        "{err}"
    );
    let err = c.app("missing-app").await.unwrap_err();
    assert!(
        matches!(err, dra::databricks::ApiError::NotFound { .. }),
        "{err}"
    );

    let e = env(&[
        ("DATABRICKS_HOST", &ws.url),
        ("DATABRICKS_TOKEN", "dapiffffffffffffffffffffffffffffffff"),
    ]);
    let c = client(DatabricksAuth::resolve(&AuthOptions::default(), &e).unwrap());
    let err = c.current_user().await.unwrap_err();
    assert!(
        matches!(err, dra::databricks::ApiError::Unauthorized { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("dapiffff"), "{err}");
}
