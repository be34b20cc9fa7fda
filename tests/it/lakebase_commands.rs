//! `dra create-database`, `dra grant-permissions` and `dra wait-lakebase` through the fake
//! workspace (Lakebase APIs) onto the local PostgreSQL.

use crate::support::workspace::FakeWorkspace;
use crate::support::{Dra, TestDb};

/// A fake workspace whose instance `lb` resolves to the local test server and whose
/// credentials log in as `postgres`.
async fn workspace(states: &[&str]) -> FakeWorkspace {
    let host = crate::support::pg::admin_url()
        .host_str()
        .unwrap_or("127.0.0.1")
        .to_string();
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", states, &host);
    ws.set_credential_subject("postgres");
    ws
}

fn lakebase(args: &[&str], ws: &FakeWorkspace) -> Dra {
    let port = crate::support::pg::admin_url()
        .port()
        .unwrap_or(5432)
        .to_string();
    Dra::new(args).workspace(ws).env("LAKEBASE_PORT", port)
}

async fn grant_app(ws: &FakeWorkspace, app: &str, database: &str) -> crate::support::cli::Output {
    lakebase(
        &[
            "grant-permissions",
            "--app",
            app,
            "--instance",
            "lb",
            "--database",
            database,
        ],
        ws,
    )
    .run()
    .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn create_database_twice_reports_created_then_already_exists() {
    let name = unique("dra_cd");
    let db = TestDb::adopt(&name);
    let url = db.url();
    let first = Dra::new(["create-database"])
        .env("DATABASE_URL", &url)
        .run()
        .await;
    assert!(first.ok(), "{first:?}");
    assert!(
        first
            .stdout
            .contains(&format!("database \"{name}\" created")),
        "{}",
        first.stdout
    );
    assert!(db.exists().await);
    let second = Dra::new(["create-database"])
        .env("DATABASE_URL", &url)
        .run()
        .await;
    assert!(second.ok(), "{second:?}");
    assert!(
        second.stdout.contains("already exists"),
        "{}",
        second.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_database_through_lakebase_quotes_the_name() {
    let ws = workspace(&["AVAILABLE"]).await;
    let name = format!(
        "dra test-{}\"q\"",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let db = TestDb::adopt(&name);
    let out = lakebase(
        &["create-database", "--instance", "lb", "--database", &name],
        &ws,
    )
    .run()
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    assert!(db.exists().await, "database with quotes and spaces exists");
    let again = lakebase(
        &["create-database", "--instance", "lb", "--database", &name],
        &ws,
    )
    .run()
    .await;
    assert!(again.stdout.contains("already exists"), "{again:?}");
    // The instance lookup and a credential were used, with the PAT.
    let reqs = ws.requests();
    assert!(reqs
        .iter()
        .any(|r| r.path == "/api/2.0/database/instances/lb"));
    assert!(reqs
        .iter()
        .any(|r| r.path == "/api/2.0/database/credentials"));
    assert!(!out.stderr.contains(crate::support::workspace::PAT));
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_permissions_lets_the_app_role_use_existing_and_future_tables() {
    let ws0 = workspace(&["AVAILABLE"]).await;
    let role = format!("app-sp-{}", uuid::Uuid::new_v4());
    let ws = ws0
        .with_app("dra-app", &role)
        .with_app("dra-app-staging", "someone-else");
    let db = TestDb::new().await;
    let migrated = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(migrated.ok(), "{migrated:?}");

    let su = db.client().await;
    su.batch_execute(&format!("CREATE ROLE \"{role}\" NOLOGIN"))
        .await
        .unwrap();
    let as_role = |sql: &str| format!("SET ROLE \"{role}\"; {sql}; RESET ROLE");

    let denied = su
        .batch_execute(&as_role("SELECT count(*) FROM chats"))
        .await;
    assert!(
        denied.is_err(),
        "the role must not see the tables before the grant"
    );
    su.batch_execute("RESET ROLE").await.unwrap();

    let out = grant_app(&ws, "dra-app", &db.name).await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stdout.contains(&format!("service principal {role}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ALTER DEFAULT PRIVILEGES"),
        "{}",
        out.stdout
    );

    su.batch_execute(&as_role(
        "INSERT INTO chats (user_id, title) VALUES ('u1', 'granted')",
    ))
    .await
    .unwrap();
    su.batch_execute(&as_role("SELECT count(*) FROM chats"))
        .await
        .unwrap();

    // A table created after the grant, by the same user, is covered by default privileges.
    su.batch_execute("CREATE TABLE created_later (id serial PRIMARY KEY, note text)")
        .await
        .unwrap();
    su.batch_execute(&as_role("INSERT INTO created_later (note) VALUES ('x')"))
        .await
        .unwrap();
    let n: i64 = {
        su.batch_execute(&format!("SET ROLE \"{role}\""))
            .await
            .unwrap();
        let row = su
            .query_one("SELECT count(*) FROM created_later", &[])
            .await
            .unwrap();
        su.batch_execute("RESET ROLE").await.unwrap();
        row.get(0)
    };
    assert_eq!(n, 1);

    let again = grant_app(&ws, "dra-app", &db.name).await;
    assert!(again.ok(), "granting twice is harmless: {again:?}");

    drop(su);
    let name = db.name.clone();
    drop(db);
    let admin = crate::support::pg::connect(crate::support::pg::admin_url().as_str()).await;
    let _ = name;
    admin
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_permissions_errors_are_clear() {
    let ws = workspace(&["AVAILABLE"])
        .await
        .with_app("dra-app-prod", "x");
    let db = TestDb::new().await;

    // Exact names only: "dra-app" must not match "dra-app-prod".
    let out = grant_app(&ws, "dra-app", &db.name).await;
    assert_eq!(out.code, 7, "{out:?}");
    assert!(
        out.stderr.contains("app `dra-app` not found"),
        "{}",
        out.stderr
    );

    let out = Dra::new([
        "grant-permissions",
        "--principal",
        "no-such-role",
        "--database",
        &db.name,
    ])
    .env("DATABASE_URL", db.url())
    .run()
    .await;
    assert_eq!(out.code, 7, "{out:?}");
    assert!(
        out.stderr.contains("role `no-such-role` does not exist"),
        "{}",
        out.stderr
    );

    let out = Dra::new(["grant-permissions"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_lakebase_succeeds_once_the_instance_is_available() {
    let ws = workspace(&["STARTING", "STARTING", "AVAILABLE"]).await;
    let out = lakebase(
        &[
            "wait-lakebase",
            "--instance",
            "lb",
            "--retries",
            "5",
            "--delay",
            "20ms",
        ],
        &ws,
    )
    .run()
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("attempt 1/5: state STARTING"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("attempt 2/5: state STARTING"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("is ready"), "{}", out.stdout);
    assert!(
        ws.credential_calls() >= 1,
        "a fresh credential was used for SELECT 1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_lakebase_gives_up_with_the_last_state() {
    let ws = workspace(&["STARTING"]).await;
    let out = lakebase(
        &[
            "wait-lakebase",
            "--instance",
            "lb",
            "--retries",
            "3",
            "--delay",
            "10ms",
        ],
        &ws,
    )
    .run()
    .await;
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr
            .contains("not ready after 3 attempts; last state STARTING"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_lakebase_keeps_trying_while_available_but_not_connectable() {
    let ws = workspace(&["AVAILABLE"]).await;
    let out = Dra::new([
        "wait-lakebase",
        "--instance",
        "lb",
        "--retries",
        "2",
        "--delay",
        "10ms",
    ])
    .workspace(&ws)
    .env("LAKEBASE_PORT", "1")
    .run()
    .await;
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr.contains("last state AVAILABLE") && out.stderr.contains("cannot connect"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_lakebase_unknown_instance_fails_at_once() {
    let ws = workspace(&["AVAILABLE"]).await;
    let out = lakebase(
        &[
            "wait-lakebase",
            "--instance",
            "ghost",
            "--retries",
            "5",
            "--delay",
            "10s",
        ],
        &ws,
    )
    .run()
    .await;
    assert_eq!(out.code, 7, "{out:?}");
    assert!(
        out.stderr.contains("no such Lakebase instance `ghost`"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_through_lakebase_uses_a_fresh_credential() {
    let ws = workspace(&["AVAILABLE"]).await;
    let db = TestDb::new().await;
    let out = lakebase(
        &["migrate", "--instance", "lb", "--database", &db.name],
        &ws,
    )
    .run()
    .await;
    assert!(out.ok(), "{out:?}");
    assert!(out.stdout.contains("applied "), "{}", out.stdout);
    let status = lakebase(
        &[
            "migrate",
            "--status",
            "--instance",
            "lb",
            "--database",
            &db.name,
        ],
        &ws,
    )
    .run()
    .await;
    assert!(status.stdout.contains(", 0 pending"), "{}", status.stdout);
    assert!(
        ws.credential_calls() >= 2,
        "each run asks for its own credential"
    );
}
