//! `dra mcp`: dra as an MCP server on stdin/stdout (see [`dra::mcp`]). Stdout carries the
//! protocol only; every notice goes to stderr.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use dra::llm::LlmRouter;
use dra::mcp::{DraMcp, McpServices};
use dra::web::Fetcher;
use rmcp::ServiceExt;

use super::{identity, Context};
use crate::cli::McpArgs;

pub async fn run(ctx: &Context, args: McpArgs) -> anyhow::Result<ExitCode> {
    let services = Arc::new(services(ctx)?);
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
pub fn services(ctx: &Context) -> anyhow::Result<McpServices> {
    let llm = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
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
        tools: dra::tools::Toolset::default(),
        research: ctx.config.research(),
    })
}
