//! The synthesizer against the fake model server.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::support::llm::{FakeLlm, Reply};
use crate::support::world::{say, World};
use dra::citations::sources::SourceRegistry;
use dra::config::AppConfig;
use dra::llm::{LlmRouter, StreamEvent};
use dra::research::agents::synthesizer::{synthesize, Observation};
use dra::research::agents::QueryMode;
use dra::research::config::ReportLimits;
use dra::research::run::{Outcome, ResearchReport, RunRequest};
use dra::web::{ContentKind, FetchedPage};
use serde_json::json;
use url::Url;

fn router(fake: &FakeLlm) -> LlmRouter {
    let mut c = AppConfig::default();
    crate::support::llm::add_tiers(&mut c, fake, &["analytical", "complex"]);
    crate::support::llm::router(&c)
}

fn page(url: &str, title: &str) -> FetchedPage {
    FetchedPage {
        url: Url::parse(url).unwrap(),
        final_url: Url::parse(url).unwrap(),
        canonical_url: None,
        title: Some(title.into()),
        published: None,
        content_type: "text/html".into(),
        kind: ContentKind::Html,
        charset: Some("utf-8".into()),
        bytes: 100,
        word_count: 10,
        text: "text".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_streams_cites_only_fetched_sources_and_gets_our_references() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-complex",
        vec![Reply::Stream(vec![
            "# Sodium-vanadyl cells\n\nDensity reached 160 Wh/kg [1]. ".into(),
            "A pilot plant is planned [2][7]. Rumours abound [9].\n\n".into(),
            "## References\n1. Something the model made up\n".into(),
        ])],
    );
    let sources = SourceRegistry::default();
    sources.register(&page("https://a.example/cells", "Cells explained"));
    sources.register(&page("https://b.example/plant", "Pilot plant"));
    let chunks: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink_chunks = chunks.clone();
    let limits = ReportLimits {
        min_words: 300,
        max_words: 600,
        max_tokens: 1200,
    };
    let report = synthesize(
        &router(&fake),
        "How dense are sodium-vanadyl cells?",
        &[Observation {
            step_title: "Energy density",
            text: "Found 160 Wh/kg [1]; plant planned [2].",
        }],
        &sources,
        &limits,
        Some(Arc::new(move |ev: StreamEvent<'_>| {
            if let StreamEvent::Delta(t) = ev {
                sink_chunks.lock().unwrap().push(t.to_string());
            }
        })),
        None,
    )
    .await
    .unwrap();

    assert_eq!(chunks.lock().unwrap().len(), 3, "streamed as it arrived");
    assert!(report.markdown.contains("160 Wh/kg [1]."));
    assert!(report.markdown.contains("planned [2]."));
    assert!(!report.markdown.contains("[7]") && !report.markdown.contains("[9]"));
    assert!(
        !report.markdown.contains("made up"),
        "the model's references list is replaced"
    );
    assert!(report.markdown.ends_with("## References\n\n1. [Cells explained](https://a.example/cells)\n2. [Pilot plant](https://b.example/plant)\n"), "{}", report.markdown);
    assert_eq!(report.audit.dropped, 2);
    assert_eq!(
        report.endpoint, "complex",
        "the complex tier writes reports"
    );

    let call = &fake.calls_to("ep-complex")[0];
    assert_eq!(call.body["max_tokens"], 1200);
    let system = call.body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("between 300 and 600 words"), "{system}");
    let user = call.body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("[1] Cells explained — https://a.example/cells")
            && user.contains("## Energy density"),
        "{user}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_report_is_an_error_and_a_report_without_citations_has_no_references() {
    let fake = FakeLlm::start().await;
    fake.script(
        "ep-complex",
        vec![
            Reply::Text("## References\n1. only this".into()),
            Reply::Text("Nothing is known [4].".into()),
        ],
    );
    let r = router(&fake);
    let sources = SourceRegistry::default();
    let limits = ReportLimits::default();
    let err = synthesize(&r, "q", &[], &sources, &limits, None, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("synthesizer agent: unusable answer"),
        "{err}"
    );
    let report = synthesize(&r, "q", &[], &sources, &limits, None, None)
        .await
        .unwrap();
    assert_eq!(report.markdown, "Nothing is known.\n");
}

/// URLs of pages no run fetches, each linked in a different form by [`every_link_form`].
const UNFETCHED: [&str; 6] = [
    "http://lab.halvorsen-institute.example/articles/svc-07",
    "https://nowhere.example/agency",
    "https://nowhere.example/auto",
    "https://nowhere.example/bare",
    "https://nowhere.example/ref",
    "https://nowhere.example/invented",
];

