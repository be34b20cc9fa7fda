//! `claims`, `evidence_spans`, `citations`, `numeric_claims` and `citation_corrections`:
//! a verified report's provenance, as the original's claim-level tables hold it.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{MessageId, SessionId};
use crate::citations::provenance::{
    Citation, CitationCorrection, Claim, ClaimId, ClaimType, CorrectionId, CorrectionType,
    DerivationType, EvidenceSpan, EvidenceSpanId, NumericClaimDetail, SourceId, SourceMetadata,
};
use crate::db::schema::{
    citation_corrections, citations, claims, evidence_spans, numeric_claims, sources,
};

#[derive(Insertable)]
#[diesel(table_name = claims)]
struct ClaimRow<'a> {
    id: Uuid,
    research_session_id: Uuid,
    message_id: Uuid,
    claim_text: &'a str,
    claim_type: String,
    confidence_level: Option<String>,
    position_start: i32,
    position_end: i32,
    verification_verdict: Option<String>,
    verification_reasoning: Option<&'a str>,
    abstained: bool,
    citation_key: Option<&'a str>,
    citation_keys: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = evidence_spans)]
struct SpanRow<'a> {
    id: Uuid,
    source_id: Uuid,
    quote_text: &'a str,
    start_offset: Option<i32>,
    end_offset: Option<i32>,
    section_heading: Option<&'a str>,
    relevance_score: Option<f64>,
    has_numeric_content: bool,
}

#[derive(Insertable)]
#[diesel(table_name = citations)]
struct CitationRow {
    claim_id: Uuid,
    evidence_span_id: Uuid,
    confidence_score: Option<f64>,
    is_primary: bool,
}

#[derive(Insertable)]
#[diesel(table_name = numeric_claims)]
struct NumericRow<'a> {
    claim_id: Uuid,
    raw_value: &'a str,
    normalized_value: Option<f64>,
    unit: Option<&'a str>,
    entity_reference: Option<&'a str>,
    derivation_type: String,
    computation_details: Option<serde_json::Value>,
    assumptions: Option<serde_json::Value>,
    qa_verification: Option<serde_json::Value>,
}

#[derive(Insertable)]
#[diesel(table_name = citation_corrections)]
struct CorrectionRow<'a> {
    id: Uuid,
    claim_id: Uuid,
    original_evidence_span_id: Option<Uuid>,
    corrected_evidence_span_id: Option<Uuid>,
    correction_type: String,
    reasoning: Option<&'a str>,
}

