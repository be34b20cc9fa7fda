//! `dra serve`: the REST API as a Databricks App, or locally for development.

use std::process::ExitCode;

use dra::db::build_pool;
use dra::db::target::Backend;
use std::sync::Arc;

use dra::jobs::{Engine, Jobs};
use dra::serve::{AppState, IdentityMode, Listen, LlmCheck, RateLimits, StaticUi};
use dra::web::Fetcher;

use super::{Context, DatabaseTarget};
use crate::cli::ServeArgs;

pub async fn run(ctx: &Context, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let production = args.production
        || ctx
            .env
            .get("APP_ENV")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("production"));
    let identity = if production {
        IdentityMode::Production
    } else {
        IdentityMode::Development {
            local_user: match &args.local_user {
                Some(user) => user.trim().to_string(),
                None => super::identity::cli_user(ctx, None).await?,
            },
        }
    };
    let pool = if Backend::from_config(&ctx.config).is_ok() {
        let base = ctx.target(&DatabaseTarget { instance: None }).await?;
        let target = base.with_database(&ctx.database_name(None, &base, false));
        // The pool connects lazily: a database that is down now makes `/health` say so
        // and data routes answer 503 until it is back, rather than the app not starting.
        Some(build_pool(target, &ctx.config.database.pool).await?)
    } else {
        eprintln!("warning: no database configured (DATABASE_URL or Lakebase): chats cannot be stored; data routes answer 503");
        None
    };
    let (host, reach) = listen_host(args.host.as_deref(), production, &ctx.env);
    let listen = Listen {
        host,
        port: args.port,
    };
    match &identity {
        IdentityMode::Production => eprintln!(
            "dra serve on http://{}:{} ({reach}; production: users from the Databricks Apps proxy headers)",
            listen.host, listen.port
        ),
        IdentityMode::Development { local_user } => eprintln!(
            "dra serve on http://{}:{} ({reach}; development: requests without proxy headers act as {local_user})",
            listen.host, listen.port
        ),
    }
    let router = match dra::llm::LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    }) {
        Ok(router) => Some(Arc::new(router)),
        Err(e) => {
            eprintln!(
                "warning: no model endpoint is usable ({e}); research jobs are not run here and /v1/health reports llm not_configured"
            );
            None
        }
    };
    let ui = static_ui(ctx, args)?;
    let engine = match &router {
        Some(router) => Some(Arc::new(Engine {
            llm: router.clone(),
            search: search_provider(ctx)?,
            fetcher: Arc::new(Fetcher::new(&ctx.config.web)?),
            tools: Arc::new(super::build_tools(ctx, router.embeddings(), false).await?),
            config: Arc::new(ctx.config.research()),
        })),
        None => None,
    };
    // `/mcp`: the engine's services as MCP tools (none without a model).
    let mcp = engine.as_ref().map(|e| {
        let services = Arc::new(dra::mcp::McpServices {
            llm: e.llm.clone(),
            search: e.search.clone(),
            search_config: ctx.config.search.clone(),
            fetcher: e.fetcher.clone(),
            tools: (*e.tools).clone(),
            research: (*e.config).clone(),
        });
        super::mcp::http_routes(services, mcp_allowed_hosts(&identity, &listen))
    });
    let jobs = pool.as_ref().map(|pool| {
        Arc::new(Jobs::start(
            pool.clone(),
            ctx.config.jobs.clone(),
            engine,
            dra::jobs::worker_id(),
        ))
    });
    if let Some(pool) = &pool {
        // Lives as long as the server: the runtime ends both.
        dra::serve::purge::spawn(pool.clone(), ctx.config.retention.clone());
    }
    let state = AppState {
        limits: RateLimits::from_config(&ctx.config.rate_limits).map(Arc::new),
        llm: router.map(|r| Arc::new(LlmCheck::new(r))),
        jobs: jobs.clone(),
        ui,
        body_timeout: ctx.config.server.body_timeout,
        extra_routes: mcp,
        ..AppState::new(pool, identity)
    };
    // On SIGTERM, `run` hands running research back to the queue for another process (or
    // this one's next start).
    dra::serve::run(state, &listen, &ctx.config.server).await?;
    if let Some(jobs) = jobs {
        jobs.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `Host` values `/mcp` accepts. Behind the Databricks Apps proxy every request carries
/// the proxy's identity headers, so any host it forwards is fine (an empty list); a
/// development server, which trusts whoever reaches it, takes only loopback names and the
/// host it was told to listen on, against DNS rebinding from a browser.
fn mcp_allowed_hosts(identity: &IdentityMode, listen: &Listen) -> Vec<String> {
    match identity {
        IdentityMode::Production => Vec::new(),
        IdentityMode::Development { .. } => {
            let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
            let host = listen.host.trim_matches(|c| c == '[' || c == ']');
            if !host.is_empty()
                && host != "0.0.0.0"
                && host != "::"
                && !hosts.iter().any(|h| h == host)
            {
                hosts.push(host.to_string());
            }
            hosts
        }
    }
}

/// The research jobs' search provider, announced on stderr when it is the keyless default.
fn search_provider(ctx: &Context) -> anyhow::Result<Arc<dyn dra::search::SearchProvider>> {
    let selection = dra::search::select(None, &ctx.config.search, &ctx.env);
    let search = dra::search::provider(selection.kind(), &ctx.config.search, &ctx.env)?;
    if let Some(notice) = selection.notice() {
        eprintln!("{notice}");
    }
    Ok(search)
}

/// The UI to serve: `--static-dir`, else the built-in one unless `SERVE_STATIC` says no.
fn static_ui(ctx: &Context, args: &ServeArgs) -> anyhow::Result<StaticUi> {
    if let Some(dir) = &args.static_dir {
        if !dir.join("index.html").is_file() {
            anyhow::bail!(
                "--static-dir {}: no index.html there; give the folder of a built UI",
                dir.display()
            );
        }
        eprintln!("UI from {}", dir.display());
        return Ok(StaticUi::Dir(dir.clone()));
    }
    let off = ctx.env.get("SERVE_STATIC").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    });
    Ok(if off {
        StaticUi::Off
    } else {
        StaticUi::Embedded
    })
}

/// Where to listen, and who can reach it, for the startup line. In development anyone who
/// can reach the port acts as the local user, so only this machine can unless asked.
fn listen_host(
    flag: Option<&str>,
    production: bool,
    env: &dra::config::Env,
) -> (String, &'static str) {
    match flag.map(str::trim).filter(|h| !h.is_empty()) {
        Some(host) => (host.to_string(), "--host"),
        None if env.contains_key("DATABRICKS_APP_PORT") => {
            ("0.0.0.0".into(), "all interfaces, as a Databricks App")
        }
        None if production => ("0.0.0.0".into(), "all interfaces, in production"),
        None => (
            "127.0.0.1".into(),
            "this machine only; --host 0.0.0.0 opens it to the network",
        ),
    }
}
