//! `dra serve`: the research engine and its stored chats behind the original's REST API
//! (`/api/v1`), as a Databricks App. Route handlers are thin: they identify the user,
//! validate input, call `db::repo` and `citations::provenance`, and shape the answer;
//! nothing here knows SQL or how a report is verified.
//!
//! - [`identity`]: the user a request acts for (proxy headers, or a development identity);
//! - [`error`]: the original's error bodies and status codes;
//! - `routes/`: one module per resource.

pub mod error;
pub mod identity;
mod routes;

use std::sync::Arc;

use actix_web::middleware::{Compress, Logger};
use actix_web::{web, App, HttpServer};

pub use error::ApiError;
pub use identity::{IdentityMode, User};

use crate::db::PgPool;

/// Largest JSON body a route accepts; bigger bodies get 413.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// What every route can reach.
#[derive(Clone)]
pub struct AppState {
    /// `None` when no database is configured: data routes answer 503.
    pub pool: Option<PgPool>,
    pub identity: IdentityMode,
}

impl AppState {
    /// A connection from the pool, or 503 when there is no database.
    pub(crate) async fn conn(
        &self,
    ) -> Result<
        diesel_async::pooled_connection::bb8::PooledConnection<'_, diesel_async::AsyncPgConnection>,
        ApiError,
    > {
        match &self.pool {
            Some(pool) => Ok(pool.get().await?),
            None => Err(ApiError::Unavailable(
                "no database is configured (DATABASE_URL or Lakebase)".into(),
            )),
        }
    }
}

/// Where to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

/// Mounts every route; shared by the server and by tests (`actix_web::test`).
pub fn configure(state: Arc<AppState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(Arc::clone(&state)))
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BODY)
                    .error_handler(routes::json_error),
            )
            .app_data(web::PayloadConfig::new(MAX_JSON_BODY))
            .app_data(web::QueryConfig::default().error_handler(routes::query_error))
            .app_data(web::PathConfig::default().error_handler(routes::path_error))
            .configure(routes::mount);
    }
}

/// Serves until SIGTERM or Ctrl-C; in-flight requests get `shutdown_timeout` to finish.
pub async fn run(state: AppState, listen: &Listen) -> std::io::Result<()> {
    let state = Arc::new(state);
    let routes = configure(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Compress::default())
            .wrap(Logger::new(r#"%a "%r" %s %b %Dms"#))
            .configure(routes.clone())
    })
    .shutdown_timeout(30)
    .bind((listen.host.as_str(), listen.port))?;
    tracing::info!(host = %listen.host, port = listen.port, "dra serve listening");
    server.run().await
}
