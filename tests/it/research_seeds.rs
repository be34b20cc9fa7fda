//! Medium-depth deep research, verification on, over a schema-driven fake model
//! ([`SchemaModel`]) whose answers are messy multi-byte text, and pages written the same
//! way: on every seed the run ends with a report that cites only the run's sources.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use crate::support::schema_llm::SchemaModel;
use crate::support::world::World;
use dra::research::agents::QueryMode;
use dra::research::config::Depth;
use dra::research::run::{Outcome, RunRequest};
use regex::Regex;
use serde_json::Value;

const QUERY: &str =
    "Wie schnell steigt die Energiedichte von Akkus — 212 Wh/kg → 2030? 电池 🔋 وכמה זה עולה?";

/// Pages whose text is as mixed as the model's: arrows at line ends, emoji with ZWJ, CJK,
/// right-to-left scripts, combining marks, curly quotes, `\r\n`.
const PAGES: &[(&str, &str)] = &[
    (
        "/unicode/cells",
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Zellchemie 2024 — Überblick 🔋</title></head>\r\n\
<body><article><h1>Energy density → 2030</h1>\r\n\
<p>Pack-level energy density reached 212 Wh/kg in 2024 →</p>\r\n\
<p>“Solid-state” cells promise 350 Wh/kg — at −20 °C they keep 80 % of capacity ✅</p>\r\n\
<p>Cell cost fell to $132/kWh; 电池能量密度提高了 15 %。 👩‍🔬 researchers at Zürich’s lab agree.</p>\r\n\
</article></body></html>",
    ),
    (
        "/unicode/rtl",
        "<!DOCTYPE html><html dir=\"rtl\"><head><meta charset=\"utf-8\"><title>بطارية الليثيوم — סוללת ליתיום</title></head>\n\
<body><article><h1>كثافة الطاقة ٢١٢ واط/كغ</h1>\n\
<p>كثافة الطاقة في البطاريات بلغت 212 Wh/kg في عام 2024 ←</p>\n\
<p>צפיפות האנרגיה עלתה ל־198 Wh/kg בשנת 2023 — לפי הסקר של 42 תחנות 📈</p>\n\
<p>Mixed: the survey covered 42 stations (\u{2067}٤٢ محطة\u{2069}) →</p>\n\
</article></body></html>",
    ),
    (
        "/unicode/marks",
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>e\u{301}tude n\u{303}andu\u{301} — リチウムイオン電池</title></head>\n\
<body><article><h1>リチウムイオン電池のエネルギー密度（セル）</h1>\n\
<p>リチウムイオン電池のエネルギー密度は２０２４年に 212 Wh/kg に達した。→</p>\n\
<p>The e\u{301}tude found 1 200 mAh cells at 3.7 V last 12 GWh of cycling 👨‍👩‍👧‍👦 🏳️‍🌈</p>\n\
<p>배터리 수명은 15 % 늘었다 — ‘LFP’ cells cost ≈ 4,5 € per unit…</p>\n\
</article></body></html>",
    ),
];

/// Every marker form the engine reads as a citation: `[3]`, `[3, 5]`, `[3-5]`, `[3; 7]`.
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]").expect("constant pattern"));

/// The source numbers one marker's body names.
fn numbers(body: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in body.split([',', ';']) {
        match part.trim().split_once(['-', '–']) {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    out.extend(a..=b.min(a + 50));
                }
            }
            None => out.extend(part.trim().parse::<u32>().ok()),
        }
    }
    out
}

/// `markdown` without its code (fenced blocks, inline code spans): `[6]` in code is text
/// shown as code, not a citation.
fn outside_code(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for (i, segment) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(segment);
            }
        }
        out.push('\n');
    }
    out
}

/// One medium run on `seed`'s fake; panics (naming the seed) on any way it goes wrong.
async fn medium_run_finishes(seed: u64) {
    let mut w = World::start().await;
    w.config.citation_verification.enabled = true;
    for (path, html) in PAGES {
        w.pages.set_page(path, *html);
    }
    let mut paths: Vec<&str> = PAGES.iter().map(|(p, _)| *p).collect();
    paths.push("/article");
    w.search_fake.serve_pages(&w.pages, &paths);
    SchemaModel::new(seed).serve(&w.llm, &["ep-simple", "ep-analytical", "ep-complex"]);

    let req = RunRequest {
        mode: Some(QueryMode::DeepResearch),
        depth: Depth::Medium,
        verify: Some(true),
        ..RunRequest::new(QUERY)
    };
    let (outcome, events) = tokio::time::timeout(Duration::from_secs(60), w.run(&req))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the run did not finish within 60 s"));

    let panics: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == "error")
        .filter(|e| {
            let p = &e["payload"];
            [&p["errorCode"], &p["errorType"], &p["errorMessage"]]
                .iter()
                .any(|v| {
                    v.as_str()
                        .is_some_and(|s| s.to_lowercase().contains("panic"))
                })
        })
        .collect();
    assert!(panics.is_empty(), "seed {seed}: panic events {panics:#?}");
    let report = match outcome {
        Ok(Outcome::Report(r)) => r,
        Ok(other) => panic!("seed {seed}: not a report: {other:?}"),
        Err(e) => panic!("seed {seed}: the run failed: {e}"),
    };
    assert!(
        !report.markdown.trim().is_empty(),
        "seed {seed}: empty report"
    );
    let sources: BTreeSet<u32> = report.sources.iter().map(|s| s.number).collect();
    for m in MARKER.captures_iter(&outside_code(&report.markdown)) {
        for n in numbers(&m[1]) {
            assert!(
                sources.contains(&n),
                "seed {seed}: [{n}] names no source of the run ({sources:?}):\n{}",
                report.markdown
            );
        }
    }
    assert!(
        events
            .iter()
            .any(|e| e["eventType"] == "research_completed"),
        "seed {seed}: no research_completed event"
    );
}

macro_rules! seeds {
    ($($name:ident = $seed:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            medium_run_finishes($seed).await;
        }
    )*};
}

seeds! {
    medium_run_finishes_on_seed_0 = 0;
    medium_run_finishes_on_seed_1 = 1;
    medium_run_finishes_on_seed_2 = 2;
    medium_run_finishes_on_seed_3 = 3;
    medium_run_finishes_on_seed_4 = 4;
    medium_run_finishes_on_seed_5 = 5;
    medium_run_finishes_on_seed_6 = 6;
    medium_run_finishes_on_seed_7 = 7;
    medium_run_finishes_on_seed_8 = 8;
    medium_run_finishes_on_seed_9 = 9;
}

/// More seeds on demand: `DRA_SEEDS=10..200 cargo test --test research_seeds -- --ignored`.
/// Every seed runs; the failing ones are listed together at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long; set DRA_SEEDS"]
async fn medium_runs_finish_on_the_seeds_in_dra_seeds() {
    use futures::FutureExt;
    let range = std::env::var("DRA_SEEDS").unwrap_or_else(|_| "10..40".into());
    let (from, to) = range.split_once("..").expect("DRA_SEEDS is FROM..TO");
    let seeds = from.parse::<u64>().expect("FROM")..to.parse::<u64>().expect("TO");
    let mut failed = Vec::new();
    for seed in seeds {
        let run = std::panic::AssertUnwindSafe(medium_run_finishes(seed)).catch_unwind();
        if let Err(panic) = run.await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("seed {seed}: {message}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
