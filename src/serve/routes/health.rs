//! `/health` (the load balancer's) and `/api/v1/health`: the process is up, and whether the
//! database answers right now (checked, not assumed).

use actix_web::{web, HttpResponse};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::serve::AppState;

pub(super) fn mount(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

pub(super) fn mount_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database = match &state.pool {
        None => "not_configured",
        Some(pool) => match pool.get().await {
            Ok(mut conn) => match diesel::sql_query("SELECT 1").execute(&mut conn).await {
                Ok(_) => "connected",
                Err(_) => "error",
            },
            Err(_) => "unreachable",
        },
    };
    let healthy = matches!(database, "connected" | "not_configured");
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "database": database,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