/// Store `claims` of the report `message` of `session`. Evidence spans are stored under
/// the session's source rows, found by URL in `source_ids`; a span whose source has no
/// row (which a verified report does not produce) is left out with its citation. Returns
/// the number of claims stored.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    message: MessageId,
    all: &[Claim],
    source_ids: &HashMap<String, Uuid>,
) -> QueryResult<usize> {
    if all.is_empty() {
        return Ok(0);
    }
    let claim_rows: Vec<ClaimRow<'_>> = all
        .iter()
        .map(|c| ClaimRow {
            id: c.id.0,
            research_session_id: session.0,
            message_id: message.0,
            claim_text: &c.claim_text,
            claim_type: spelled(&c.claim_type),
            confidence_level: c.confidence_level.as_ref().map(spelled),
            position_start: c.position_start,
            position_end: c.position_end,
            verification_verdict: c.verification_verdict.as_ref().map(spelled),
            verification_reasoning: c.verification_reasoning.as_deref(),
            abstained: c.abstained,
            citation_key: c.citation_key.as_deref(),
            citation_keys: serde_json::json!(c.citation_keys.clone().unwrap_or_default()),
        })
        .collect();
    diesel::insert_into(claims::table)
        .values(&claim_rows)
        .execute(conn)
        .await?;

    // A span can back several claims and a correction; it is stored once.
    let mut spans: HashMap<Uuid, SpanRow<'_>> = HashMap::new();
    let mut citation_rows = Vec::new();
    let mut correction_rows = Vec::new();
    for c in all {
        for citation in &c.citations {
            if let Some(span_id) = keep_span(&mut spans, &citation.evidence_span, source_ids) {
                citation_rows.push(CitationRow {
                    claim_id: c.id.0,
                    evidence_span_id: span_id,
                    confidence_score: citation.confidence_score,
                    is_primary: citation.is_primary,
                });
            }
        }
        for fix in &c.corrections {
            let original = fix
                .original_evidence
                .as_ref()
                .and_then(|s| keep_span(&mut spans, s, source_ids));
            let corrected = fix
                .corrected_evidence
                .as_ref()
                .and_then(|s| keep_span(&mut spans, s, source_ids));
            correction_rows.push(CorrectionRow {
                id: fix.id.0,
                claim_id: c.id.0,
                original_evidence_span_id: original,
                corrected_evidence_span_id: corrected,
                correction_type: spelled(&fix.correction_type),
                reasoning: fix.reasoning.as_deref(),
            });
        }
    }
    let span_rows: Vec<SpanRow<'_>> = spans.into_values().collect();
    if !span_rows.is_empty() {
        diesel::insert_into(evidence_spans::table)
            .values(&span_rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    if !citation_rows.is_empty() {
        diesel::insert_into(citations::table)
            .values(&citation_rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    if !correction_rows.is_empty() {
        diesel::insert_into(citation_corrections::table)
            .values(&correction_rows)
            .execute(conn)
            .await?;
    }
    let numeric_rows: Vec<NumericRow<'_>> = all
        .iter()
        .filter_map(|c| {
            let n = c.numeric_detail.as_ref()?;
            Some(NumericRow {
                claim_id: c.id.0,
                raw_value: &n.raw_value,
                normalized_value: n.normalized_value,
                unit: n.unit.as_deref(),
                entity_reference: n.entity_reference.as_deref(),
                derivation_type: spelled(&n.derivation_type),
                computation_details: n.computation_details.clone().map(serde_json::Value::Object),
                assumptions: n.assumptions.clone().map(serde_json::Value::Object),
                qa_verification: n
                    .qa_verification
                    .as_ref()
                    .and_then(|q| serde_json::to_value(q).ok()),
            })
        })
        .collect();
    if !numeric_rows.is_empty() {
        diesel::insert_into(numeric_claims::table)
            .values(&numeric_rows)
            .execute(conn)
            .await?;
    }
    Ok(all.len())
}

/// Queue `span` for storing under its source's row; its id, or `None` when its source
/// has no row.
fn keep_span<'a>(
    spans: &mut HashMap<Uuid, SpanRow<'a>>,
    span: &'a EvidenceSpan,
    source_ids: &HashMap<String, Uuid>,
) -> Option<Uuid> {
    let url = span.source.as_ref()?.url.as_ref()?;
    let source_id = *source_ids.get(url)?;
    spans.entry(span.id.0).or_insert_with(|| SpanRow {
        id: span.id.0,
        source_id,
        quote_text: &span.quote_text,
        start_offset: span.start_offset,
        end_offset: span.end_offset,
        section_heading: span.section_heading.as_deref(),
        relevance_score: span.relevance_score,
        has_numeric_content: span.has_numeric_content,
    });
    Some(span.id.0)
}

/// An enum as its JSON spelling (`supported`, `numeric`, …), the value its column holds.
fn spelled<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => other.map(|v| v.to_string()).unwrap_or_default(),
    }
}

/// The claims of the report `message`, in report order, with their citations (evidence
/// spans and source metadata), corrections and numeric details: what [`insert`] stored,
/// read back for the provenance views. The caller checks that `message` belongs to the
/// user asking.
pub async fn load(conn: &mut AsyncPgConnection, message: MessageId) -> QueryResult<Vec<Claim>> {
    type ClaimSel = (
        Uuid,
        String,
        String,
        Option<String>,
        i32,
        i32,
        Option<String>,
        Option<String>,
        bool,
        Option<String>,
        serde_json::Value,
    );
    let rows: Vec<ClaimSel> = claims::table
        .filter(claims::message_id.eq(message.0))
        .order((claims::position_start.asc(), claims::position_end.asc()))
        .select((
            claims::id,
            claims::claim_text,
            claims::claim_type,
            claims::confidence_level,
            claims::position_start,
            claims::position_end,
            claims::verification_verdict,
            claims::verification_reasoning,
            claims::abstained,
            claims::citation_key,
            claims::citation_keys,
        ))
        .load(conn)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();

    let citation_rows: Vec<(Uuid, Uuid, Option<f64>, bool)> = citations::table
        .filter(citations::claim_id.eq_any(&ids))
        .order((citations::is_primary.desc(), citations::created_at.asc()))
        .select((
            citations::claim_id,
            citations::evidence_span_id,
            citations::confidence_score,
            citations::is_primary,
        ))
        .load(conn)
        .await?;
    type CorrectionSel = (
        Uuid,
        Uuid,
        Option<Uuid>,
        Option<Uuid>,
        String,
        Option<String>,
    );
    let correction_rows: Vec<CorrectionSel> = citation_corrections::table
        .filter(citation_corrections::claim_id.eq_any(&ids))
        .order(citation_corrections::created_at.asc())
        .select((
            citation_corrections::id,
            citation_corrections::claim_id,
            citation_corrections::original_evidence_span_id,
            citation_corrections::corrected_evidence_span_id,
            citation_corrections::correction_type,
            citation_corrections::reasoning,
        ))
        .load(conn)
        .await?;
    let mut span_ids: Vec<Uuid> = citation_rows.iter().map(|c| c.1).collect();
    for c in &correction_rows {
        span_ids.extend(c.2);
        span_ids.extend(c.3);
    }
    span_ids.sort_unstable();
    span_ids.dedup();
    let spans = load_spans(conn, &span_ids).await?;

    type NumericSel = (
        Uuid,
        String,
        Option<f64>,
        Option<String>,
        Option<String>,
        String,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    );
    let numeric_rows: Vec<NumericSel> = numeric_claims::table
        .filter(numeric_claims::claim_id.eq_any(&ids))
        .select((
            numeric_claims::claim_id,
            numeric_claims::raw_value,
            numeric_claims::normalized_value,
            numeric_claims::unit,
            numeric_claims::entity_reference,
            numeric_claims::derivation_type,
            numeric_claims::computation_details,
            numeric_claims::assumptions,
            numeric_claims::qa_verification,
        ))
        .load(conn)
        .await?;
    let mut numeric: HashMap<Uuid, NumericClaimDetail> = numeric_rows
        .into_iter()
        .map(|n| {
            let detail = NumericClaimDetail {
                raw_value: n.1,
                normalized_value: n.2,
                unit: n.3,
                entity_reference: n.4,
                derivation_type: unspelled(&n.5).unwrap_or(DerivationType::Direct),
                computation_details: n.6.and_then(object),
                assumptions: n.7.and_then(object),
                qa_verification: n.8.and_then(|v| serde_json::from_value(v).ok()),
            };
            (n.0, detail)
        })
        .collect();

    let mut out: Vec<Claim> = rows
        .into_iter()
        .map(|r| {
            let mut claim = Claim::new(ClaimId(r.0), r.1, r.4, r.5);
            claim.claim_type = unspelled(&r.2).unwrap_or(ClaimType::General);
            claim.confidence_level = r.3.as_deref().and_then(unspelled);
            claim.verification_verdict = r.6.as_deref().and_then(unspelled);
            claim.verification_reasoning = r.7;
            claim.abstained = r.8;
            claim.citation_key = r.9;
            claim.citation_keys = serde_json::from_value::<Vec<String>>(r.10)
                .ok()
                .filter(|keys| !keys.is_empty());
            claim.numeric_detail = numeric.remove(&claim.id.0);
            claim
        })
        .collect();
    let index: HashMap<Uuid, usize> = out.iter().enumerate().map(|(i, c)| (c.id.0, i)).collect();
    for (claim_id, span_id, confidence_score, is_primary) in citation_rows {
        let (Some(i), Some(span)) = (index.get(&claim_id), spans.get(&span_id)) else {
            continue;
        };
        out[*i].citations.push(Citation {
            evidence_span: span.clone(),
            confidence_score,
            is_primary,
        });
    }
    for (id, claim_id, original, corrected, kind, reasoning) in correction_rows {
        let Some(i) = index.get(&claim_id) else {
            continue;
        };
        out[*i].corrections.push(CitationCorrection {
            id: CorrectionId(id),
            correction_type: unspelled(&kind).unwrap_or(CorrectionType::Replace),
            original_evidence: original.and_then(|s| spans.get(&s).cloned()),
            corrected_evidence: corrected.and_then(|s| spans.get(&s).cloned()),
            reasoning,
        });
    }
    Ok(out)
}

/// Evidence spans by id, each with its source's metadata.
async fn load_spans(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, EvidenceSpan>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    type SpanSel = (
        Uuid,
        Uuid,
        String,
        Option<i32>,
        Option<i32>,
        Option<String>,
        Option<f64>,
        bool,
        Option<String>,
        String,
        Option<String>,
        Option<i32>,
    );
    let rows: Vec<SpanSel> = evidence_spans::table
        .inner_join(sources::table.on(sources::id.eq(evidence_spans::source_id)))
        .filter(evidence_spans::id.eq_any(ids))
        .select((
            evidence_spans::id,
            evidence_spans::source_id,
            evidence_spans::quote_text,
            evidence_spans::start_offset,
            evidence_spans::end_offset,
            evidence_spans::section_heading,
            evidence_spans::relevance_score,
            evidence_spans::has_numeric_content,
            sources::title,
            sources::url,
            sources::content_type,
            sources::total_pages,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let source_id = SourceId(r.1);
            let span = EvidenceSpan {
                id: EvidenceSpanId(r.0),
                source_id,
                quote_text: r.2,
                start_offset: r.3,
                end_offset: r.4,
                section_heading: r.5,
                relevance_score: r.6,
                has_numeric_content: r.7,
                source: Some(SourceMetadata {
                    content_type: r.10,
                    total_pages: r.11,
                    ..SourceMetadata::web(source_id, r.8, r.9)
                }),
            };
            (r.0, span)
        })
        .collect())
}

/// A column's spelling back as its enum; `None` for a value this version does not know
/// (a row written by a newer writer), which the caller replaces with a neutral default.
fn unspelled<T: DeserializeOwned>(value: &str) -> Option<T> {
    let parsed = serde_json::from_value(serde_json::Value::String(value.to_string())).ok();
    if parsed.is_none() {
        tracing::warn!(value, "unknown value in a claim table; using a default");
    }
    parsed
}

fn object(value: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The message a claim belongs to, if the claim exists.
pub async fn message_of(
    conn: &mut AsyncPgConnection,
    claim: Uuid,
) -> QueryResult<Option<MessageId>> {
    claims::table
        .filter(claims::id.eq(claim))
        .select(claims::message_id)
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|m| m.map(MessageId))
}
