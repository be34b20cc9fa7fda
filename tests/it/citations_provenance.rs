//! Provenance views match the original's citation API: the JSON validates against the
//! original's OpenAPI component schemas with exactly their field names, the summary follows
//! the original's counting and warning rule, and the markdown report keeps its layout.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use dra::citations::provenance::{
    Citation, CitationCorrection, Claim, ClaimId, ClaimType, ConfidenceLevel, CorrectionId,
    CorrectionMetrics, CorrectionType, Corrections, DerivationType, EvidenceSpan, EvidenceSpanId,
    NumericClaimDetail, Provenance, ProvenanceError, QaVerificationResult, SourceId,
    SourceMetadata, Verdict, VerificationSummary,
};
use serde_json::{json, Value};
use uuid::Uuid;

const OPENAPI: &str = include_str!("../fixtures/original-openapi.json");

// ---------------------------------------------------------------------------------------
// JSON against the original's schemas

#[test]
fn message_claims_validate_against_message_claims_response() {
    let body = to_json(&representative().message_claims(Corrections::Include));
    assert_valid("MessageClaimsResponse", &body);
}

#[test]
fn claim_evidence_validates_against_claim_evidence_response() {
    let p = representative();
    for claim in &p.claims {
        let body = to_json(&p.claim_evidence(claim.id).expect("claim is in the message"));
        assert_valid("ClaimEvidenceResponse", &body);
    }
}

#[test]
fn single_claim_validates_against_claim_response() {
    let p = representative();
    for claim in &p.claims {
        assert_valid(
            "ClaimResponse",
            &to_json(p.claim(claim.id).expect("present")),
        );
    }
}

#[test]
fn verification_summary_validates_against_verification_summary() {
    assert_valid("VerificationSummary", &to_json(&representative().summary()));
    assert_valid(
        "VerificationSummary",
        &to_json(&VerificationSummary::empty()),
    );
}

#[test]
fn every_object_has_exactly_the_schema_field_names() {
    let p = representative();
    let claims = to_json(&p.message_claims(Corrections::Include));
    let mut seen = BTreeSet::new();
    assert_same_fields("MessageClaimsResponse", &claims, &mut seen);
    assert_same_fields(
        "ClaimEvidenceResponse",
        &to_json(&p.claim_evidence(p.claims[0].id).expect("present")),
        &mut seen,
    );
    // The representative document reaches every citation schema, so none goes unchecked.
    let expected: BTreeSet<String> = [
        "MessageClaimsResponse",
        "ClaimResponse",
        "CitationResponse",
        "EvidenceSpanResponse",
        "SourceMetadataResponse",
        "CitationCorrectionResponse",
        "NumericClaimDetail",
        "QAVerificationResult",
        "VerificationSummary",
        "CorrectionMetrics",
        "ClaimEvidenceResponse",
    ]
    .map(String::from)
    .into();
    assert_eq!(seen, expected);
}

#[test]
fn a_wrong_verdict_spelling_is_rejected() {
    let mut body = to_json(&representative().message_claims(Corrections::Omit));
    body["claims"][0]["verificationVerdict"] = json!("SUPPORTED");
    assert_invalid("MessageClaimsResponse", &body);
}

#[test]
fn a_missing_required_field_is_rejected() {
    let mut body = to_json(&representative().message_claims(Corrections::Omit));
    let claim = body["claims"][0]
        .as_object_mut()
        .expect("claim is an object");
    claim.remove("claimText");
    assert_invalid("MessageClaimsResponse", &body);

    let mut summary = to_json(&representative().summary());
    summary
        .as_object_mut()
        .expect("summary is an object")
        .remove("warning");
    assert_invalid("VerificationSummary", &summary);
}

#[test]
fn enums_use_the_original_lowercase_values() {
    assert_eq!(to_json(&Verdict::Contradicted), json!("contradicted"));
    assert_eq!(
        to_json(&CorrectionType::AddAlternate),
        json!("add_alternate")
    );
    assert_eq!(to_json(&ConfidenceLevel::Medium), json!("medium"));
    assert_eq!(to_json(&ClaimType::Numeric), json!("numeric"));
    assert_eq!(to_json(&DerivationType::Computed), json!("computed"));
}

