//! `/health` (the load balancer's) and `/api/v1/health`: the process is up, and whether the
//! database answers right now (checked, not assumed).

use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::Routes;
use crate::serve::AppState;

pub(super) fn mount(r: &mut Routes) {
    r.get("/health", health);
}

pub(super) fn mount_v1(r: &mut Routes) {
    r.get("/health", health_v1);
}

pub(super) fn mount_api(r: &mut Routes) {
    r.get("/health", health);
}

/// `GET /v1/health`: the docs' shape, with the model endpoints checked too. Only the
/// database decides the status code: the app can still serve stored chats without a model.
pub(super) async fn health_v1(state: web::Data<AppState>) -> HttpResponse {
    let llm = match &state.llm {
        Some(check) => check.status().await,
        None => "not_configured",
    };
    answer(&state, Some(llm)).await
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    answer(&state, None).await
}

/// The health body (with `llm` when given), 503 when the database does not answer.
async fn answer(state: &AppState, llm: Option<&str>) -> HttpResponse {
    let database = database_status(state).await;
    let healthy = matches!(database, "connected" | "not_configured");
    let mut body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "database": database,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(llm) = llm {
        body["llm"] = json!(llm);
    }
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn database_status(state: &AppState) -> &'static str {
    match &state.pool {
        None => "not_configured",
        Some(pool) => match pool.get().await {
            Ok(mut conn) => match diesel::sql_query("SELECT 1").execute(&mut conn).await {
                Ok(_) => "connected",
                Err(_) => "error",
            },
            Err(_) => "unreachable",
        },
    }
}
