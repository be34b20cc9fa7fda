//! The synthesizer against the fake model server.

mod support;

use std::sync::{Arc, Mutex};

use dra::config::AppConfig;
use dra::llm::{LlmRouter, StreamEvent};
use dra::research::agents::synthesizer::{synthesize, Observation};
use dra::research::config::ReportLimits;
use dra::research::sources::SourceRegistry;
use dra::web::{ContentKind, FetchedPage};
use support::llm::{FakeLlm, Reply};
use url::Url;

fn router(fake: &FakeLlm) -> LlmRouter {
    let mut c = AppConfig::default();
    support::llm::add_tiers(&mut c, fake, &["analytical", "complex"]);
    support::llm::router(&c)
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