#[test]
fn unknown_claim_is_a_typed_error() {
    let p = representative();
    let missing = ClaimId(Uuid::from_u128(0xdead));
    assert_eq!(
        p.claim_evidence(missing),
        Err(ProvenanceError::ClaimNotFound {
            claim_id: missing,
            message_id: p.message_id,
        })
    );
}

#[test]
fn correction_metrics_are_omitted_unless_asked_for() {
    let p = representative();
    assert_eq!(p.message_claims(Corrections::Omit).correction_metrics, None);
    assert_eq!(
        p.message_claims(Corrections::Include).correction_metrics,
        Some(CorrectionMetrics {
            total_corrections: 2,
            keep_count: 1,
            replace_count: 1,
            remove_count: 0,
            add_alternate_count: 0,
            correction_rate: 2.0 / 5.0,
        })
    );
}

// ---------------------------------------------------------------------------------------
// Provenance export (the route declares no schema: its parts are checked, the whole pinned)

#[test]
fn provenance_export_json_is_pinned() {
    let export = representative().export(at(2025, 11, 25, 10, 30, 0));
    let body = to_json(&export);
    assert_valid("VerificationSummary", &body["summary"]);
    assert_valid("NumericClaimDetail", &body["claims"][1]["numericDetail"]);
    let pretty = serde_json::to_string_pretty(&export).expect("serialises");
    insta::assert_snapshot!("provenance_export_json", pretty);
}

#[test]
fn exported_at_is_written_as_pydantic_writes_it() {
    let p = Provenance::new(Uuid::nil(), Vec::new());
    let whole = to_json(&p.export(at(2025, 1, 2, 3, 4, 5)));
    assert_eq!(whole["exportedAt"], json!("2025-01-02T03:04:05Z"));

    let fractional = at(2025, 1, 2, 3, 4, 5) + chrono::Duration::nanoseconds(120_000_999);
    let body = to_json(&p.export(fractional));
    assert_eq!(body["exportedAt"], json!("2025-01-02T03:04:05.120000Z"));
}

// ---------------------------------------------------------------------------------------
// Summary computation

