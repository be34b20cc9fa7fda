//! `dra mcp`: dra as an MCP server on stdin/stdout (see [`dra::mcp`]). Stdout carries the
//! protocol only; every notice goes to stderr.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context as _;
use dra::llm::LlmRouter;
use dra::mcp::{DraMcp, McpServices, McpUser};
use dra::serve::identity::User;
use dra::serve::ExtraRoutes;
use dra::web::Fetcher;
use futures::StreamExt;
use http_body_util::{BodyStream, Full};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;

use super::{identity, Context};
use crate::cli::McpArgs;

pub async fn run(ctx: &Context, args: McpArgs) -> anyhow::Result<ExitCode> {
    let services = Arc::new(services(ctx).await?);
    let user = identity::trace_user(ctx, args.user.as_deref());
    let server = DraMcp::new(services, Some(user))
        .serve(rmcp::transport::stdio())
        .await
        .context("while starting the MCP session on stdin/stdout")?;
    server
        .waiting()
        .await
        .context("the MCP session ended abnormally")?;
    Ok(ExitCode::SUCCESS)
}

/// What `dra research` builds: the model router, the selected search provider, the fetcher
/// and the research configuration. A search provider that cannot be built (no key) leaves
/// `search` answering with that error, so `fetch` and simple research still work.
/// The private sources and MCP tools under `tools:` are built too, so `research` over MCP
/// uses them as `dra research` does.
pub async fn services(ctx: &Context) -> anyhow::Result<McpServices> {
    let llm = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    let tools = super::build_tools(ctx, llm.embeddings(), false).await?;
    let selection = dra::search::select(None, &ctx.config.search, &ctx.env);
    let search = dra::search::provider(selection.kind(), &ctx.config.search, &ctx.env)
        .unwrap_or_else(|e| {
            eprintln!("warning: web search is unavailable: {e}");
            Arc::new(dra::search::Unavailable::new(&e))
        });
    Ok(McpServices {
        llm: Arc::new(llm),
        search,
        search_config: ctx.config.search.clone(),
        fetcher: Arc::new(Fetcher::new(&ctx.config.web)?),
        tools,
        research: ctx.config.research(),
    })
}

/// `/mcp` under `dra serve`: the same server over rmcp's streamable HTTP service, bridged
/// into actix. Each request carries its signed-in user (the proxy's headers in production,
/// the development identity otherwise) into the tool calls, so a run belongs to whoever
/// asked. rmcp checks the `Host` header against `allowed_hosts` (DNS rebinding); an empty
/// list allows every host, which is what production behind the Databricks Apps proxy wants.
pub fn http_routes(services: Arc<McpServices>, allowed_hosts: Vec<String>) -> ExtraRoutes {
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    let service = Arc::new(StreamableHttpService::new(
        move || Ok(DraMcp::new(services.clone(), None)),
        LocalSessionManager::default().into(),
        config,
    ));
    Arc::new(move |cfg: &mut web::ServiceConfig| {
        let service = service.clone();
        cfg.service(web::resource("/mcp").route(web::route().to(
            move |req: HttpRequest, user: User, body: web::Bytes| {
                let service = service.clone();
                async move { bridge(&service, &req, user, body).await }
            },
        )));
    })
}

type HttpService = StreamableHttpService<DraMcp, LocalSessionManager>;

async fn bridge(
    service: &HttpService,
    req: &HttpRequest,
    user: User,
    body: web::Bytes,
) -> actix_web::Result<HttpResponse> {
    // actix speaks http 0.2, rmcp http 1: the request crosses as bytes.
    let mut request = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string())
        .body(Full::new(body))
        .map_err(actix_web::error::ErrorBadRequest)?;
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    // An absolute-form URI is rare; rmcp reads the authority from `Host` otherwise.
    if !request.headers().contains_key(http::header::HOST) {
        if let Ok(host) = http::HeaderValue::from_str(req.connection_info().host()) {
            request.headers_mut().insert(http::header::HOST, host);
        }
    }
    request.extensions_mut().insert(McpUser(user.id));
    let response = service.handle(request).await;
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .map_err(actix_web::error::ErrorInternalServerError)?;
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(value.as_bytes()) {
            out.append_header((name.as_str(), value));
        }
    }
    let streamed = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streamed {
        // Each event must leave at once: no gzip buffering, no proxy buffering.
        out.insert_header(("Content-Encoding", "identity"))
            .insert_header(("X-Accel-Buffering", "no"));
    }
    let frames = BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(frame) => frame.into_data().ok().map(Ok::<_, actix_web::Error>),
            Err(never) => match never {},
        }
    });
    Ok(out.streaming(frames))
}
