//! Evidence pre-selection: spans are verbatim slices of the stored source text, ranking
//! follows the query's terms and figures, and snippets of unfetched pages stay uncitable.

use std::sync::Arc;

use async_trait::async_trait;
use dra::citations::evidence::{
    chunk, select, select_hybrid, select_snippets, EmbedError, Embedder, Limits, SourceText,
    SNIPPET_WEIGHT,
};
use dra::citations::sources::SourceRegistry;
use dra::research::agents::SnippetNote;
use dra::web::FetchedPage;
use proptest::prelude::*;
use url::Url;

fn source(number: u32, text: &str) -> SourceText {
    SourceText {
        number,
        text: Arc::from(text),
    }
}

fn page(url: &str, text: &str) -> FetchedPage {
    FetchedPage::from_text(Url::parse(url).unwrap(), Some("T".into()), text)
}

/// Texts mixing ASCII, multibyte letters, emoji, odd whitespace, headings and figures.
fn messy_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,12}",
        Just("Ünïcødé".to_string()),
        Just("日本語の文".to_string()),
        Just("💡🔋".to_string()),
        Just("e\u{301}".to_string()),
        Just(" ".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just("\u{a0}".to_string()),
        Just("\u{2003}".to_string()),
        Just("\u{200b}".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\n\n".to_string()),
        Just(". ".to_string()),
        Just("! ".to_string()),
        Just("? ".to_string()),
        Just("\n## Heading ".to_string()),
        Just("$3.2B".to_string()),
        Just("40%".to_string()),
        Just("2027".to_string()),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|p| p.concat())
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (1usize..60, 1usize..4, 0usize..6, 1usize..4).prop_map(
        |(max_span_chars, max_sentences, min_span_chars, per_source)| Limits {
            max_spans: 1000,
            max_spans_per_source: per_source,
            max_snippets: 10,
            max_sentences,
            max_span_chars,
            min_span_chars,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn chunks_are_trimmed_bounded_ordered_slices_whose_offsets_agree(
        text in messy_text(),
        limits in small_limits(),
    ) {
        let chunks = chunk(&text, &limits);
        let mut previous_end = 0;
        for c in &chunks {
            let slice = text.get(c.bytes.clone());
            prop_assert!(slice.is_some(), "byte range {:?} not on char boundaries", c.bytes);
            let slice = slice.unwrap();
            prop_assert!(!slice.is_empty());
            prop_assert_eq!(slice, slice.trim());
            prop_assert!(slice.chars().count() <= limits.max_span_chars);
            prop_assert!(slice.chars().count() >= limits.min_span_chars);
            prop_assert_eq!(text[..c.bytes.start].chars().count(), c.char_start);
            prop_assert_eq!(c.char_end - c.char_start, slice.chars().count());
            prop_assert!(c.bytes.start >= previous_end, "windows overlap");
            previous_end = c.bytes.end;
        }
    }

    #[test]
    fn selected_spans_quote_their_source_exactly(
        a in messy_text(),
        b in messy_text(),
        query in "[a-zA-Z0-9 ]{0,30}",
        limits in small_limits(),
    ) {
        let sources = [source(1, &a), source(2, &b)];
        let spans = select(&sources, &[query.as_str(), "Heading 2027"], &limits);
        for span in &spans {
            let text = if span.source_number() == 1 { &a } else { &b };
            prop_assert_eq!(&text[span.bytes()], span.text());
            let chars: Vec<char> = text.chars().collect();
            let by_chars: String = chars[span.char_range()].iter().collect();
            prop_assert_eq!(by_chars.as_str(), span.text());
            prop_assert!(span.is_quoted_from(text));
            prop_assert!(span.score() > 0.0 && span.score() <= 1.0);
        }
        for n in [1, 2] {
            let count = spans.iter().filter(|s| s.source_number() == n).count();
            prop_assert!(count <= limits.max_spans_per_source);
        }
    }

    #[test]
    fn any_string_chunks_without_panicking(text in any::<String>(), limits in small_limits()) {
        for c in chunk(&text, &limits) {
            prop_assert!(text.get(c.bytes.clone()).is_some());
        }
    }
}

#[test]
fn the_window_with_the_query_terms_and_its_figure_ranks_first() {
    let cells = source(
        1,
        "Sodium-ion batteries are an alternative chemistry.\n\n\
         Many companies research sodium-ion designs for the grid.\n\n\
         Sodium-ion cells cost $87 per kWh in 2024, according to the survey.\n\n\
         Lithium prices fell sharply last year.",
    );
    let other = source(
        2,
        "Weather in the region was mild.\n\nThe harbour reopened after repairs.",
    );
    let spans = select(
        &[other, cells],
        &["How much do sodium-ion cells cost per kWh?"],
        &Limits::default(),
    );
    assert_eq!(
        spans[0].text(),
        "Sodium-ion cells cost $87 per kWh in 2024, according to the survey."
    );
    assert_eq!(spans[0].source_number(), 1);
    assert!(spans[0].has_numeric_content());
    assert_eq!(spans[0].score(), 1.0);
    assert!(
        spans.iter().all(|s| s.source_number() == 1),
        "windows sharing no term with the query are not evidence: {spans:#?}"
    );
}

#[test]
fn one_long_page_cannot_crowd_out_the_others() {
    let long: String = (0..40)
        .map(|i| format!("Sodium battery plant number {i} opened with sodium battery lines.\n\n"))
        .collect();
    let sources = [
        source(1, &long),
        source(2, "A sodium battery pilot started in the north."),
        source(3, "A sodium battery recycling scheme was announced."),
    ];
    let limits = Limits {
        max_spans: 8,
        max_spans_per_source: 3,
        ..Limits::default()
    };
    let spans = select(&sources, &["sodium battery"], &limits);
    let from = |n| spans.iter().filter(|s| s.source_number() == n).count();
    assert_eq!((from(1), from(2), from(3)), (3, 1, 1));
    assert!(spans.windows(2).all(|w| w[0].score() >= w[1].score()));
}

#[test]
fn figures_change_the_order_only_when_the_query_asks_for_a_quantity() {
    let sources = [
        source(
            1,
            "Sodium battery adoption reached 40% across Europe in 2024.",
        ),
        source(2, "Sodium battery adoption is accelerating across Europe."),
    ];
    let order = |query: &str| -> Vec<u32> {
        select(&sources, &[query], &Limits::default())
            .iter()
            .map(|s| s.source_number())
            .collect()
    };
    // Same terms, both windows match; the shorter one wins on BM25 alone.
    assert_eq!(order("sodium battery adoption Europe"), [2, 1]);
    // Asking for a share makes the window with the figure the better evidence.
    assert_eq!(
        order("what share is sodium battery adoption in Europe"),
        [1, 2]
    );
}

#[test]
fn selection_is_deterministic() {
    let sources = [
        source(1, "Grid storage grows. Grid storage grows."),
        source(2, "Grid storage grows. Grid storage grows."),
    ];
    let limits = Limits {
        max_sentences: 1,
        min_span_chars: 5,
        ..Limits::default()
    };
    let spans = select(&sources, &["grid storage"], &limits);
    let keys: Vec<(u32, usize)> = spans
        .iter()
        .map(|s| (s.source_number(), s.char_range().start))
        .collect();
    assert_eq!(keys, [(1, 0), (1, 20), (2, 0), (2, 20)]);
    assert_eq!(select(&sources, &["grid storage"], &limits), spans);
}

#[test]
fn spans_name_their_section_and_serialize_like_the_original() {
    let text = "Intro line that is not about it.\n\n## Costs\n\nSodium cells cost $87 per kWh.";
    let spans = select(
        &[source(4, text)],
        &["sodium cell cost"],
        &Limits::default(),
    );
    assert_eq!(spans.len(), 1);
    let json = serde_json::to_value(&spans[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "sourceNumber": 4,
            "startOffset": 44,
            "endOffset": 74,
            "quoteText": "Sodium cells cost $87 per kWh.",
            "sectionHeading": "Costs",
            "hasNumericContent": true,
            "relevanceScore": 1.0,
        })
    );
}

#[test]
fn snippets_of_unfetched_pages_are_weak_and_carry_no_source_number() {
    let notes = [
        SnippetNote {
            url: "https://paywall.example/report".into(),
            title: "Sodium battery market report".into(),
            snippet: "The sodium battery market reached $1.2 billion in 2024.".into(),
            reason: "HTTP 403".into(),
        },
        SnippetNote {
            url: "https://off.example/".into(),
            title: "Recipes".into(),
            snippet: "Bake the bread for forty minutes.".into(),
            reason: "timed out".into(),
        },
        SnippetNote {
            url: "https://empty.example/".into(),
            title: "Sodium battery".into(),
            snippet: "  ".into(),
            reason: "timed out".into(),
        },
    ];
    let snippets = select_snippets(&notes, &["sodium battery market size"], &Limits::default());
    assert_eq!(
        snippets.len(),
        1,
        "irrelevant and empty snippets are dropped"
    );
    let s = &snippets[0];
    assert_eq!(s.url(), "https://paywall.example/report");
    assert_eq!(s.reason(), "HTTP 403");
    assert!(s.has_numeric_content());
    assert_eq!(s.score(), SNIPPET_WEIGHT);
    let json = serde_json::to_value(s).unwrap();
    assert!(json.get("sourceNumber").is_none() && json.get("startOffset").is_none());
}

#[test]
fn the_registry_keeps_fetched_text_for_selection() {
    let registry = SourceRegistry::default();
    let a = registry.register(&page(
        "https://a.example/",
        "Überblick — Natrium.\n\nSodium cells store 160 Wh/kg in 2024 tests.",
    ));
    let b = registry.register(&page("https://b.example/", "Unrelated harbour news."));
    let sources = SourceText::from_registry(&registry);
    assert_eq!(sources.iter().map(|s| s.number).collect::<Vec<_>>(), [a, b]);
    let spans = select(&sources, &["sodium cells Wh/kg"], &Limits::default());
    let stored = registry.text(a).unwrap();
    assert_eq!(spans[0].source_number(), a);
    assert!(spans[0].is_quoted_from(&stored));
    assert_eq!(
        spans[0].text(),
        "Sodium cells store 160 Wh/kg in 2024 tests."
    );
}

/// Vectors by topic: texts about cars point one way, everything else another.
struct TopicEmbedder;

#[async_trait]
impl Embedder for TopicEmbedder {
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let t = t.to_lowercase();
                if t.contains("car") || t.contains("automobile") {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect())
    }
}

struct DownEmbedder;

#[async_trait]
impl Embedder for DownEmbedder {
    async fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::Endpoint("HTTP 503".into()))
    }
}

#[tokio::test]
async fn semantic_scoring_finds_evidence_without_shared_words_and_falls_back_to_keywords() {
    let sources = [
        source(1, "Automobile sales in the region doubled over the decade."),
        source(2, "The weather stayed mild over the decade."),
    ];
    let query = ["car market trends"];
    let limits = Limits::default();
    assert!(
        select(&sources, &query, &limits).is_empty(),
        "no shared words"
    );

    let hybrid = select_hybrid(&sources, &query, &limits, &TopicEmbedder).await;
    assert_eq!(hybrid[0].source_number(), 1);

    let fallback = select_hybrid(&sources, &["weather decade"], &limits, &DownEmbedder).await;
    assert_eq!(fallback, select(&sources, &["weather decade"], &limits));
}