#[test]
fn summary_counts_rates_and_warning() {
    use Verdict::*;
    // (verdicts, abstained claims among them by index) -> expected summary fields.
    struct Row {
        name: &'static str,
        verdicts: Vec<Option<Verdict>>,
        abstained: Vec<usize>,
        counts: [u32; 6], // total, supported, partial, unsupported, contradicted, abstained
        unsupported_rate: f64,
        contradicted_rate: f64,
        warning: bool,
    }
    let many = |n: usize, v: Verdict| vec![Some(v); n];
    let cat = |parts: Vec<Vec<Option<Verdict>>>| parts.concat();
    let rows = vec![
        Row {
            name: "no claims",
            verdicts: vec![],
            abstained: vec![],
            counts: [0, 0, 0, 0, 0, 0],
            unsupported_rate: 0.0,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "all supported",
            verdicts: many(3, Supported),
            abstained: vec![],
            counts: [3, 3, 0, 0, 0, 0],
            unsupported_rate: 0.0,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "unsupported exactly 20% does not warn",
            verdicts: cat(vec![many(1, Unsupported), many(4, Supported)]),
            abstained: vec![],
            counts: [5, 4, 0, 1, 0, 0],
            unsupported_rate: 0.2,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "unsupported above 20% warns",
            verdicts: cat(vec![many(1, Unsupported), many(3, Partial)]),
            abstained: vec![],
            counts: [4, 0, 3, 1, 0, 0],
            unsupported_rate: 0.25,
            contradicted_rate: 0.0,
            warning: true,
        },
        Row {
            name: "contradicted exactly 5% does not warn",
            verdicts: cat(vec![many(1, Contradicted), many(19, Supported)]),
            abstained: vec![],
            counts: [20, 19, 0, 0, 1, 0],
            unsupported_rate: 0.0,
            contradicted_rate: 0.05,
            warning: false,
        },
        Row {
            name: "contradicted above 5% warns",
            verdicts: cat(vec![many(1, Contradicted), many(18, Supported)]),
            abstained: vec![],
            counts: [19, 18, 0, 0, 1, 0],
            unsupported_rate: 0.0,
            contradicted_rate: 1.0 / 19.0,
            warning: true,
        },
        Row {
            name: "abstained claims leave the denominator",
            verdicts: cat(vec![many(1, Unsupported), many(4, Supported), vec![None]]),
            abstained: vec![5],
            counts: [6, 4, 0, 1, 0, 1],
            unsupported_rate: 0.2,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "abstaining can tip a report into a warning",
            verdicts: cat(vec![
                many(1, Unsupported),
                many(3, Supported),
                vec![None, None],
            ]),
            abstained: vec![4, 5],
            counts: [6, 3, 0, 1, 0, 2],
            unsupported_rate: 0.25,
            contradicted_rate: 0.0,
            warning: true,
        },
        Row {
            name: "unverified claims count in total and denominator",
            verdicts: cat(vec![many(1, Unsupported), vec![None; 4]]),
            abstained: vec![],
            counts: [5, 0, 0, 1, 0, 0],
            unsupported_rate: 0.2,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "all abstained: no rates, no warning",
            verdicts: vec![None, None],
            abstained: vec![0, 1],
            counts: [2, 0, 0, 0, 0, 2],
            unsupported_rate: 0.0,
            contradicted_rate: 0.0,
            warning: false,
        },
        Row {
            name: "an abstained claim keeps its verdict count",
            verdicts: vec![Some(Contradicted), Some(Supported)],
            abstained: vec![0],
            counts: [2, 1, 0, 0, 1, 1],
            unsupported_rate: 0.0,
            contradicted_rate: 1.0,
            warning: true,
        },
    ];

    for row in rows {
        let claims: Vec<Claim> = row
            .verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let position = i32::try_from(i).expect("small") * 10;
                let mut c = Claim::new(claim_id(i), "c", position, position + 5);
                c.verification_verdict = *v;
                c.abstained = row.abstained.contains(&i);
                c
            })
            .collect();
        let s = VerificationSummary::from_claims(&claims);
        let counts = [
            s.total_claims,
            s.supported_count,
            s.partial_count,
            s.unsupported_count,
            s.contradicted_count,
            s.abstained_count,
        ];
        assert_eq!(counts, row.counts, "{}: counts", row.name);
        assert!(
            (s.unsupported_rate - row.unsupported_rate).abs() < 1e-12,
            "{}: unsupported rate {}",
            row.name,
            s.unsupported_rate
        );
        assert!(
            (s.contradicted_rate - row.contradicted_rate).abs() < 1e-12,
            "{}: contradicted rate {}",
            row.name,
            s.contradicted_rate
        );
        assert_eq!(s.warning, row.warning, "{}: warning", row.name);
        assert_valid("VerificationSummary", &to_json(&s));
    }
}

#[test]
fn empty_provenance_summary_is_the_empty_summary() {
    let p = Provenance::new(Uuid::nil(), Vec::new());
    assert_eq!(p.summary(), VerificationSummary::empty());
}

// ---------------------------------------------------------------------------------------
// Markdown "Verification Report"

#[test]
fn verification_report_markdown() {
    let md = representative().verification_report(at(2025, 11, 25, 10, 30, 0));
    insta::assert_snapshot!("verification_report", md);
}

#[test]
fn verification_report_without_claims_says_so_and_has_no_table() {
    let p = Provenance::new(Uuid::nil(), Vec::new());
    let md = p.verification_report(at(2025, 11, 25, 10, 30, 0));
    assert_eq!(
        md,
        "# Verification Report\n\n*Generated on 2025-11-25 10:30:00 UTC*\n\n\
         *No claims found for this message.*\n"
    );
}

#[test]
fn verification_report_has_no_warning_line_for_a_clean_report() {
    let mut c = Claim::new(claim_id(0), "Water is wet.", 0, 13);
    c.verification_verdict = Some(Verdict::Supported);
    let md = Provenance::new(Uuid::nil(), vec![c]).verification_report(at(2025, 1, 1, 0, 0, 0));
    assert!(!md.contains("**Warning**"), "{md}");
    assert!(md.contains("| Supported | 1 (100%) |"), "{md}");
}

// ---------------------------------------------------------------------------------------
// The world

