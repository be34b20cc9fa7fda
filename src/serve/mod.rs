//! `dra serve`: the research engine and its stored chats behind the original's REST API
//! (`/api/v1`), as a Databricks App. Route handlers are thin: they identify the user,
//! validate input, call `db::repo` and `citations::provenance`, and shape the answer;
//! nothing here knows SQL or how a report is verified.
//!
//! - [`identity`]: the user a request acts for (proxy headers, or a development identity);
//! - [`error`]: the original's error bodies and status codes;
//! - [`body`]: request bodies read as the original's FastAPI reads them;
//! - `routes/`: one module per resource;
//! - [`responses_agent`]: the Databricks agent protocol (`/invocations`) as types;
//! - [`static_files`]: the browser UI at `/` (embedded, or a directory).

pub mod access_log;
pub mod audit;
pub mod body;
pub mod connections;
pub mod error;
pub mod identity;
pub mod limits;
pub mod llm_check;
pub mod nul;
pub mod openapi;
pub mod purge;
pub mod responses_agent;
pub use purge::RetentionSection;
mod routes;
pub mod sse;
pub mod static_files;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};

pub use connections::ServerConfig;
pub use error::ApiError;
pub use identity::{IdentityMode, User};
pub use limits::{LimitClock, RateLimits, RateLimitsConfig};
pub use llm_check::LlmCheck;
pub use routes::{endpoints, methods_at};
pub use static_files::StaticUi;

use crate::db::PgPool;

/// Largest JSON body a route accepts; bigger bodies get 413.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// What every route can reach.
#[derive(Clone)]
pub struct AppState {
    /// `None` when no database is configured: data routes answer 503.
    pub pool: Option<PgPool>,
    pub identity: IdentityMode,
    /// Per-user request limits; `None` turns them off.
    pub limits: Option<Arc<RateLimits>>,
    /// The model endpoints, for `/v1/health`; `None` when no model is configured.
    pub llm: Option<Arc<LlmCheck>>,
    /// Research jobs and their event streams; `None` without a database.
    pub jobs: Option<Arc<crate::jobs::Jobs>>,
    /// The browser UI at `/`; [`StaticUi::Off`] unless the server turns it on.
    pub ui: StaticUi,
    /// Time a client has to send a request body (`server.body_timeout`).
    pub body_timeout: std::time::Duration,
    /// Routes mounted from outside this module (`/mcp`, which the binary builds from the
    /// `mcp` module, a layer this one may not use), before the UI's catch-all.
    pub extra_routes: Option<ExtraRoutes>,
}

/// See [`AppState::extra_routes`].
pub type ExtraRoutes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

impl AppState {
    /// State with the default per-user limits (the `rate_limits:` defaults).
    pub fn new(pool: Option<PgPool>, identity: IdentityMode) -> AppState {
        AppState {
            pool,
            identity,
            limits: RateLimits::from_config(&RateLimitsConfig::default()).map(Arc::new),
            llm: None,
            jobs: None,
            ui: StaticUi::Off,
            body_timeout: ServerConfig::default().body_timeout,
            extra_routes: None,
        }
    }

    /// A connection from the pool, or 503 when there is no database.
    pub(crate) async fn conn(&self) -> Result<crate::db::PooledConn<'_>, ApiError> {
        match &self.pool {
            Some(pool) => Ok(pool.get().await?),
            None => Err(ApiError::Unavailable(
                "no database is configured (DATABASE_URL or Lakebase)".into(),
            )),
        }
    }
}

impl AppState {
    /// The jobs service, or 503 when this server has no database.
    pub(crate) fn jobs(&self) -> Result<&Arc<crate::jobs::Jobs>, ApiError> {
        self.jobs.as_ref().ok_or_else(|| {
            ApiError::Unavailable("no database is configured (DATABASE_URL or Lakebase)".into())
        })
    }

    /// The jobs service of a server that can run research (a model is configured here or
    /// in another process sharing the database; a queued job waits for a worker).
    pub(crate) fn research(&self) -> Result<&Arc<crate::jobs::Jobs>, ApiError> {
        let jobs = self.jobs()?;
        if jobs.worker.is_none() {
            return Err(ApiError::NoModel(
                "research cannot run on this server: no model is configured (set \
                 OPENAI_BASE_URL and OPENAI_MODEL, or Databricks credentials, and restart \
                 dra serve)"
                    .into(),
            ));
        }
        Ok(jobs)
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
            // Bodies are read by `body::Body`, within this limit.
            .app_data(web::PayloadConfig::new(MAX_JSON_BODY))
            .app_data(web::QueryConfig::default().error_handler(routes::query_error))
            .app_data(web::PathConfig::default().error_handler(routes::path_error))
            .configure(routes::mount)
            .configure(|cfg| {
                if let Some(extra) = &state.extra_routes {
                    extra(cfg);
                }
            })
            // Last: the UI answers only what no route matched.
            .configure(static_files::mount(state.ui.clone()));
    }
}

/// The whole app: routes plus request ids, access log, gzip, rate limits, the refusal of
/// non-JSON writes and of NULs in query strings, and the audit log. The server builds one per worker; tests build one with
/// `actix_web::test::init_service`.
pub fn app(
    state: Arc<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .wrap(from_fn(audit::record))
        .wrap(from_fn(body::json_only))
        .wrap(from_fn(nul::refuse_in_query))
        .wrap(from_fn(limits::limit))
        .wrap(Compress::default())
        .wrap(from_fn(access_log::record))
}

/// Serves until SIGTERM or Ctrl-C. Then, at once, running research goes back to the job
/// table and open event streams end (their clients resume on another process), while the
/// server stops accepting and gives in-flight requests `shutdown_timeout` to finish.
///
/// A client that does not send its headers within `server.header_timeout` or its body
/// within `server.body_timeout` is cut off, and at most `server.max_connections` are
/// open at once.
pub async fn run(state: AppState, listen: &Listen, limits: &ServerConfig) -> std::io::Result<()> {
    let jobs = state.jobs.clone();
    let state = Arc::new(state);
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let server = HttpServer::new(move || app(Arc::clone(&state)))
        .workers(workers)
        .max_connections(limits.per_worker(workers))
        .client_request_timeout(limits.header_timeout)
        .shutdown_timeout(30)
        .disable_signals()
        .bind((listen.host.as_str(), listen.port))?
        .run();
    tracing::info!(host = %listen.host, port = listen.port, "dra serve listening");
    let handle = server.handle();
    let stopper = tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stopping: handing running research back to the queue");
        let (_, ()) = tokio::join!(
            async {
                if let Some(jobs) = &jobs {
                    jobs.shutdown().await;
                }
            },
            handle.stop(true)
        );
    });
    let served = server.await;
    stopper.abort();
    served
}

/// SIGTERM (what Databricks Apps and `kill` send) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
