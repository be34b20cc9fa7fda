//! `claims`, `evidence_spans`, `citations`, `numeric_claims` and `citation_corrections`:
//! a verified report's provenance, as the original's claim-level tables hold it.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::{MessageId, SessionId};
use crate::citations::provenance::{Claim, EvidenceSpan};
use crate::db::schema::{citation_corrections, citations, claims, evidence_spans, numeric_claims};

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