/// One message with every verdict, an abstained and unverified claim, a numeric claim with
/// QA checks, corrections, a secondary citation, a source without a title, a span without
/// source metadata and a quote long enough to be cut.
fn representative() -> Provenance {
    let arxiv = SourceMetadata {
        id: SourceId(Uuid::from_u128(0x5001)),
        title: Some("Scaling Laws for Neural Language Models".into()),
        url: Some("https://arxiv.org/abs/2001.08361".into()),
        author: Some("Kaplan et al.".into()),
        published_date: Some("2020-01-23".into()),
        content_type: Some("text/html".into()),
        total_pages: None,
    };
    let report = SourceMetadata::web(
        SourceId(Uuid::from_u128(0x5002)),
        Some("Annual Report 2024".into()),
        "https://example.com/annual-report-2024.pdf",
    );
    let untitled = SourceMetadata::web(
        SourceId(Uuid::from_u128(0x5003)),
        None,
        "https://blog.example.org/post",
    );

    let span = |n: u128, source: &SourceMetadata, quote: &str| EvidenceSpan {
        id: EvidenceSpanId(Uuid::from_u128(0xe000 + n)),
        source_id: source.id,
        quote_text: quote.into(),
        start_offset: Some(100),
        end_offset: Some(100 + i32::try_from(quote.len()).expect("short quote")),
        section_heading: Some("Results".into()),
        relevance_score: Some(0.875),
        has_numeric_content: false,
        source: Some(source.clone()),
    };
    let cite = |span: EvidenceSpan, is_primary: bool| Citation {
        evidence_span: span,
        confidence_score: Some(0.9),
        is_primary,
    };

    let mut supported = Claim::new(
        claim_id(1),
        "Model loss follows a power law in parameter count.",
        0,
        51,
    );
    supported.confidence_level = Some(ConfidenceLevel::High);
    supported.verification_verdict = Some(Verdict::Supported);
    supported.verification_reasoning = Some("The quote states the power law directly.".into());
    supported.citation_key = Some("Arxiv".into());
    supported.citation_keys = Some(vec!["Arxiv".into()]);
    supported.citations = vec![
        cite(
            span(1, &arxiv, "The loss scales as a power-law with model size."),
            true,
        ),
        cite(
            span(2, &untitled, "Power laws show up again and again."),
            false,
        ),
    ];
    supported.corrections = vec![CitationCorrection {
        id: CorrectionId(Uuid::from_u128(0xc001)),
        correction_type: CorrectionType::Keep,
        original_evidence: None,
        corrected_evidence: None,
        reasoning: None,
    }];

    let mut numeric = Claim::new(claim_id(2), "Revenue grew to $3.2 billion in 2024.", 52, 88);
    numeric.claim_type = ClaimType::Numeric;
    numeric.confidence_level = Some(ConfidenceLevel::Medium);
    numeric.verification_verdict = Some(Verdict::Partial);
    numeric.verification_reasoning = Some("The figure is for fiscal, not calendar, 2024.".into());
    let mut revenue = span(3, &report, "Revenue for fiscal 2024 was $3.2 billion.");
    revenue.has_numeric_content = true;
    let stale = span(4, &report, "Revenue for fiscal 2023 was $2.9 billion.");
    numeric.citations = vec![cite(revenue.clone(), true)];
    numeric.corrections = vec![CitationCorrection {
        id: CorrectionId(Uuid::from_u128(0xc002)),
        correction_type: CorrectionType::Replace,
        original_evidence: Some(stale),
        corrected_evidence: Some(revenue),
        reasoning: Some("The original span quoted the previous year.".into()),
    }];
    numeric.numeric_detail = Some(NumericClaimDetail {
        raw_value: "$3.2 billion".into(),
        normalized_value: Some(3.2e9),
        unit: Some("USD".into()),
        entity_reference: Some("Example Corp revenue".into()),
        derivation_type: DerivationType::Direct,
        computation_details: None,
        assumptions: Some(
            json!({ "fiscal_year": "ends June 30" })
                .as_object()
                .cloned()
                .expect("object"),
        ),
        qa_verification: Some(vec![QaVerificationResult {
            question: "What was the revenue in 2024?".into(),
            claim_answer: "$3.2 billion".into(),
            evidence_answer: "$3.2 billion".into(),
            matches: true,
            normalized_comparison: Some(
                [("claim".to_owned(), 3.2e9), ("evidence".to_owned(), 3.2e9)].into(),
            ),
        }]),
    });

    let mut unsupported = Claim::new(
        claim_id(3),
        "Every large model is trained on the same data.",
        89,
        135,
    );
    unsupported.confidence_level = Some(ConfidenceLevel::Low);
    unsupported.verification_verdict = Some(Verdict::Unsupported);
    unsupported.verification_reasoning = Some("Nothing in the evidence says so.".into());
    let long = "Training corpora differ widely between labs. ".repeat(6);
    unsupported.citations = vec![cite(span(5, &untitled, long.trim_end()), true)];

    let mut contradicted = Claim::new(
        claim_id(4),
        "Scaling stops helping at 1B parameters.",
        136,
        175,
    );
    contradicted.verification_verdict = Some(Verdict::Contradicted);
    contradicted.verification_reasoning = Some("The source shows gains well past 1B.".into());
    let mut orphan = span(6, &arxiv, "Gains continue past 1B parameters.");
    orphan.source = None;
    contradicted.citations = vec![
        cite(orphan, true),
        cite(
            span(7, &arxiv, "Performance improves smoothly to 100B."),
            false,
        ),
    ];

    let mut abstained = Claim::new(
        claim_id(5),
        "This trend will continue for a decade.",
        176,
        214,
    );
    abstained.abstained = true;
    abstained.verification_reasoning = Some("A forecast; nothing to verify against.".into());

    Provenance::new(
        Uuid::from_u128(0x00000000_0000_4000_8000_00000000abcd),
        vec![supported, numeric, unsupported, contradicted, abstained],
    )
}