/// A report linking the world's two fetched pages and [`UNFETCHED`] in every form a link
/// can take: markers (one unknown), inline links, bracketed URLs, autolinks, bare URLs,
/// a reference-style link with its definition, and a References list of the model's own.
fn every_link_form(w: &World) -> String {
    let article = w.pages.url("/article");
    let plain = w.pages.url("/plain.txt");
    format!(
        "# Deltas\n\n\
         Wetlands are shrinking [1]. A claim of nobody's [9].\n\n\
         The agency [says so]({agency}). The buoys [mapped the flows]({article}).\n\n\
         Sediment plants open later [{svc}]. Dams hold sediment back [{plain}].\n\n\
         Read <{article}> and <{auto}>. Mangroves help, see {bare}, and {plain} explains.\n\n\
         Subsidence is a [second driver][r].\n\n\
         [r]: {reference}\n\n\
         ## References\n\n1. [Invented]({invented})\n",
        agency = UNFETCHED[1],
        svc = UNFETCHED[0],
        auto = UNFETCHED[2],
        bare = UNFETCHED[3],
        reference = UNFETCHED[4],
        invented = UNFETCHED[5],
    )
}

/// A web-search run (one step, both pages fetched) whose report is [`every_link_form`].
async fn run_writing_every_link_form(w: &World) -> Box<ResearchReport> {
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- The delta lost wetlands [1].".into()),
        ],
    );
    w.llm
        .script("ep-complex", vec![Reply::Stream(vec![every_link_form(w)])]);
    let (report, events) = web_search_report(w).await;
    assert_eq!(
        events.last().unwrap()["payload"]["finalReport"].as_str(),
        Some(report.markdown.as_str())
    );
    report
}

/// What holds of any finished report: no unfetched URL anywhere, no URL in the body, only
/// registered markers, and References listing exactly the cited sources. Returns the body.
fn assert_cites_only_fetched_pages(report: &ResearchReport) -> &str {
    let md = &report.markdown;
    for url in UNFETCHED {
        assert!(!md.contains(url), "{url} is in\n{md}");
    }
    assert!(
        !md.contains("nowhere.example") && !md.contains("halvorsen"),
        "{md}"
    );
    let (body, references) = md.split_once("## References").expect("a References list");
    assert!(!body.contains("http"), "no URL is left in the body: {body}");
    let registered: BTreeSet<u32> = report.sources.iter().map(|s| s.number).collect();
    let cited = markers(body);
    assert!(
        cited.is_subset(&registered),
        "{cited:?} of {registered:?}: {body}"
    );
    assert_eq!(report.cited, cited);
    let listed: BTreeSet<u32> = references
        .lines()
        .filter_map(|l| l.split_once(". ").and_then(|(n, _)| n.trim().parse().ok()))
        .collect();
    assert_eq!(listed, cited, "{references}");
    for s in &report.sources {
        assert_eq!(
            references.contains(&s.url),
            cited.contains(&s.number),
            "{md}"
        );
    }
    body
}

/// Every form a link can take in a written report: a fetched page is cited by its `[n]`
/// whatever form the model used; anything else is gone, and counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_cites_only_fetched_pages_whatever_form_the_model_links_them_in() {
    let w = World::start().await;
    let report = run_writing_every_link_form(&w).await;
    let body = assert_cites_only_fetched_pages(&report);
    let number = |path: &str| {
        let url = w.pages.url(path);
        report
            .sources
            .iter()
            .find(|s| s.url == url)
            .unwrap_or_else(|| panic!("{url} was not fetched: {:?}", report.sources))
            .number
    };
    let (a, p) = (number("/article"), number("/plain.txt"));
    for expected in [
        "Wetlands are shrinking [1]. A claim of nobody's.".to_string(),
        format!("The agency says so. The buoys mapped the flows [{a}]."),
        format!("Sediment plants open later. Dams hold sediment back [{p}]."),
        format!("Read [{a}] and. Mangroves help, see, and [{p}] explains."),
        "Subsidence is a second driver.".to_string(),
    ] {
        assert!(body.contains(&expected), "{expected:?} not in\n{body}");
    }
    assert_eq!(markers(body), BTreeSet::from([1, a, p]));
    // Removed: [9], "says so", svc-07, <auto>, the bare URL, [r]. Re-pointed: the buoys'
    // link, [plain], <article>, the bare plain URL.
    assert_eq!(report.citations_dropped, 6, "{}", report.markdown);
    assert_eq!(report.citations_repointed, 4, "{}", report.markdown);
}

