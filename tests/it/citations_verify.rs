//! Report verification against a fake verifier model: planted defects are caught, faithful
//! claims kept, and the report rewritten per the unsupported-claims policy.

use crate::support::llm::{FakeLlm, Reply};
use crate::support::world::{claim_of, last_user_message};
use dra::citations::config::{CitationVerification, UnsupportedClaims};
use dra::citations::provenance::{CorrectionType, Verdict};
use dra::citations::sources::SourceRegistry;
use dra::citations::verify::{verify_report, Treatment, VerifiedClaim, VerifiedReport};
use dra::config::AppConfig;
use dra::events::ResearchEvent;
use dra::llm::LlmRouter;
use dra::web::FetchedPage;
use serde_json::{json, Value};
use url::Url;

const MARKET: &str = "Market report 2024.\n\nThe global widget market grew 40% in 2024, driven by demand in Asia. Analysts at Widgetco expect growth to slow next year. Factories in Vietnam doubled their output of widgets.";
const HARBOUR: &str =
    "Harbour news. The ferry timetable changes on Monday. Fishing boats returned early because of the storm.";
const SURVEY: &str = "Survey results. Factories in Vietnam cut their output of widgets by half, according to the ministry.";
const BATTERY: &str = "Battery research — résumé. Sodium cells reached an energy density of 160 Wh/kg in laboratory tests.";

const VERBATIM: &str = "The global widget market grew 40% in 2024, driven by demand in Asia";
const PARAPHRASE: &str = "Analysts foresee a slowdown in widget growth next year";
const WRONG_NUMBER: &str = "The widget market expanded by 14% in 2024";
const UNRELATED: &str = "Widget prices tripled during the storm season";
const UNKNOWN: &str = "Widget exports reached 3 million units";
const DISPUTED: &str = "Factories in Vietnam doubled their widget output";
const MISCITED: &str = "Sodium cells reached an energy density of 160 Wh/kg in laboratory tests";

fn report() -> String {
    format!(
        "# Widgets\n\n> **Partial report.** Research stopped early [1].\n\n{VERBATIM} [1]. {PARAPHRASE} [1]. {WRONG_NUMBER} [1].\n\n\
         - {UNRELATED} [2].\n- {UNKNOWN} [9].\n\n{DISPUTED} [1][3]. {MISCITED} [2].\n\n## References\n\n1. [Market](https://a.example/market)\n"
    )
}

fn page(url: &str, text: &str) -> FetchedPage {
    FetchedPage::from_text(Url::parse(url).unwrap(), Some(url.into()), text)
}

fn registry() -> SourceRegistry {
    let r = SourceRegistry::default();
    r.register(&page("https://a.example/market", MARKET));
    r.register(&page("https://b.example/harbour", HARBOUR));
    r.register(&page("https://c.example/survey", SURVEY));
    r.register(&page("https://d.example/batteries", BATTERY));
    r
}

fn router(fake: &FakeLlm) -> LlmRouter {
    let mut c = AppConfig::default();
    crate::support::llm::add_tiers(&mut c, fake, &["simple", "analytical"]);
    crate::support::llm::router(&c)
}

/// The quotes of a verification request, numbered as the prompt numbers them.
fn quotes(user: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut lines = user.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((n, _)) = rest.split_once(']') else {
            continue;
        };
        if let (Ok(n), Some(quote)) = (n.parse(), lines.next()) {
            out.push((n, quote.to_string()));
        }
    }
    out
}

/// A verifier that judges by the claim it is shown; lenient about numbers, so the numeric
/// gate is what must catch the wrong figure.
fn verifier(body: &Value) -> Reply {
    let user = last_user_message(body);
    let claim = claim_of(&user);
    let answer = if claim.contains("slowdown") || claim.contains("14%") {
        json!({"reasoning": "the evidence says so", "verdict": "supported", "evidence_index": 1})
    } else if claim.contains("Vietnam") {
        let q = quotes(&user);
        let find = |w: &str| q.iter().find(|(_, t)| t.contains(w)).map(|(n, _)| *n);
        json!({
            "reasoning": "one quote says doubled, another says cut by half",
            "verdict": "supported",
            "evidence_index": find("doubled"),
            "contradicting_evidence": find("cut their output").into_iter().collect::<Vec<_>>(),
        })
    } else {
        json!({"reasoning": "the evidence does not address it", "verdict": "unsupported"})
    };
    Reply::Text(answer.to_string())
}