fn claim_id(n: usize) -> ClaimId {
    ClaimId(Uuid::from_u128(0xa000 + n as u128))
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid time")
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serialises")
}

fn openapi() -> Value {
    serde_json::from_str(OPENAPI).expect("fixture is JSON")
}

/// A validator for one component schema, its `$ref`s resolved against the whole document.
fn validator(component: &str) -> jsonschema::Validator {
    let doc = openapi();
    assert!(
        doc["components"]["schemas"].get(component).is_some(),
        "no component schema {component}"
    );
    let schema = json!({
        "$ref": format!("#/components/schemas/{component}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&schema).expect("component schema compiles")
}

fn assert_valid(component: &str, instance: &Value) {
    let validator = validator(component);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("at {}: {e}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{component}: {errors:#?}");
}

fn assert_invalid(component: &str, instance: &Value) {
    assert!(
        !validator(component).is_valid(instance),
        "{component} accepted {instance:#}"
    );
}

/// Walk `instance` alongside the component schema and assert that every object carries
/// exactly the schema's property names: nothing missing (the original sends `null`s) and
/// nothing extra. Records each component visited in `seen`.
fn assert_same_fields(component: &str, instance: &Value, seen: &mut BTreeSet<String>) {
    let doc = openapi();
    let schema = &doc["components"]["schemas"][component];
    seen.insert(component.to_owned());
    let props = schema["properties"]
        .as_object()
        .expect("component has properties");
    let object = instance
        .as_object()
        .unwrap_or_else(|| panic!("{component}: not an object: {instance}"));
    let want: BTreeSet<&String> = props.keys().collect();
    let got: BTreeSet<&String> = object.keys().collect();
    assert_eq!(got, want, "{component}: field names");

    for (name, prop) in props {
        let value = &object[name];
        for target in refs_of(prop) {
            match value {
                Value::Object(_) => assert_same_fields(&target, value, seen),
                Value::Array(items) => {
                    for item in items {
                        assert_same_fields(&target, item, seen);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The component names an object- or array-valued property refers to, skipping enums.
fn refs_of(prop: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![prop];
    while let Some(node) = stack.pop() {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/components/schemas/");
            if !name.ends_with("Enum") {
                out.push(name.to_owned());
            }
        }
        for key in ["anyOf", "items"] {
            match node.get(key) {
                Some(Value::Array(alts)) => stack.extend(alts),
                Some(other) => stack.push(other),
                None => {}
            }
        }
    }
    out
}