/// The same after verification, which rewrites and re-points sentences: the final pass
/// still leaves only fetched pages, each cited once in References.
#[tokio::test(flavor = "multi_thread")]
async fn a_verified_run_cites_only_fetched_pages_whatever_form_the_model_links_them_in() {
    let mut w = World::start().await;
    w.config.citation_verification.enabled = true;
    for tier in ["ep-analytical", "ep-simple"] {
        w.llm.respond(tier, |_| {
            say(json!({"verdict": "supported", "reasoning": "Stated in the evidence.", "evidence_index": 1}))
        });
    }
    let report = run_writing_every_link_form(&w).await;
    assert!(report.verification.is_some());
    assert_cites_only_fetched_pages(&report);
    assert!(report.citations_dropped >= 6, "{}", report.markdown);
}

/// The `[n]` numbers of `text`.
fn markers(text: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find('[') {
        rest = &rest[i + 1..];
        if let Some((n, _)) = rest.split_once(']') {
            if let Ok(n) = n.parse() {
                out.insert(n);
            }
        }
    }
    out
}

/// A report written the way models often write one: a body section named "Sources of
/// error", a sentence with its markers after the full stop, and a references list of its
/// own under a Chinese heading. The body section survives, the model's list is replaced by
/// ours, and the unsupported sentence is one claim softened once.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_references_list_in_any_language_goes_and_trailing_markers_stay_one_claim() {
    let mut w = World::start().await;
    w.config.citation_verification.enabled = true;
    for tier in ["ep-analytical", "ep-simple"] {
        w.llm.respond(tier, |body| {
            let claim = crate::support::world::claim_of(&crate::support::world::last_user_message(body));
            let verdict = if claim.contains("GWh") {
                "unsupported"
            } else {
                "supported"
            };
            say(json!({"verdict": verdict, "reasoning": "Judged by the claim.", "evidence_index": 1}))
        });
    }
    w.llm.script(
        "ep-analytical",
        vec![
            say(json!({"queries": ["delta wetland loss"]})),
            Reply::Text("- The delta lost wetlands [1].".into()),
        ],
    );
    w.llm.script(
        "ep-complex",
        vec![Reply::Stream(vec!["# Deltas\n\n\
             The delta has lost nearly a fifth of its wetlands since 1990 [1].\n\n\
             ## Sources of error\n\n\
             Sediment surveys stored 12 GWh. [1][2]\n\n\
             ## 参考文献\n\n\
             1. Ruiz, Delta wetlands are shrinking. [1]\n\
             2. 张伟，三角洲湿地研究。[2]\n"
            .into()])],
    );
    let (report, events) = web_search_report(&w).await;
    let md = &report.markdown;
    assert!(report.verification.is_some());
    assert!(md.contains("\n## Sources of error\n"), "{md}");
    assert!(
        md.contains("\nSediment surveys stored 12 GWh (unverified).\n"),
        "{md}"
    );
    assert_eq!(md.matches("(unverified)").count(), 1, "{md}");
    assert!(
        !md.contains("参考文献") && !md.contains("Ruiz") && !md.contains("张伟"),
        "{md}"
    );
    let (_, references) = md
        .split_once("\n## References\n\n")
        .expect("our References");
    // Ours: one line per source the body cites, nothing of the model's list.
    let ours: Vec<String> = report
        .sources
        .iter()
        .filter(|s| report.cited.contains(&s.number))
        .map(|s| format!("{}. [", s.number))
        .collect();
    let lines: Vec<&str> = references.lines().collect();
    assert!(!ours.is_empty() && lines.len() == ours.len(), "{md}");
    for (line, start) in lines.iter().zip(&ours) {
        assert!(line.starts_with(start.as_str()), "{md}");
    }
    let mut claims: Vec<&str> = events
        .iter()
        .filter(|e| e["eventType"] == "claim_verified")
        .filter_map(|e| e["payload"]["claimText"].as_str())
        .collect();
    claims.sort();
    assert_eq!(
        claims,
        vec![
            "Sediment surveys stored 12 GWh.",
            "The delta has lost nearly a fifth of its wetlands since 1990."
        ]
    );
}

/// A web-search run on `w` that must end in a report: the report and every event.
async fn web_search_report(w: &World) -> (Box<ResearchReport>, Vec<serde_json::Value>) {
    let req = RunRequest {
        mode: Some(QueryMode::WebSearch),
        ..RunRequest::new("How fast are deltas losing wetlands?")
    };
    let (outcome, events) = w.run(&req).await;
    let Ok(Outcome::Report(report)) = outcome else {
        panic!("expected a report, got {outcome:?}\n{events:#?}");
    };
    (report, events)
}
