//! No text panics the research core: property tests over every text transform with
//! arbitrary Unicode (combining marks, emoji and ZWJ sequences, RTL, CJK, NUL, `\r\n`,
//! very long lines, lone surrogates in JSON escapes) mixed with what reports are made of
//! (markdown, `[n]` and `[E4]` markers, figures with units, links, `→` at line ends).
//!
//! Every input that ever broke something is kept twice: proptest's own regression file
//! (`text_properties.proptest-regressions`, replayed first) and a readable corpus in
//! `tests/fixtures/text-corpus/`, which [`every_corpus_input_goes_through_every_text_path`]
//! runs through all of the functions below.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use crate::support::llm::{FakeLlm, Reply};
use crate::support::world::{claim_of, last_user_message};
use chrono::{TimeZone, Utc};
use dra::citations::claims;
use dra::citations::config::{CitationVerification, UnsupportedClaims};
use dra::citations::evidence::{self, Limits, SourceText};
use dra::citations::interleaved::{self, EvidencePool};
use dra::citations::numeric;
use dra::citations::provenance::{
    Citation, Claim, ClaimId, EvidenceSpan, EvidenceSpanId, Provenance, SourceId,
};
use dra::citations::quote;
use dra::citations::retrieval::Softening;
use dra::citations::sources::SourceRegistry;
use dra::citations::verify::verify_report;
use dra::config::AppConfig;
use dra::events::ResearchEvent;
use dra::llm::{parse_structured, tokens, LlmRouter, Message};
use dra::progress;
use dra::search::{brave, dedup, filter, wikipedia, SearchConfig, SearchQuery};
use dra::web::{self, FetchedPage};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use regex::Regex;
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

/// Pieces reports and pages are made of, chosen to hit every byte width and every special
/// case the text code handles: markers, list items, headings, figures, links, stops.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    // Plain words, digits and spaces (weighted up by repetition).
    "the", "Widget", "output", "grew", " ", " ", " ", "  ", "\t", "1", "2", "7", "2024", "0",
    // Line structure.
    "\n", "\n", "\n\n", "\r\n", "\r", "\u{2028}", "\u{85}",
    // Stops, including multi-byte ones and the arrow that ended a report line.
    ".", ".", "!", "?", "…", "。", "！", "→", " →\n", "→\n", "⇒", "»",
    // Combining marks, alone and stacked; Hangul jamo; a ligature.
    "e\u{301}", "\u{301}", "\u{308}\u{301}", "a\u{20dd}", "\u{1100}\u{1161}", "ﬁ", "Å",
    // Emoji, ZWJ sequences, flags, variation selectors, skin tones.
    "💡", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "👍🏽", "☕\u{fe0f}",
    // RTL text and direction controls.
    "مرحبا بالعالم", "שלום", "\u{202e}", "\u{200f}", "٣٫٥٪", "١٢٣",
    // CJK.
    "日本語の文。", "中文，句子！", "한국어",
    // Controls and invisibles.
    "\0", "\u{7f}", "\u{feff}", "\u{ad}", "\u{200b}", "\u{a0}", "\u{2009}", "\u{202f}",
    // Citation and evidence markers, valid and not.
    "[1]", "[2]", " [1]", "[1, 2]", "[1-3]", "[2–4]", "[3; 7]", "[9]", "[99999999999]", "[١]",
    "[E1]", "[E2]", " [E1][E2]", "[E1, E3]", "[E99]", "[E]", "[", "]", "[[", "]]",
    // Markdown.
    "# ", "## ", "## References\n", "### Sources\n", "- ", "* ", "+ ", "1. ", "12) ", "> ",
    "| a | b |", "```", "`", "**", "_",
    // Figures with units, ranges, dates, currencies.
    "40%", "40 %", "$2.3bn", "US$5m", "€1.234,5", "1,500,000", "1.234", "3/4", "½", "2023–24",
    "−5 °C", "160 Wh/kg", "between 10 and 20", "forty-five percent", "two hundred thousand",
    "March 1, 2024", "2024-03-01", "03/01/2024", "1e999",
    // Links in every form.
    "[text](https://a.example/x)", "<https://b.example/y>", "[http://c.example/z]",
    "http://d.example/q?utm_source=x", "(https://e.example/é)",
    // JSON-ish and HTML-ish fragments.
    "{", "}", "\"", "\\", "\\ud800", "\\udc00", "<p>", "</p>", "<script>", "&amp;", "&#x27;",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => "\\PC{1,8}",
        // A figure too long for an f64.
        1 => (1usize..400).prop_map(|n| "9".repeat(n)),
    ]
}

