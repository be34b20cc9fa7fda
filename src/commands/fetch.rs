//! `dra fetch URL`: fetch one page and show what the research engine would read.

use std::process::ExitCode;

use anyhow::Context as _;
use dra::web::{FetchedPage, Fetcher};

use super::Context;
use crate::cli::FetchArgs;

/// Fetch `args.url` with the configured limits and print the page.
pub async fn run(ctx: &Context, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let fetcher = Fetcher::new(&ctx.config.web)?;
    let page = fetcher.fetch(&args.url).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&*page).context("while rendering the page")?;
        println!("{json}");
    } else {
        print!("{}", render(&page, args.max_chars));
    }
    Ok(ExitCode::SUCCESS)
}

/// A header of metadata, a blank line, then the text cut at `max_chars` (0 = all).
fn render(page: &FetchedPage, max_chars: usize) -> String {
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<13} {v}\n"));
    line("URL:", page.url.to_string());
    line("Final URL:", page.final_url.to_string());
    line(
        "Canonical:",
        or_none(page.canonical_url.as_ref().map(|u| u.to_string())),
    );
    line("Title:", or_none(page.title.clone()));
    line("Published:", or_none(page.published.clone()));
    let charset = page
        .charset
        .as_deref()
        .map(|c| format!("; charset={c}"))
        .unwrap_or_default();
    line("Content type:", format!("{}{charset}", page.content_type));
    line("Size:", format!("{} bytes", page.bytes));
    line("Words:", page.word_count.to_string());
    out.push('\n');
    let total = page.text.chars().count();
    if max_chars == 0 || total <= max_chars {
        out.push_str(&page.text);
        out.push('\n');
    } else {
        out.extend(page.text.chars().take(max_chars));
        out.push_str(&format!(
            "\n[… {} more characters; --max-chars 0 shows all]\n",
            total - max_chars
        ));
    }
    out
}
