//! `dra serve`'s app in process for the API tests: a migrated database and its pool, the
//! app with rate limits off, and requests sent as a user through the proxy header.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{to_bytes, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use dra::config::{AppConfig, DatabaseUrl, Env};
use dra::db::repo::audit::{self, AuditEntry};
use dra::db::{build_pool, ConnectionTarget, PgPool};
use dra::serve::{AppState, IdentityMode};
use serde_json::Value;

use super::{Dra, TestDb};

/// `db` migrated by the `dra migrate` binary, and a pool on it.
pub async fn migrated_pool(db: &TestDb) -> PgPool {
    migrate(db).await;
    pool_for(&db.url()).await
}

/// `db` migrated by the `dra migrate` binary.
pub async fn migrate(db: &TestDb) {
    let migrated = Dra::new(["migrate"])
        .env("DATABASE_URL", db.url())
        .run()
        .await;
    assert!(migrated.ok(), "{migrated:?}");
}

/// A pool on `url` with the default settings.
pub async fn pool_for(url: &str) -> PgPool {
    let config = AppConfig::default();
    let target =
        ConnectionTarget::from_url(&DatabaseUrl::parse(url).unwrap(), &config, &Env::new())
            .unwrap();
    build_pool(target, &config.database.pool).await.unwrap()
}

/// The app's state with rate limits off: these tests make many requests as one user; the
/// limits have their own tests.
pub fn unlimited(pool: Option<PgPool>, identity: IdentityMode) -> AppState {
    AppState {
        limits: None,
        ..AppState::new(pool, identity)
    }
}

/// The app as `dra serve` mounts it, on `state`.
pub async fn app(
    state: Arc<AppState>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(dra::serve::app(state)).await
}

/// Sends `req` as `user` (through the proxy header, none when `None`); status, headers and
/// the raw body.
pub async fn send<S, B>(
    service: &S,
    req: TestRequest,
    user: Option<&str>,
) -> (StatusCode, HeaderMap, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = match user {
        Some(u) => req.insert_header(("X-Forwarded-Email", u)),
        None => req,
    };
    let response = test::call_service(service, req.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(bytes) = to_bytes(response.into_body()).await else {
        panic!("the response body could not be read");
    };
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Like [`send`], the body as JSON (`Null` when empty, a string when not JSON).
pub async fn call<S, B>(service: &S, req: TestRequest, user: Option<&str>) -> (StatusCode, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, _, body) = send(service, req, user).await;
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, body)
}

/// The app on a fresh state with rate limits off (see [`unlimited`]).
pub async fn unlimited_app(
    pool: Option<PgPool>,
    identity: IdentityMode,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    app(Arc::new(unlimited(pool, identity))).await
}

/// `user`'s audit rows once there are at least `expected` (the middleware writes them on
/// a task of its own), oldest first; gives up after a bound.
pub async fn audit_rows(pool: &PgPool, user: &str, expected: usize) -> Vec<AuditEntry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut conn = pool.get().await.unwrap();
        let mut rows = audit::recent_for_user(&mut conn, user, 100).await.unwrap();
        drop(conn);
        if rows.len() >= expected || Instant::now() > deadline {
            rows.reverse();
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until a spawned `dra serve` at `url` answers `/health` with a success, for up to
/// 20 seconds; panics naming `url` otherwise.
pub async fn wait_healthy(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dra serve did not become healthy at {url}");
}