/// Up to 60 pieces; one input in ten is a very long line (up to ~20,000 characters).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::collection::vec(piece(), 0..60).prop_map(|p| p.concat()),
        1 => (prop::collection::vec(piece(), 1..6), 1usize..2000).prop_map(|(p, n)| {
            let unit = p.concat().replace(['\n', '\r'], " ");
            let mut long = String::new();
            for _ in 0..n {
                if long.chars().count() > 20_000 {
                    break;
                }
                long.push_str(&unit);
            }
            long
        }),
    ]
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn page(n: usize, text: &str) -> FetchedPage {
    let url = Url::parse(&format!("https://s{n}.example/page")).expect("constant URL");
    FetchedPage::from_text(url, Some(format!("Source {n}")), text)
}

fn registry(texts: &[&str]) -> SourceRegistry {
    let r = SourceRegistry::default();
    for (i, t) in texts.iter().enumerate() {
        r.register(&page(i + 1, t));
    }
    r
}

fn source_texts(texts: &[&str]) -> Vec<SourceText> {
    texts
        .iter()
        .zip(1..)
        .map(|(t, number)| SourceText {
            number,
            text: Arc::from(*t),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// One function per text path; each checks its invariant with `assert!` so the corpus test
// and the properties share them.

/// Claims are cited sentences whose byte and char ranges name the same text.
fn check_claims(report: &str) {
    let extracted = claims::extract(report);
    let mut previous_end = 0;
    for c in &extracted {
        let raw = report.get(c.bytes.clone());
        assert!(
            raw.is_some(),
            "claim bytes {:?} off char boundaries",
            c.bytes
        );
        let raw = raw.unwrap_or_default();
        assert!(c.bytes.start >= previous_end, "claims overlap");
        previous_end = c.bytes.end;
        assert_eq!(report[..c.bytes.start].chars().count(), c.start);
        assert_eq!(report[..c.bytes.end].chars().count(), c.end);
        assert!(!c.cited.is_empty());
        assert_eq!(c.cited, claims::cited_numbers(raw));
        assert_eq!(c.text, claims::strip_markers(raw));
    }
    let _ = claims::strip_markers(report);
    let _ = claims::cited_numbers(report);
}

/// Every number's range slices to what it says it read, in order; a text's numbers are
/// all found in the text itself.
fn check_numbers(text: &str, evidence: &str) {
    let mentions = numeric::extract(text);
    let mut previous_end = 0;
    for m in &mentions {
        assert_eq!(text.get(m.range.clone()), Some(m.raw.as_str()));
        assert!(
            m.range.start >= previous_end,
            "numbers overlap: {mentions:?}"
        );
        previous_end = m.range.end;
    }
    let own = numeric::check_claim(text, &[text]);
    let unmatched: Vec<_> = own
        .numbers
        .iter()
        .filter(|n| {
            !matches!(
                n.verdict,
                numeric::NumericMatch::Exact { .. } | numeric::NumericMatch::WithinTolerance { .. }
            )
        })
        .map(|n| (&n.mention.raw, &n.verdict))
        .collect();
    assert!(
        own.qa_verified,
        "a text's own numbers are not found in it: {unmatched:?}"
    );
    let _ = numeric::check_claim(text, &[evidence, ""]);
}

/// Found quotes are char-boundary spans of the source.
fn check_quotes(source: &str, quote_text: &str) {
    if let Some(span) = quote::find(source, quote_text) {
        assert!(source.get(span.range()).is_some(), "{span:?}");
    }
    if let Some(best) = quote::find_best(source, quote_text) {
        assert!(source.get(best.span.range()).is_some(), "{best:?}");
    }
}

/// Evidence spans quote their source exactly; rendering evidence ids keeps only markers
/// that were written or that name a pool source.
fn check_evidence(sources: &[&str], query: &str, writer_text: &str) {
    let texts = source_texts(sources);
    let limits = Limits {
        max_span_chars: 120,
        min_span_chars: 5,
        ..Limits::default()
    };
    for t in &texts {
        for c in evidence::chunk(&t.text, &limits) {
            assert!(t.text.get(c.bytes.clone()).is_some(), "{:?}", c.bytes);
        }
    }
    let spans = evidence::select(&texts, &[query, writer_text], &limits);
    for s in &spans {
        let source = &texts[(s.source_number() - 1) as usize].text;
        assert!(s.is_quoted_from(source), "{s:?}");
    }
    let pool_sources: BTreeSet<u32> = spans.iter().map(|s| s.source_number()).collect();
    let pool = Arc::new(EvidencePool::from_spans(spans));
    let written = interleaved::render(writer_text, pool);
    let allowed: BTreeSet<u32> = claims::cited_numbers(writer_text)
        .into_iter()
        .chain(pool_sources)
        .collect();
    let rendered: BTreeSet<u32> = claims::cited_numbers(&written.body).into_iter().collect();
    assert!(
        rendered.is_subset(&allowed),
        "{rendered:?} not within {allowed:?}: {:?}",
        written.body
    );
    let _ = interleaved::outline(query, &[(writer_text, writer_text)]);
}

/// Softened sentences cite nothing; enforcement leaves only registered sources cited.
fn check_rewrites(text: &str, source: &str) {
    for softening in [
        Softening::Hedge,
        Softening::Qualify,
        Softening::Parenthetical,
    ] {
        let soft = softening.apply(text);
        assert!(
            claims::cited_numbers(&soft).is_empty(),
            "{softening:?} kept a marker: {soft:?}"
        );
    }
    let registry = registry(&[source, "Another page."]);
    let (enforced, _audit) = registry.enforce(text);
    // Code (spans, fenced and indented blocks) is left as written: a marker there is no
    // citation, as the markdown renders it.
    let has_code = text.contains('`')
        || text.contains('~')
        || text
            .lines()
            .any(|l| l.starts_with('\t') || l.starts_with("    "));
    let unregistered: Vec<u32> = claims::cited_numbers(&enforced)
        .into_iter()
        .filter(|n| registry.get(*n).is_none())
        .collect();
    assert!(
        has_code || unregistered.is_empty(),
        "{unregistered:?} cited in {enforced:?}"
    );
    let cited = registry.cited(&enforced);
    let _ = registry.references(&cited);
}

/// The markdown Verification Report of claims with arbitrary text and quotes renders, and
/// the JSON export serialises.
fn check_provenance(report: &str, quote_text: &str) {
    let extracted = claims::extract(report);
    // A few claims suffice: each carries the whole quote, and a long line holds hundreds.
    let claims: Vec<Claim> = extracted
        .iter()
        .take(8)
        .map(|c| {
            let mut claim = Claim::new(
                ClaimId(Uuid::nil()),
                c.text.clone(),
                i32::try_from(c.start).unwrap_or(i32::MAX),
                i32::try_from(c.end).unwrap_or(i32::MAX),
            );
            claim.citations.push(Citation {
                evidence_span: EvidenceSpan {
                    id: EvidenceSpanId(Uuid::nil()),
                    source_id: SourceId(Uuid::nil()),
                    quote_text: quote_text.to_string(),
                    start_offset: Some(0),
                    end_offset: None,
                    section_heading: Some(report.chars().take(50).collect()),
                    relevance_score: Some(0.5),
                    has_numeric_content: evidence::has_numeric_content(quote_text),
                    source: None,
                },
                confidence_score: None,
                is_primary: true,
            });
            claim
        })
        .collect();
    let provenance = Provenance::new(Uuid::nil(), claims);
    let at = Utc
        .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or_default();
    let markdown = provenance.verification_report(at);
    for line in markdown.lines().filter(|l| l.starts_with("  > \"")) {
        assert!(line.chars().count() <= 200 + 10, "quote not cut: {line:?}");
    }
    assert!(serde_json::to_string(&provenance.export(at)).is_ok());
}

/// Progress lines clip on characters.
fn check_progress(text: &str) {
    for max in [0, 1, 3, 80, 120] {
        let clipped = dra::text::clip(text, max);
        assert!(clipped.chars().count() <= max + 1);
        assert!(text.starts_with(clipped.trim_end_matches('…')) || clipped.ends_with('…'));
    }
    let events = [
        ResearchEvent::ReflectionDecision {
            decision: text.to_string(),
            reasoning: text.to_string(),
            suggested_changes: Some(vec![text.to_string()]),
        },
        ResearchEvent::Error {
            error_code: text.to_string(),
            error_message: text.to_string(),
            recoverable: false,
            stack_trace: None,
            error_type: None,
        },
        ResearchEvent::ClaimVerified {
            claim_id: Uuid::nil(),
            claim_text: text.to_string(),
            position_start: 0,
            position_end: 0,
            verdict: "unsupported".into(),
            confidence_level: "low".into(),
            evidence_preview: text.to_string(),
            reasoning: Some(text.to_string()),
            citation_key: None,
            citation_keys: None,
        },
    ];
    for event in &events {
        let _ = progress::describe(event);
    }
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Answer {
    reasoning: String,
    verdict: String,
    #[serde(default)]
    evidence_index: Option<u32>,
}

/// Model answers parse or fail with a message, never a panic.
fn check_structured(content: &str) {
    let schema = serde_json::to_value(schemars::schema_for!(Answer)).unwrap_or_default();
    let _ = parse_structured::<Answer>(content, &schema);
    let _ = parse_structured::<Value>(content, &json!({}));
    let wrapped =
        format!("Here you go:\n```json\n{{\"reasoning\": \"{content}\", \"verdict\": \"x\"}}\n```");
    let _ = parse_structured::<Answer>(&wrapped, &schema);
}

/// Trimming a prompt to a budget cuts on characters and honours the budget when it can.
fn check_tokens(text: &str) {
    let mut messages = vec![
        Message::system(text),
        Message::user(format!("{text}{text}")),
    ];
    let before = tokens::count_messages(&messages);
    let budget = before / 2 + 80;
    if tokens::trim_to_fit(&mut messages, budget).is_ok() {
        assert!(tokens::count_messages(&messages) <= budget);
    }
}

/// Extraction from arbitrary HTML, decoding of arbitrary bytes, search result cleaning.
fn check_web(text: &str) {
    let url = Url::parse("https://page.example/a").expect("constant URL");
    let html = format!(
        "<html><head><title>{text}</title><link rel=canonical href=\"{text}\"></head>\
         <body><nav>{text}</nav><article><h2>{text}</h2><p>{text}</p><p>{text}</p></article>\
         <div class=\"cookie\">{text}</div></body></html>"
    );
    let _ = web::extract_html(&html, &url);
    let _ = web::extract_html(text, &url);
    let _ = web::decode(text.as_bytes(), Some("text/html; charset=utf-8"));
    let _ = web::decode(text.as_bytes(), None);
    let response = json!({"web": {"results": [
        {"title": text, "url": "https://r.example/1", "description": text},
        {"title": text, "url": text, "description": text},
    ]}});
    if let Ok(response) = serde_json::from_value::<brave::Response>(response) {
        let query = SearchQuery::new(text, &SearchConfig::default());
        let hits = brave::hits(response, &query);
        let _ = dedup::dedup(hits);
    }
    let response = json!({"query": {"search": [
        {"ns": 0, "title": text, "snippet": format!("<span class=\"searchmatch\">{text}</span> &quot;{text}&#039;")},
    ]}});
    if let Ok(response) = serde_json::from_value::<wikipedia::Response>(response) {
        let articles = Url::parse("https://en.wikipedia.org/wiki/").expect("constant URL");
        let query = SearchQuery::new(text, &SearchConfig::default());
        let results = response.query.map(|q| q.search).unwrap_or_default();
        for hit in wikipedia::hits(results, &articles, &query) {
            // Whatever the title, the hit links an article on that wiki.
            assert!(
                hit.url.as_str().starts_with(articles.as_str()),
                "{}",
                hit.url
            );
            assert_eq!((hit.url.query(), hit.url.fragment()), (None, None));
        }
    }
    let _ = filter::matches(text, text);
    let _ = filter::matches("news.example", text);
    let _ = web::parse_http_url(text);
}

/// URL keys ignore fragments and tracking parameters whatever the path and query hold.
fn check_urls(part: &str) {
    let mut base = Url::parse("https://Site.example/").expect("constant URL");
    base.set_path(part);
    base.query_pairs_mut().append_pair("q", part);
    let mut tracked = base.clone();
    tracked
        .query_pairs_mut()
        .append_pair("utm_source", part)
        .append_pair("fbclid", "1");
    tracked.set_fragment(Some(part));
    assert_eq!(dedup::normalize(&base), dedup::normalize(&tracked));
    assert_eq!(web::normalize(&base), web::normalize(&tracked));
}

/// Every synchronous text path, with `a` and `b` in each role.
fn exercise(a: &str, b: &str) {
    check_claims(a);
    check_numbers(a, b);
    check_quotes(a, b);
    check_quotes(b, a);
    check_evidence(&[a, b], b, a);
    check_rewrites(a, b);
    check_provenance(a, b);
    check_progress(a);
    check_structured(a);
    check_web(a);
    check_urls(a);
}

// ---------------------------------------------------------------------------------------
// The whole verification pipeline, against a fake verifier that answers every verdict
// (and sometimes JSON with a lone surrogate) by the claim it is shown.

struct World {
    runtime: tokio::runtime::Runtime,
    router: LlmRouter,
    _fake: FakeLlm,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let fake = runtime.block_on(FakeLlm::start());
    fake.respond("ep-analytical", verifier);
    fake.respond("ep-simple", verifier);
    let mut c = AppConfig::default();
    crate::support::llm::add_tiers(&mut c, &fake, &["simple", "analytical"]);
    // The limiter would pace hundreds of calls; pacing is not what is tested here.
    for endpoint in c.endpoints.values_mut() {
        endpoint.tokens_per_minute = 1_000_000_000;
    }
    let router = crate::support::llm::router(&c);
    World {
        runtime,
        router,
        _fake: fake,
    }
});

fn verifier(body: &Value) -> Reply {
    let claim = claim_of(&last_user_message(body));
    let pick = claim.chars().map(u32::from).fold(0u32, u32::wrapping_add) % 6;
    let answer = match pick {
        0 => json!({"reasoning": claim, "verdict": "supported", "evidence_index": 1}).to_string(),
        1 => json!({"reasoning": "no", "verdict": "unsupported"}).to_string(),
        2 => json!({"reasoning": "otherwise", "verdict": "contradicted"}).to_string(),
        3 => json!({
            "reasoning": "one says so, another not",
            "verdict": "supported",
            "evidence_index": 1,
            "contradicting_evidence": [2, 3],
        })
        .to_string(),
        4 => json!({"reasoning": "some", "verdict": "partial", "evidence_index": 2}).to_string(),
        _ => r#"{"reasoning": "\ud800 lone \udc00", "verdict": "supported"}"#.to_string(),
    };
    Reply::Text(answer)
}

static REFERENCES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^## References$").expect("constant pattern"));
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d+)\]\((https?://[^)]*)\)").expect("constant pattern"));

/// The report verifies and is rewritten under each policy; References list only fetched
/// sources.
fn check_verification(report: &str, sources: &[&str]) {
    let registry = registry(sources);
    for policy in [
        UnsupportedClaims::Soften,
        UnsupportedClaims::Remove,
        UnsupportedClaims::Mark,
    ] {
        let settings = CitationVerification {
            unsupported_claims: policy,
            ..CitationVerification::default()
        };
        let verified =
            WORLD
                .runtime
                .block_on(verify_report(&WORLD.router, report, &registry, &settings));
        let fetched: BTreeSet<String> = registry.all().into_iter().map(|s| s.url).collect();
        // The References list rewriting rebuilt, when the report had a heading for it.
        if let Some(heading) = REFERENCES.find_iter(&verified.markdown).last() {
            let references = &verified.markdown[heading.end()..];
            for link in MARKER.captures_iter(references) {
                assert!(fetched.contains(&link[2]), "{} is not fetched", &link[2]);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn claims_name_their_sentences_by_bytes_and_chars(report in text()) {
        check_claims(&report);
    }

    #[test]
    fn numbers_slice_their_text_and_are_found_in_it(text in text(), evidence in text()) {
        check_numbers(&text, &evidence);
    }

    #[test]
    fn quotes_are_found_on_char_boundaries(source in text(), quote in text()) {
        check_quotes(&source, &quote);
        // A quote cut from the source at grapheme boundaries is found.
        let graphemes: Vec<(usize, &str)> =
            unicode_segmentation::UnicodeSegmentation::grapheme_indices(source.as_str(), true)
                .collect();
        if graphemes.len() > 2 {
            let (start, _) = graphemes[graphemes.len() / 3];
            let (end, _) = graphemes[graphemes.len() * 2 / 3];
            let planted = &source[start..end];
            if planted.chars().any(char::is_alphanumeric) {
                prop_assert!(quote::find(&source, planted).is_some(), "{planted:?} in {source:?}");
            }
        }
    }

    #[test]
    fn rewrites_keep_only_valid_markers(text in text(), source in text()) {
        check_rewrites(&text, &source);
    }

    #[test]
    fn provenance_renders_any_claims_and_quotes(report in text(), quote in text()) {
        check_provenance(&report, &quote);
    }

    #[test]
    fn progress_lines_clip_on_characters(text in text()) {
        check_progress(&text);
    }

    #[test]
    fn urls_keys_ignore_fragments_and_tracking(part in text()) {
        check_urls(&part);
    }
}

fn json_answer() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        (text(), text()).prop_map(|(a, b)| format!(
            r#"{{"reasoning": "{a}\ud800{b}", "verdict": "supported"}}"#
        )),
        (text(), any::<u16>()).prop_map(|(a, unit)| format!(
            "```json\n{{\"reasoning\": \"\\u{unit:04x}{a}\\udfff\", \"verdict\": \"partial\"\n```"
        )),
        text().prop_map(|a| format!(r#"[{{"reasoning": "{a}", "verdict": "#)),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn evidence_spans_quote_their_sources(a in text(), b in text(), writer in text()) {
        check_evidence(&[&a, &b], &writer, &writer);
    }

    #[test]
    fn structured_answers_parse_or_fail_cleanly(content in json_answer()) {
        check_structured(&content);
    }

    #[test]
    fn web_and_search_text_never_panics(text in text()) {
        check_web(&text);
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn prompts_trim_on_characters(text in text()) {
        check_tokens(&text);
    }

    #[test]
    fn any_report_verifies_and_rewrites(report in text(), a in text(), b in text()) {
        check_verification(&report, &[&a, &b, "Widget output grew 40% in 2024."]);
    }
}

/// Every input that ever failed, through every text path and the verification pipeline.
#[test]
fn every_corpus_input_goes_through_every_text_path() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text-corpus");
    let mut inputs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the corpus directory")
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "md"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a UTF-8 corpus file");
            (p.display().to_string(), text)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    let filler = "Widget output grew 40% in 2024 → Vietnam [1].";
    for (name, text) in &inputs {
        eprintln!("corpus: {name}");
        exercise(text, filler);
        exercise(filler, text);
        check_tokens(text);
        check_verification(text, &[text, filler]);
    }
}
