//! The Lakebase token provider and the pool, against a real password check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::workspace::{jwt, Expiry, FakeWorkspace, PAT};
use crate::support::PrivateCluster;
use diesel_async::RunQueryDsl;
use dra::config::{AppConfig, Env, PgUser, SslMode};
use dra::databricks::{AuthOptions, DatabricksAuth, WorkspaceClient};
use dra::db::{build_pool, ConnectionTarget, TokenProvider};
use futures::FutureExt;

fn client(ws: &FakeWorkspace) -> WorkspaceClient {
    let env: Env = [
        ("DATABRICKS_HOST", ws.url.as_str()),
        ("DATABRICKS_TOKEN", PAT),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    WorkspaceClient::new(Arc::new(
        DatabricksAuth::resolve(&AuthOptions::default(), &env).unwrap(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_concurrent_callers_cause_one_credential_call() {
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", &["AVAILABLE"], "127.0.0.1");
    ws.set_credential_delay(Duration::from_millis(300));
    let provider = TokenProvider::lakebase(
        client(&ws),
        "lb",
        Duration::from_secs(300),
        Duration::from_secs(3600),
    );
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.password().await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let pw = t.await.unwrap().unwrap().unwrap();
        tokens.insert(secrecy::ExposeSecret::expose_secret(&pw).to_string());
    }
    assert_eq!(ws.credential_calls(), 1);
    assert_eq!(tokens.len(), 1);
    let reqs = ws.requests();
    let body = &reqs
        .iter()
        .find(|r| r.path == "/api/2.0/database/credentials")
        .unwrap()
        .body;
    assert_eq!(body["instance_names"], serde_json::json!(["lb"]));
    assert!(body["request_id"].as_str().is_some_and(|r| r.len() >= 32));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_refreshed_inside_the_buffer_and_missing_expiry_means_one_hour() {
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", &["AVAILABLE"], "127.0.0.1");
    // Expires in 60s but the buffer is 5 minutes: every call must refresh.
    ws.set_credential_expiry(Expiry::In(Duration::from_secs(60)));
    let p = TokenProvider::lakebase(
        client(&ws),
        "lb",
        Duration::from_secs(300),
        Duration::from_secs(3600),
    );
    p.password().await.unwrap();
    p.password().await.unwrap();
    assert_eq!(ws.credential_calls(), 2);

    for expiry in [Expiry::Missing, Expiry::Garbage] {
        let ws = FakeWorkspace::start()
            .await
            .with_instance("lb", &["AVAILABLE"], "127.0.0.1");
        ws.set_credential_expiry(expiry.clone());
        let p = TokenProvider::lakebase(
            client(&ws),
            "lb",
            Duration::from_secs(300),
            Duration::from_secs(3600),
        );
        p.password().await.unwrap();
        p.password().await.unwrap();
        assert_eq!(
            ws.credential_calls(),
            1,
            "{expiry:?} must mean a 1 hour lifetime, cached"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_instance_is_a_clear_credential_error() {
    let ws = FakeWorkspace::start().await;
    let p = TokenProvider::lakebase(
        client(&ws),
        "nope",
        Duration::from_secs(300),
        Duration::from_secs(3600),
    );
    let err = p.password().await.unwrap_err().to_string();
    assert!(
        err.contains("instance `nope`") && err.contains("not found"),
        "{err}"
    );
}

/// A private cluster whose role `app_sp` logs in only with the latest credential of a fake
/// workspace that issues credentials living `lifetime`, and a Lakebase target for it
/// (config as shipped but for the pool's size and the refresh buffer).
struct Rotating {
    cluster: PrivateCluster,
    su: Arc<tokio_postgres::Client>,
    ws: FakeWorkspace,
    issued: Arc<Mutex<Vec<String>>>,
    config: AppConfig,
    target: ConnectionTarget,
}

async fn rotating(lifetime: Duration) -> Rotating {
    let cluster = PrivateCluster::start();
    let su = Arc::new(cluster.superuser().await);
    su.batch_execute("CREATE ROLE app_sp LOGIN").await.unwrap();
    let ws = FakeWorkspace::start()
        .await
        .with_instance("lb", &["AVAILABLE"], "127.0.0.1");
    ws.set_credential_expiry(Expiry::In(lifetime));
    let issued: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let su = su.clone();
        let issued = issued.clone();
        ws.set_credential_hook(Arc::new(move || {
            let su = su.clone();
            let issued = issued.clone();
            async move {
                // Each credential rotates the role's real password and expires with it.
                let token = jwt("app_sp", &uuid::Uuid::new_v4().to_string());
                let until = chrono::Utc::now() + chrono::Duration::from_std(lifetime).unwrap();
                su.batch_execute(&format!(
                    "ALTER ROLE app_sp PASSWORD '{token}' VALID UNTIL '{}'",
                    until.to_rfc3339()
                ))
                .await
                .unwrap();
                issued.lock().unwrap().push(token.clone());
                token
            }
            .boxed()
        }));
    }
    let mut config = AppConfig::default();
    config.lakebase.port = cluster.port;
    config.lakebase.user = PgUser::Auto; // resolves to the JWT subject, app_sp
    config.lakebase.database = "postgres".into();
    config.lakebase.token_refresh_buffer = Duration::from_millis(700);
    config.database.sslmode = Some(SslMode::Disable);
    config.database.pool.max_size = 3;
    let target = ConnectionTarget::lakebase(&client(&ws), "lb", &config, &Env::new())
        .await
        .unwrap();
    Rotating {
        cluster,
        su,
        ws,
        issued,
        config,
        target,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_keeps_answering_across_token_rotations_and_expired_tokens_are_refused() {
    let Rotating {
        cluster,
        su: _su,
        ws,
        issued,
        mut config,
        target,
    } = rotating(Duration::from_secs(2)).await;
    config.database.pool.max_lifetime = Duration::from_millis(600);
    assert_eq!(
        (target.host.as_str(), target.user.as_str()),
        ("127.0.0.1", "app_sp")
    );
    target.connect().await.expect("direct connection");
    let pool = build_pool(target, &config.database.pool).await.unwrap();

    let started = Instant::now();
    let mut queries = 0;
    while started.elapsed() < Duration::from_millis(6500) {
        let mut conn = pool
            .get()
            .await
            .unwrap_or_else(|e| panic!("checkout failed after {queries} queries: {e}"));
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("query failed after {queries} queries: {e}"));
        queries += 1;
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rotations = ws.credential_calls();
    assert!(
        rotations >= 4,
        "expected at least 3 rotations after the first credential, saw {rotations} credentials"
    );

    let first = issued.lock().unwrap()[0].clone();
    let refused = cluster.login("app_sp", &first).await.unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_pooled_connection_outlives_its_credential_with_the_shipped_lifetime() {
    // Issue 19 #11: with `max_lifetime: 45m` as shipped and 20 s credentials, pooled
    // connections were seen 151 s old.
    let lifetime = Duration::from_secs(3);
    let r = rotating(lifetime).await;
    assert_eq!(
        r.config.database.pool.max_lifetime,
        Duration::from_secs(45 * 60),
        "the shipped lifetime"
    );
    let pool = build_pool(r.target.clone(), &r.config.database.pool)
        .await
        .unwrap();
    let age_sql = "SELECT extract(epoch FROM clock_timestamp() - backend_start)::float8 AS age \
                   FROM pg_stat_activity WHERE pid = pg_backend_pid()";
    #[derive(diesel::QueryableByName)]
    struct Age {
        #[diesel(sql_type = diesel::sql_types::Double)]
        age: f64,
    }
    let started = Instant::now();
    let mut oldest: f64 = 0.0;
    while started.elapsed() < lifetime * 3 {
        let mut conn = pool.get().await.expect("checkout");
        let age: Age = diesel::sql_query(age_sql)
            .get_result(&mut *conn)
            .await
            .expect("age");
        oldest = oldest.max(age.age);
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        oldest < lifetime.as_secs_f64(),
        "a checked-out connection was {oldest:.1}s old on {lifetime:?} credentials"
    );
    // Left idle, the pool closes its connections before their credential expires too.
    tokio::time::sleep(lifetime + Duration::from_secs(1)).await;
    let rows =
        r.su.query(
            "SELECT extract(epoch FROM clock_timestamp() - backend_start)::float8 \
             FROM pg_stat_activity WHERE usename = 'app_sp'",
            &[],
        )
        .await
        .unwrap();
    let ages: Vec<f64> = rows.iter().map(|row| row.get(0)).collect();
    assert!(
        ages.iter().all(|age| *age < lifetime.as_secs_f64()),
        "idle connections older than their credential: {ages:?}"
    );
    drop(pool);
    let _ = (&r.cluster, &r.ws, &r.issued);
}