async fn verify(policy: UnsupportedClaims) -> (VerifiedReport, FakeLlm) {
    let fake = FakeLlm::start().await;
    fake.respond("ep-analytical", verifier);
    fake.respond("ep-simple", verifier);
    let settings = CitationVerification {
        unsupported_claims: policy,
        ..CitationVerification::default()
    };
    let verified = verify_report(&router(&fake), &report(), &registry(), &settings).await;
    (verified, fake)
}

fn claim<'a>(report: &'a VerifiedReport, text: &str) -> &'a VerifiedClaim {
    report
        .claims
        .iter()
        .find(|c| c.claim.claim_text.starts_with(text))
        .unwrap_or_else(|| panic!("no claim {text:?}"))
}

fn verdict(report: &VerifiedReport, text: &str) -> Option<Verdict> {
    claim(report, text).claim.verification_verdict
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_defects_are_caught_and_faithful_claims_supported() {
    let (v, fake) = verify(UnsupportedClaims::Mark).await;

    assert_eq!(v.claims.len(), 7, "the partial notice is not a claim");
    assert_eq!(verdict(&v, VERBATIM), Some(Verdict::Supported));
    assert_eq!(verdict(&v, PARAPHRASE), Some(Verdict::Supported));

    let wrong = claim(&v, WRONG_NUMBER);
    assert!(!wrong.numeric.qa_verified);
    assert_ne!(wrong.claim.verification_verdict, Some(Verdict::Supported));
    assert_eq!(
        wrong.treatment,
        Treatment::Unsupported(UnsupportedClaims::Mark)
    );

    assert_eq!(verdict(&v, UNRELATED), Some(Verdict::Unsupported));
    assert_eq!(verdict(&v, UNKNOWN), Some(Verdict::Unsupported));
    assert!(claim(&v, UNKNOWN).claim.citations.is_empty());

    assert_eq!(verdict(&v, DISPUTED), Some(Verdict::Contradicted));
    // The note quotes what the disagreeing source says.
    assert!(
        v.markdown.contains(
            "(sources disagree: [3] says \"Factories in Vietnam cut their output of widgets by half, according to the ministry.\")"
        ),
        "{}",
        v.markdown
    );

    let miscited = claim(&v, MISCITED);
    assert_eq!(
        miscited.claim.verification_verdict,
        Some(Verdict::Supported)
    );
    assert_eq!(miscited.claim.corrections.len(), 1);
    assert_eq!(
        miscited.treatment,
        Treatment::Recited {
            from: vec![2],
            to: 4
        }
    );
    assert_eq!(v.corrections, 1);
    assert!(v.markdown.contains(&format!("{MISCITED} [4].")));
    assert!(v.markdown.contains("](https://d.example/batteries)"));

    assert_eq!(v.summary.total_claims, 7);
    assert_eq!(
        v.model_calls as usize,
        fake.calls_to("ep-analytical").len() + fake.calls_to("ep-simple").len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verbatim_claim_costs_no_model_call() {
    let (v, fake) = verify(UnsupportedClaims::Mark).await;
    let verbatim = claim(&v, VERBATIM);
    assert_eq!(
        verbatim.claim.verification_verdict,
        Some(Verdict::Supported)
    );
    assert_eq!(verbatim.claim.citations.len(), 1);
    assert!(verbatim.claim.citations[0]
        .evidence_span
        .quote_text
        .starts_with(VERBATIM));
    let asked_about_it = fake
        .calls_to("ep-analytical")
        .iter()
        .filter(|c| {
            last_user_message(&c.body)
                .split("## Evidence")
                .next()
                .is_some_and(|claim| claim.contains("widget market grew 40%"))
        })
        .count();
    assert_eq!(asked_about_it, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_evidence_span_quotes_its_source_at_its_char_offsets() {
    let (v, _fake) = verify(UnsupportedClaims::Mark).await;
    let texts = [
        ("https://a.example/market", MARKET),
        ("https://b.example/harbour", HARBOUR),
        ("https://c.example/survey", SURVEY),
        ("https://d.example/batteries", BATTERY),
    ];
    let mut checked = 0;
    for c in &v.claims {
        let spans = c.claim.citations.iter().map(|c| &c.evidence_span).chain(
            c.claim
                .corrections
                .iter()
                .flat_map(|k| k.original_evidence.iter().chain(&k.corrected_evidence)),
        );
        for span in spans {
            let url = span.source.as_ref().and_then(|s| s.url.clone()).unwrap();
            let text = texts.iter().find(|(u, _)| *u == url).unwrap().1;
            let start = span.start_offset.unwrap() as usize;
            let end = span.end_offset.unwrap() as usize;
            let quoted: String = text.chars().skip(start).take(end - start).collect();
            assert_eq!(quoted, span.quote_text);
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} spans");
}

#[tokio::test(flavor = "multi_thread")]
async fn remove_deletes_unsupported_sentences() {
    let (v, _fake) = verify(UnsupportedClaims::Remove).await;
    for gone in [WRONG_NUMBER, UNRELATED, UNKNOWN] {
        assert!(!v.markdown.contains(gone), "{gone:?} in\n{}", v.markdown);
    }
    assert!(v.markdown.contains(&format!("{VERBATIM} [1].")));
    assert!(v.markdown.contains(&format!("{PARAPHRASE} [1].")));
    assert!(
        !v.markdown.lines().any(|l| l.trim() == "-"),
        "{}",
        v.markdown
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn soften_drops_markers_and_says_unverified() {
    let (v, _fake) = verify(UnsupportedClaims::Soften).await;
    assert!(
        v.markdown
            .contains(&format!("{WRONG_NUMBER} (unverified).")),
        "{}",
        v.markdown
    );
    assert!(v.markdown.contains(&format!("- {UNKNOWN} (unverified).")));
    assert!(!v.markdown.contains("[9]"));
    assert!(v.markdown.contains(&format!("{PARAPHRASE} [1].")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_citation_is_recorded_as_a_remove_correction() {
    let (v, _fake) = verify(UnsupportedClaims::Soften).await;
    let unrelated = claim(&v, UNRELATED);
    let kinds: Vec<CorrectionType> = unrelated
        .claim
        .corrections
        .iter()
        .map(|c| c.correction_type)
        .collect();
    assert_eq!(kinds, [CorrectionType::Remove]);
    assert!(unrelated.claim.corrections[0].corrected_evidence.is_none());
    let events = unrelated.events();
    assert!(events.iter().any(|e| matches!(
        e,
        ResearchEvent::CitationCorrected { correction_type, .. } if correction_type == "remove"
    )));
    // Kept and re-pointed claims record no removal.
    assert!(claim(&v, VERBATIM).claim.corrections.is_empty());
    let miscited: Vec<CorrectionType> = claim(&v, MISCITED)
        .claim
        .corrections
        .iter()
        .map(|c| c.correction_type)
        .collect();
    assert_eq!(miscited, [CorrectionType::Replace]);
}

/// Stage 5's third action: a claim its own source supports only in part keeps that
/// citation and gains one to a fetched source that supports all of it.
#[tokio::test(flavor = "multi_thread")]
async fn a_partly_supported_claim_gains_an_alternate_citation() {
    let fake = FakeLlm::start().await;
    for tier in ["ep-simple", "ep-analytical"] {
        fake.respond(tier, |body| {
            let user = last_user_message(body);
            let evidence = user.split("## Evidence").nth(1).unwrap_or_default().to_string();
            say_json(if evidence.contains("Sodium") {
                json!({"reasoning": "all of it", "verdict": "supported", "evidence_index": 1})
            } else {
                json!({"reasoning": "only the demand part", "verdict": "partial", "evidence_index": 1})
            })
        });
    }
    let claim_text = "Sodium cells did well in laboratory tests while widget demand in Asia grew";
    let report =
        format!("{claim_text} [1].\n\n## References\n\n1. [Market](https://a.example/market)\n");
    let v = verify_report(
        &router(&fake),
        &report,
        &registry(),
        &CitationVerification::default(),
    )
    .await;
    let c = claim(&v, "Sodium cells did well");
    assert_eq!(c.claim.verification_verdict, Some(Verdict::Supported));
    assert_eq!(c.treatment, Treatment::Added { to: 4 });
    assert_eq!(c.claim.corrections.len(), 1);
    assert_eq!(
        c.claim.corrections[0].correction_type,
        CorrectionType::AddAlternate
    );
    assert_eq!(c.claim.citation_keys, Some(vec!["1".into(), "4".into()]));
    let primary = c.claim.citations.iter().find(|c| c.is_primary).unwrap();
    assert!(primary.evidence_span.quote_text.contains("Sodium"));
    assert!(c.claim.citations.len() >= 2, "the original evidence stays");
    assert!(
        v.markdown.contains(&format!("{claim_text} [1][4].")),
        "{}",
        v.markdown
    );
    assert!(v.markdown.contains("](https://d.example/batteries)"));
    assert_eq!(v.corrections, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn mark_keeps_unsupported_sentences_visibly_flagged() {
    let (v, _fake) = verify(UnsupportedClaims::Mark).await;
    assert!(
        v.markdown
            .contains(&format!("{WRONG_NUMBER} [1]. ⚠ unverified")),
        "{}",
        v.markdown
    );
    assert!(v
        .markdown
        .contains(&format!("{UNRELATED} [2]. ⚠ unverified")));
    assert!(!v.markdown.contains(&format!("{VERBATIM} [1]. ⚠")));
}

/// Stage 3: a claim that follows its quote's wording is checked by the quick tier against
/// that quote alone; a quick verdict short of supported is checked again in full.
#[tokio::test(flavor = "multi_thread")]
async fn confident_claims_take_the_quick_tier_and_doubtful_quick_verdicts_escalate() {
    let fake = FakeLlm::start().await;
    fake.respond("ep-simple", |body| {
        let user = last_user_message(body);
        let claim = user.split("## Evidence").next().unwrap_or_default();
        let verdict = if claim.contains("Asia") {
            "supported"
        } else {
            "partial"
        };
        say_json(json!({"reasoning": "quick look", "verdict": verdict, "evidence_index": 1}))
    });
    fake.respond("ep-analytical", |_| {
        say_json(json!({"reasoning": "full look", "verdict": "unsupported"}))
    });
    // Both follow the market page's wording closely (high confidence) but neither is
    // quoted verbatim.
    let report = "Widget market growth in 2024 was driven by Asia demand [1]. \
                  Widgetco analysts expect that widget growth will slow next year [1].\n";
    let verified = verify_report(
        &router(&fake),
        report,
        &registry(),
        &CitationVerification::default(),
    )
    .await;
    let asia = claim(&verified, "Widget market growth");
    assert_eq!(asia.claim.verification_verdict, Some(Verdict::Supported));
    assert_eq!(
        asia.claim.confidence_level,
        Some(dra::citations::provenance::ConfidenceLevel::High)
    );
    let slow = claim(&verified, "Widgetco analysts");
    assert_eq!(slow.claim.verification_verdict, Some(Verdict::Unsupported));
    assert!(slow
        .claim
        .verification_reasoning
        .as_deref()
        .unwrap_or_default()
        .contains("full look"));

    let quick = fake.calls_to("ep-simple");
    assert_eq!(quick.len(), 2);
    for call in &quick {
        let user = last_user_message(&call.body);
        assert_eq!(quotes(&user).len(), 1, "quick checks see one quote: {user}");
    }
    // Only the doubtful one went on to the full check (and, unsupported, to a search of
    // the other sources for a better citation).
    let full = fake.calls_to("ep-analytical");
    assert!(!full.is_empty());
    for call in &full {
        assert!(last_user_message(&call.body).contains("Widgetco analysts"));
    }
    assert_eq!(verified.model_calls as usize, quick.len() + full.len());
}

/// Without stage 3 every claim is checked in full, once.
#[tokio::test(flavor = "multi_thread")]
async fn without_classification_every_claim_gets_one_full_check() {
    let fake = FakeLlm::start().await;
    fake.respond("ep-analytical", |_| {
        say_json(json!({"reasoning": "full look", "verdict": "supported", "evidence_index": 1}))
    });
    let settings = CitationVerification {
        enable_confidence_classification: false,
        ..CitationVerification::default()
    };
    let report = "Widget market growth in 2024 was driven by Asia demand [1].\n";
    let verified = verify_report(&router(&fake), report, &registry(), &settings).await;
    assert_eq!(verified.model_calls, 1);
    assert!(fake.calls_to("ep-simple").is_empty());
    assert_eq!(fake.calls_to("ep-analytical").len(), 1);
}

fn say_json(v: Value) -> Reply {
    Reply::Text(v.to_string())
}

// Numeric veto: a sentence whose number its cited source does not state never keeps that
// citation as supported; it is re-pointed to a fetched source that states the number (the
// two sources then both named), or handled per the unsupported-claims policy.

const CELLS_212: &str = "Cell report. Sodium cells reached an energy density of 212 Wh/kg in laboratory tests at the institute.";
const CELLS_198: &str =
    "Pilot results. The pilot line's sodium cells store 198 Wh/kg, the operator said.";
const CELLS_WORDY: &str = "Institute news. Sodium cells reached an energy density record in laboratory tests, the institute said.";
const CLAIM_198: &str = "Sodium cells reached an energy density of 198 Wh/kg in laboratory tests";

/// [1] says 212 Wh/kg, [2] (when `with_198`) says 198 Wh/kg in other words (else that
/// sodium is in cells), [3] has the claim's words and no number.
fn cells_registry(with_198: bool) -> SourceRegistry {
    let r = SourceRegistry::default();
    r.register(&page("https://a.example/cells", CELLS_212));
    let pilot = if with_198 { CELLS_198 } else { NO_NUMBER };
    r.register(&page("https://b.example/pilot", pilot));
    r.register(&page("https://c.example/news", CELLS_WORDY));
    r
}

const NO_NUMBER: &str = "Pilot results. Cells are made of sodium, the operator said.";

/// A judge that (wrongly) calls every claim supported by the first quote, on both tiers.
fn always_supported(fake: &FakeLlm) {
    for tier in ["ep-simple", "ep-analytical"] {
        fake.respond(tier, |_| {
            say_json(json!({"reasoning": "the evidence says so", "verdict": "supported", "evidence_index": 1}))
        });
    }
}

async fn verify_cells(
    fake: &FakeLlm,
    registry: &SourceRegistry,
    report: &str,
    policy: UnsupportedClaims,
) -> VerifiedReport {
    let settings = CitationVerification {
        unsupported_claims: policy,
        ..CitationVerification::default()
    };
    verify_report(&router(fake), report, registry, &settings).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_its_source_does_not_state_is_repointed_to_the_source_that_does() {
    let fake = FakeLlm::start().await;
    always_supported(&fake);
    let registry = cells_registry(true);
    let report = format!("{CLAIM_198} [1].\n");
    for policy in [UnsupportedClaims::Mark, UnsupportedClaims::Soften] {
        let v = verify_cells(&fake, &registry, &report, policy).await;
        let c = claim(&v, CLAIM_198);
        assert!(c.numeric.qa_verified, "checked against [2] now: {c:#?}");
        assert_eq!(c.claim.verification_verdict, Some(Verdict::Supported));
        assert_eq!(c.claim.citation_keys, Some(vec!["2".into()]));
        assert_eq!(
            c.claim
                .corrections
                .iter()
                .map(|k| k.correction_type)
                .collect::<Vec<_>>(),
            [CorrectionType::Replace]
        );
        // Cited to [2]; [1], which says otherwise, named with what it says.
        let Treatment::Disputed {
            supports,
            contradicts,
            dissent,
        } = &c.treatment
        else {
            panic!("{:?}", c.treatment);
        };
        assert_eq!(
            (supports.as_slice(), contradicts.as_slice()),
            (&[2][..], &[1][..])
        );
        assert!(
            dissent.as_deref().is_some_and(|d| d.contains("212 Wh/kg")),
            "{dissent:?}"
        );
        assert!(
            v.markdown
                .starts_with(&format!("{CLAIM_198} [2]. (sources disagree: [1] says \"")),
            "{}",
            v.markdown
        );
        assert!(!v.markdown.contains("unverified"), "{}", v.markdown);
        assert_eq!(v.corrections, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_source_stating_the_number_the_claim_is_never_left_cited_as_supported() {
    let fake = FakeLlm::start().await;
    always_supported(&fake);
    let registry = cells_registry(false);
    let report = format!("{CLAIM_198} [1]. Cells are made of sodium [2].\n");
    for policy in [
        UnsupportedClaims::Soften,
        UnsupportedClaims::Remove,
        UnsupportedClaims::Mark,
    ] {
        let v = verify_cells(&fake, &registry, &report, policy).await;
        let c = claim(&v, CLAIM_198);
        assert!(!c.numeric.qa_verified);
        assert_ne!(c.claim.verification_verdict, Some(Verdict::Supported));
        assert_eq!(c.treatment, Treatment::Unsupported(policy));
        let expected = match policy {
            UnsupportedClaims::Soften => format!("{CLAIM_198} (unverified)."),
            UnsupportedClaims::Remove => String::new(),
            UnsupportedClaims::Mark => format!("{CLAIM_198} [1]. ⚠ unverified"),
        };
        assert!(
            v.markdown.starts_with(&format!(
                "{expected}{}Cells are made of sodium [2].",
                if expected.is_empty() { "" } else { " " }
            )),
            "{policy:?}: {}",
            v.markdown
        );
    }
}

/// Looking for a better citation, a source whose wording is closest but which lacks the
/// number is no candidate, whatever the model says of it: the one stating it is.
#[tokio::test(flavor = "multi_thread")]
async fn a_numeric_claim_is_repointed_to_a_source_stating_its_number_not_the_closest_wording() {
    let fake = FakeLlm::start().await;
    for tier in ["ep-simple", "ep-analytical"] {
        fake.respond(tier, |body| {
            let user = last_user_message(body);
            let evidence = user.split("## Evidence").nth(1).unwrap_or_default().to_string();
            say_json(if evidence.contains("212") {
                json!({"reasoning": "212, not 198", "verdict": "contradicted"})
            } else {
                json!({"reasoning": "the evidence says so", "verdict": "supported", "evidence_index": 1})
            })
        });
    }
    let registry = cells_registry(true);
    let v = verify_cells(
        &fake,
        &registry,
        &format!("{CLAIM_198} [1].\n"),
        UnsupportedClaims::Soften,
    )
    .await;
    let c = claim(&v, CLAIM_198);
    assert_eq!(c.claim.citation_keys, Some(vec!["2".into()]), "{c:#?}");
    assert_eq!(c.claim.verification_verdict, Some(Verdict::Supported));
    assert!(
        v.markdown.starts_with(&format!("{CLAIM_198} [2].")),
        "{}",
        v.markdown
    );
    assert!(!v.markdown.contains("[3]"), "{}", v.markdown);
}

/// Of two cited sources that disagree on the number, the one stating it supports the
/// claim even when the model picked the other.
#[tokio::test(flavor = "multi_thread")]
async fn of_two_cited_sources_the_one_stating_the_number_supports_the_claim() {
    let fake = FakeLlm::start().await;
    for tier in ["ep-simple", "ep-analytical"] {
        fake.respond(tier, |body| {
            let q = quotes(&last_user_message(body));
            let find = |w: &str| q.iter().find(|(_, t)| t.contains(w)).map(|(n, _)| *n);
            say_json(json!({
                "reasoning": "the 212 quote supports it, the 198 one does not",
                "verdict": "supported",
                "evidence_index": find("212"),
                "contradicting_evidence": find("198").into_iter().collect::<Vec<_>>(),
            }))
        });
    }
    let registry = cells_registry(true);
    let v = verify_cells(
        &fake,
        &registry,
        &format!("{CLAIM_198} [1][2].\n"),
        UnsupportedClaims::Soften,
    )
    .await;
    let c = claim(&v, CLAIM_198);
    let Treatment::Disputed {
        supports,
        contradicts,
        dissent,
    } = &c.treatment
    else {
        panic!("{:?}", c.treatment);
    };
    assert_eq!(
        (supports.as_slice(), contradicts.as_slice()),
        (&[2][..], &[1][..])
    );
    assert!(
        dissent.as_deref().is_some_and(|d| d.contains("212 Wh/kg")),
        "{dissent:?}"
    );
    assert!(
        v.markdown.contains("(sources disagree: [1] says \"") && v.markdown.contains("212 Wh/kg"),
        "{}",
        v.markdown
    );
}
