//! `dra models`: the configured tiers and endpoints, optionally checked live.

use std::process::ExitCode;
use std::sync::Arc;

use dra::llm::LlmRouter;
use serde_json::json;

use super::Context;
use crate::cli::ModelsArgs;

pub async fn run(ctx: &Context, args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let router = LlmRouter::from_config(&ctx.config, || {
        dra::databricks::DatabricksAuth::resolve(&ctx.auth, &ctx.env).map(Arc::new)
    })?;
    // An endpoint shared by several tiers is called once.
    let mut checks = std::collections::BTreeMap::new();
    if args.check {
        for id in ctx.config.endpoints.keys() {
            checks.insert(
                id.as_str(),
                router.probe(id).await.map_err(|e| e.to_string()),
            );
        }
    }
    let failed = checks.values().filter(|c| c.is_err()).count();
    let mut rows = Vec::new();
    for (tier, endpoints) in router.tier_endpoints() {
        for (priority, id) in endpoints.iter().enumerate() {
            let check = checks.get(id).cloned();
            rows.push((
                tier,
                priority + 1,
                *id,
                ctx.config.endpoints.get(*id),
                check,
            ));
        }
    }
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|(tier, priority, id, config, check)| {
                json!({
                    "tier": tier,
                    "priority": priority,
                    "endpoint": id,
                    "endpoint_identifier": config.map(|c| c.endpoint_identifier.as_str()),
                    "max_context_window": config.map(|c| c.max_context_window),
                    "tokens_per_minute": config.map(|c| c.tokens_per_minute),
                    "ok": check.as_ref().map(|c| c.is_ok()),
                    "latency_ms": check.as_ref().and_then(|c| c.as_ref().ok()).map(|d| d.as_millis()),
                    "error": check.as_ref().and_then(|c| c.as_ref().err()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<14} {:>3}  {:<14} {:<32} {:>9} {:>9}  check",
            "tier", "#", "endpoint", "serving endpoint", "context", "tpm"
        );
        for (tier, priority, id, config, check) in &rows {
            let status = match check {
                None => String::new(),
                Some(Ok(d)) => format!("ok ({} ms)", d.as_millis()),
                Some(Err(e)) => format!("FAILED: {e}"),
            };
            println!(
                "{:<14} {:>3}  {:<14} {:<32} {:>9} {:>9}  {status}",
                tier,
                priority,
                id,
                config
                    .map(|c| c.endpoint_identifier.as_str())
                    .unwrap_or("?"),
                config.map(|c| c.max_context_window).unwrap_or_default(),
                config.map(|c| c.tokens_per_minute).unwrap_or_default(),
            );
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(10)
    } else {
        ExitCode::SUCCESS
    })
}
