//! `dra search`: one query through the configured provider, de-duplicated and
//! domain-filtered exactly as the research engine receives it.

use std::process::ExitCode;

use anyhow::Context as _;
use dra::search::{self, SearchHit, SearchQuery};
use serde::Serialize;

use super::Context;
use crate::cli::SearchArgs;

/// What `--json` prints.
#[derive(Serialize)]
struct JsonOutput<'a> {
    provider: search::ProviderKind,
    query: &'a str,
    count: u32,
    offset: u32,
    freshness: Option<search::Freshness>,
    hits: &'a [SearchHit],
}

pub async fn run(ctx: &Context, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let selection = search::select(args.provider, &ctx.config.search, &ctx.env);
    let kind = selection.kind();
    let provider = search::provider(kind, &ctx.config.search, &ctx.env)?;
    if let Some(notice) = selection.notice() {
        eprintln!("{notice}");
    }
    let mut query = SearchQuery::new(args.query, &ctx.config.search);
    if let Some(count) = args.count {
        query.count = count;
    }
    query.offset = args.offset;
    if let Some(f) = args.freshness {
        query.freshness = Some(f);
    }
    if args.any_time {
        query.freshness = None;
    }
    let hits = provider
        .search(&query)
        .await
        .with_context(|| format!("searching for \"{}\"", query.text))?;

    if args.json {
        let out = JsonOutput {
            provider: kind,
            query: &query.text,
            count: query.count,
            offset: query.offset,
            freshness: query.freshness,
            hits: &hits,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        eprintln!("no results for \"{}\" from {kind}", query.text);
        return Ok(ExitCode::SUCCESS);
    }
    for hit in &hits {
        print!("{}", render(hit));
    }
    Ok(ExitCode::SUCCESS)
}

/// One hit as a text block: rank and title, URL, then age and snippet.
fn render(hit: &SearchHit) -> String {
    let mut out = format!("{:>2}. {}\n    {}\n", hit.rank, hit.title, hit.url);
    let age = hit.age.as_deref().or(hit.published.as_deref());
    let detail = match (age, hit.snippet.is_empty()) {
        (Some(age), false) => format!("{age} · {}", hit.snippet),
        (Some(age), true) => age.to_string(),
        (None, false) => hit.snippet.clone(),
        (None, true) => String::new(),
    };
    if !detail.is_empty() {
        out.push_str(&format!("    {detail}\n"));
    }
    out.push('\n');
    out
}
