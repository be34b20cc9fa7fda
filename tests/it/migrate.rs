//! `dra migrate` against throwaway databases on the local PostgreSQL.

use crate::support::{Dra, TestDb};

async fn table_count(db: &TestDb) -> i64 {
    let c = db.client().await;
    c.query_one(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

async fn applied_versions(db: &TestDb) -> Vec<String> {
    let c = db.client().await;
    c.query(
        "SELECT version FROM __diesel_schema_migrations ORDER BY version",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_up_status_revert_up() {
    let db = TestDb::new().await;
    let n = migration_count();
    assert!(n >= 4, "expected the schema's migrations, found {n}");

    let status = Dra::new(["migrate", "--status"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(status.ok(), "{status:?}");
    assert!(
        status.stdout.contains(&format!("0 applied, {n} pending")),
        "{}",
        status.stdout
    );

    let up = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(up.ok(), "{up:?}");
    assert_eq!(up.stdout.matches("applied ").count(), n, "{}", up.stdout);
    assert!(table_count(&db).await >= 11);

    let again = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(
        again.ok() && again.stdout.contains("schema is up to date"),
        "{again:?}"
    );

    let status = Dra::new(["migrate", "--status"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(
        status.stdout.contains(&format!("{n} applied, 0 pending")),
        "{}",
        status.stdout
    );

    let revert = Dra::new(["migrate", "revert", "--steps", "2"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(revert.ok(), "{revert:?}");
    assert_eq!(
        revert.stdout.matches("reverted ").count(),
        2,
        "{}",
        revert.stdout
    );
    assert_eq!(applied_versions(&db).await.len(), n - 2);

    let revert_all = Dra::new(["migrate", "revert", "--steps", "99"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(revert_all.ok(), "{revert_all:?}");
    assert_eq!(
        table_count(&db).await,
        0,
        "every down.sql drops what its up.sql made"
    );

    let up = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(up.ok(), "{up:?}");
    assert_eq!(applied_versions(&db).await.len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_migrations_apply_each_migration_once() {
    let db = TestDb::new().await;
    let a = Dra::new(["migrate"]).env("DATABASE_URL", db.url()).run();
    let b = Dra::new(["migrate"]).env("DATABASE_URL", db.url()).run();
    let (a, b) = tokio::join!(a, b);
    assert!(a.ok(), "{a:?}");
    assert!(b.ok(), "{b:?}");
    let n = migration_count();
    let total_applied = a.stdout.matches("applied ").count() + b.stdout.matches("applied ").count();
    assert_eq!(
        total_applied, n,
        "each migration applied exactly once:\n{}\n{}",
        a.stdout, b.stdout
    );
    assert_eq!(applied_versions(&db).await.len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_asyncpg_urls_are_accepted() {
    let db = TestDb::new().await;
    let url = db.url().replacen("postgres://", "postgresql+asyncpg://", 1);
    let out = Dra::new(["migrate", "--status"])
        .env("DATABASE_URL", url)
        .run()
        .await;
    assert!(out.ok(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_database_is_a_clear_error_with_exit_code_5() {
    let out = Dra::new(["migrate"])
        .env(
            "DATABASE_URL",
            "postgres://postgres:hunter2@127.0.0.1:1/nowhere?sslmode=disable",
        )
        .run()
        .await;
    assert_eq!(out.code, 5, "{out:?}");
    assert!(
        out.stderr
            .contains("cannot connect to postgres@127.0.0.1:1/nowhere"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_database_configured_says_what_to_set() {
    let out = Dra::new(["migrate"]).run().await;
    assert_eq!(out.code, 5, "{out:?}");
    assert!(
        out.stderr.contains("set DATABASE_URL") && out.stderr.contains("LAKEBASE_INSTANCE_NAME"),
        "{}",
        out.stderr
    );
}
