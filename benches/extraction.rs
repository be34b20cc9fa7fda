//! Extraction quality and speed over the saved-page corpus in `tests/fixtures/extraction/`:
//! word-level precision and recall per page and on average (goal: both ≥ 0.90), and pages
//! extracted per second on one core. Results go to `bench-results/extraction.json` (and a
//! summary to stdout). No network, no database.

mod common;
#[path = "../tests/it/support/corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use dra::web::extract_html;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let cases = corpus::load();
    anyhow::ensure!(!cases.is_empty(), "no pages in {}", corpus::dir().display());
    let url = url::Url::parse("https://example.com/article")?;

    let mut pages = Vec::with_capacity(cases.len());
    let (mut sum_p, mut sum_r) = (0.0, 0.0);
    for case in &cases {
        let got = extract_html(&case.html, &url);
        let s = corpus::score(&got.text, &case.expected);
        sum_p += s.precision;
        sum_r += s.recall;
        println!(
            "{:<28} precision {:.3}  recall {:.3}",
            case.name, s.precision, s.recall
        );
        pages.push(json!({
            "page": case.name,
            "precision": round(s.precision),
            "recall": round(s.recall),
            "html_bytes": case.html.len(),
        }));
    }
    let n = cases.len() as f64;

    // Speed on one core: this thread only, whole corpus repeated for at least two seconds.
    let budget = Duration::from_secs(2);
    let started = Instant::now();
    let mut extracted = 0usize;
    while started.elapsed() < budget {
        for case in &cases {
            std::hint::black_box(extract_html(&case.html, &url));
            extracted += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let total_bytes: usize = cases.iter().map(|c| c.html.len()).sum();

    // The corpus pages are small (a few KB); real pages are often 100 KB or more of markup.
    // One large page (every corpus page's markup in one document) shows how time scales.
    let large = format!(
        "<html><body>{}</body></html>",
        cases.iter().map(|c| c.html.as_str()).collect::<String>()
    );
    let rounds = 50u32;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(extract_html(&large, &url));
    }
    let large_ms = started.elapsed().as_secs_f64() * 1e3 / f64::from(rounds);

    let result = json!({
        "benchmark": "extraction",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "pages": cases.len(),
        "mean_precision": round(sum_p / n),
        "mean_recall": round(sum_r / n),
        "goal": { "mean_precision": 0.9, "mean_recall": 0.9 },
        "single_core": {
            "pages_per_second": (extracted as f64 / secs).round(),
            "mean_page_bytes": total_bytes / cases.len(),
            "extractions": extracted,
            "large_page_bytes": large.len(),
            "large_page_ms": (large_ms * 100.0).round() / 100.0,
        },
        "per_page": pages,
    });
    common::save("extraction", &result)?;
    println!(
        "mean precision {:.3}, mean recall {:.3}, {:.0} pages/s on one core; {} KB page in {:.1} ms",
        sum_p / n,
        sum_r / n,
        extracted as f64 / secs,
        large.len() / 1024,
        large_ms
    );
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
