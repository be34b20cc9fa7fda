//! `dra tools`: the private sources and MCP tools a run would get, built the same way
//! (folders indexed, servers connected), and with `--query` each asked once: how an
//! administrator checks a `tools:` section before researching with it.

use std::process::ExitCode;
use std::sync::Arc;

use dra::tools::{ResearchTool, ToolError, ToolOutput};
use serde_json::json;

use super::Context;
use crate::cli::ToolsArgs;

pub async fn run(ctx: &Context, args: ToolsArgs) -> anyhow::Result<ExitCode> {
    let embeddings = dra::llm::EmbeddingsClient::from_config(ctx.config.llm_settings(), || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    let tools = super::build_tools(ctx, embeddings, false).await?;
    let listed: Vec<&Arc<dyn ResearchTool>> = tools.iter().collect();
    let Some(query) = args.query.as_deref().map(str::trim) else {
        if args.json {
            let specs: Vec<_> = listed.iter().map(|t| describe(t.as_ref())).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "tools": specs }))?
            );
        } else if listed.is_empty() {
            eprintln!("no tools are configured: declare them under `tools:` (docs/tools.md) or pass --docs DIR");
        } else {
            for tool in &listed {
                let spec = tool.spec();
                println!(
                    "{} ({})\n  {}",
                    spec.name,
                    tool.kind(),
                    spec.description.trim()
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let asked: Vec<&Arc<dyn ResearchTool>> =
        listed.into_iter().filter(|t| t.takes_query()).collect();
    if asked.is_empty() {
        anyhow::bail!("no configured tool takes a plain query (MCP tools with their own arguments are called by the ReAct researcher only)");
    }
    let arguments = json!({ "query": query });
    let answers = futures::future::join_all(asked.iter().map(|tool| tool.call(&arguments))).await;
    let failed = answers.iter().filter(|a| a.is_err()).count();
    if args.json {
        let results: Vec<_> = asked
            .iter()
            .zip(&answers)
            .map(|(tool, answer)| result_json(tool.as_ref(), answer))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "query": query, "results": results }))?
        );
    } else {
        for (tool, answer) in asked.iter().zip(&answers) {
            print_result(tool.as_ref(), answer);
        }
    }
    // Some tools answering is still a usable setup; none answering is a failure.
    Ok(if failed == asked.len() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(tool: &dyn ResearchTool) -> serde_json::Value {
    let spec = tool.spec();
    json!({
        "name": spec.name,
        "source_type": tool.kind(),
        "description": spec.description,
        "parameters": spec.parameters,
        "takes_query": tool.takes_query(),
    })
}

fn result_json(
    tool: &dyn ResearchTool,
    answer: &Result<ToolOutput, ToolError>,
) -> serde_json::Value {
    match answer {
        Ok(output) => json!({
            "tool": tool.spec().name,
            "note": output.note,
            "passages": output.passages.iter().map(|p| json!({
                "uri": p.uri,
                "title": p.title,
                "source_type": p.kind,
                "origin": p.origin,
                "score": p.score,
                "text": p.text,
            })).collect::<Vec<_>>(),
        }),
        Err(e) => json!({ "tool": tool.spec().name, "error": e.to_string() }),
    }
}

fn print_result(tool: &dyn ResearchTool, answer: &Result<ToolOutput, ToolError>) {
    let name = &tool.spec().name;
    match answer {
        Err(e) => println!("{name}: error: {e}\n"),
        Ok(output) => {
            println!("{name}: {} passages", output.passages.len());
            if let Some(note) = &output.note {
                println!("  {}", note.trim());
            }
            for p in &output.passages {
                let score = p
                    .score
                    .map(|s| format!(" (score {s:.3})"))
                    .unwrap_or_default();
                println!(
                    "  - {}{score}\n    {}\n    {}",
                    p.title.as_deref().unwrap_or("(untitled)"),
                    p.uri,
                    dra::text::clip(
                        &p.text.split_whitespace().collect::<Vec<_>>().join(" "),
                        200
                    )
                );
            }
            println!();
        }
    }
}
