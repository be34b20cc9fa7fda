//! The claim-level wire types, field for field the original's `schemas/citation.py`.
//!
//! The original's `BaseSchema` serialises with camelCase aliases and keeps `None` fields as
//! `null`, in declaration order; the structs here declare their fields in that order so the
//! JSON matches byte for byte. Enum values are the original's lowercase strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A claim's id. The original derives it from the message and the claim's position, so
/// callers pass it in rather than this module minting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClaimId(pub Uuid);

/// An evidence span's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EvidenceSpanId(pub Uuid);

/// A source's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceId(pub Uuid);

/// A citation correction's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrectionId(pub Uuid);

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a claim is a plain statement or carries a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimType {
    General,
    Numeric,
}

/// HaluGate-style confidence of the claim's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    High,
    Medium,
    Low,
}

impl ConfidenceLevel {
    /// The wire name: `high`, `medium`, `low`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceLevel::High => "high",
            ConfidenceLevel::Medium => "medium",
            ConfidenceLevel::Low => "low",
        }
    }
}

/// The four-tier verdict of verifying a claim against its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    Partial,
    Unsupported,
    Contradicted,
}

impl Verdict {
    /// The wire spelling, `supported` … `contradicted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Partial => "partial",
            Verdict::Unsupported => "unsupported",
            Verdict::Contradicted => "contradicted",
        }
    }
}

/// What post-verification did to a claim's citation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionType {
    Keep,
    Replace,
    Remove,
    AddAlternate,
}

impl CorrectionType {
    /// The wire name: `keep`, `replace`, `remove`, `add_alternate`.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionType::Keep => "keep",
            CorrectionType::Replace => "replace",
            CorrectionType::Remove => "remove",
            CorrectionType::AddAlternate => "add_alternate",
        }
    }
}

/// How a numeric claim's value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivationType {
    Direct,
    Computed,
}

/// Source metadata denormalised onto an evidence span for evidence cards
/// (`SourceMetadataResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMetadata {
    pub id: SourceId,
    pub title: Option<String>,
    pub url: Option<String>,
    pub author: Option<String>,
    pub published_date: Option<String>,
    pub content_type: Option<String>,
    pub total_pages: Option<i32>,
}

impl SourceMetadata {
    /// Metadata with only an id, title and URL: what a fetched web page gives.
    pub fn web(id: SourceId, title: Option<String>, url: impl Into<String>) -> SourceMetadata {
        SourceMetadata {
            id,
            title,
            url: Some(url.into()),
            author: None,
            published_date: None,
            content_type: None,
            total_pages: None,
        }
    }
}

/// A minimal supporting quote from a source (`EvidenceSpanResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSpan {
    pub id: EvidenceSpanId,
    pub source_id: SourceId,
    pub quote_text: String,
    /// Character offsets of the quote inside the source's text, when located.
    pub start_offset: Option<i32>,
    pub end_offset: Option<i32>,
    pub section_heading: Option<String>,
    pub relevance_score: Option<f64>,
    pub has_numeric_content: bool,
    pub source: Option<SourceMetadata>,
}

/// The link between a claim and one evidence span (`CitationResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Citation {
    pub evidence_span: EvidenceSpan,
    pub confidence_score: Option<f64>,
    pub is_primary: bool,
}

/// A post-verification fix to a claim's citation (`CitationCorrectionResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CitationCorrection {
    pub id: CorrectionId,
    pub correction_type: CorrectionType,
    pub original_evidence: Option<EvidenceSpan>,
    pub corrected_evidence: Option<EvidenceSpan>,
    pub reasoning: Option<String>,
}

/// One question-answer check of a numeric claim against its evidence
/// (`QAVerificationResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QaVerificationResult {
    pub question: String,
    pub claim_answer: String,
    pub evidence_answer: String,
    #[serde(rename = "match")]
    pub matches: bool,
    pub normalized_comparison: Option<BTreeMap<String, f64>>,
}

/// What a numeric claim says and how its number was reached (`NumericClaimDetail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumericClaimDetail {
    /// The number as the report writes it, e.g. `$3.2 billion`.
    pub raw_value: String,
    pub normalized_value: Option<f64>,
    pub unit: Option<String>,
    pub entity_reference: Option<String>,
    pub derivation_type: DerivationType,
    pub computation_details: Option<serde_json::Map<String, serde_json::Value>>,
    pub assumptions: Option<serde_json::Map<String, serde_json::Value>>,
    pub qa_verification: Option<Vec<QaVerificationResult>>,
}

/// A claim of a report with its verification and evidence (`ClaimResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub id: ClaimId,
    pub claim_text: String,
    pub claim_type: ClaimType,
    pub confidence_level: Option<ConfidenceLevel>,
    /// Character range of the claim inside the report.
    pub position_start: i32,
    pub position_end: i32,
    /// `None` until verification has run.
    pub verification_verdict: Option<Verdict>,
    pub verification_reasoning: Option<String>,
    /// The verifier declined to judge; such claims do not count toward the rates.
    pub abstained: bool,
    pub citations: Vec<Citation>,
    pub corrections: Vec<CitationCorrection>,
    pub numeric_detail: Option<NumericClaimDetail>,
    /// First human-readable citation marker of the claim, e.g. `Arxiv` for `[Arxiv]`.
    pub citation_key: Option<String>,
    /// Every marker of a multi-citation sentence.
    pub citation_keys: Option<Vec<String>>,
}

impl Claim {
    /// A general, not yet verified claim at `position_start..position_end` of the report.
    pub fn new(
        id: ClaimId,
        claim_text: impl Into<String>,
        position_start: i32,
        position_end: i32,
    ) -> Claim {
        Claim {
            id,
            claim_text: claim_text.into(),
            claim_type: ClaimType::General,
            confidence_level: None,
            position_start,
            position_end,
            verification_verdict: None,
            verification_reasoning: None,
            abstained: false,
            citations: Vec::new(),
            corrections: Vec::new(),
            numeric_detail: None,
            citation_key: None,
            citation_keys: None,
        }
    }
}

/// Verdict counts and rates of a message's claims (`VerificationSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSummary {
    pub total_claims: u32,
    pub supported_count: u32,
    pub partial_count: u32,
    pub unsupported_count: u32,
    pub contradicted_count: u32,
    pub abstained_count: u32,
    /// Unsupported claims over claims that were not abstained on, 0.0-1.0.
    pub unsupported_rate: f64,
    /// Contradicted claims over claims that were not abstained on, 0.0-1.0.
    pub contradicted_rate: f64,
    /// The report needs a reader's caution: see [`VerificationSummary::from_claims`].
    pub warning: bool,
}

/// Citation correction counts of a message (`CorrectionMetrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrectionMetrics {
    pub total_corrections: u32,
    pub keep_count: u32,
    pub replace_count: u32,
    pub remove_count: u32,
    pub add_alternate_count: u32,
    pub correction_rate: f64,
}

/// The body of `GET /api/v1/messages/{id}/claims` (`MessageClaimsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageClaims {
    pub message_id: Uuid,
    pub claims: Vec<Claim>,
    pub verification_summary: VerificationSummary,
    pub correction_metrics: Option<CorrectionMetrics>,
}

/// The body of `GET /api/v1/claims/{id}/evidence` (`ClaimEvidenceResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimEvidence {
    pub claim_id: ClaimId,
    pub claim_text: String,
    pub verification_verdict: Option<Verdict>,
    pub citations: Vec<Citation>,
}

/// The JSON body of `GET /api/v1/messages/{id}/provenance` (`ProvenanceExport`).
///
/// The original declares no response schema for this route; this is its model's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceExport {
    /// Serialised as Python's pydantic does: `2025-11-25T10:00:00Z`, microseconds only
    /// when non-zero.
    #[serde(with = "pydantic_utc")]
    pub exported_at: chrono::DateTime<chrono::Utc>,
    pub message_id: Uuid,
    pub claims: Vec<ClaimProvenanceExport>,
    pub summary: VerificationSummary,
}

/// One claim of a provenance export (`ClaimProvenanceExport`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimProvenanceExport {
    pub claim_text: String,
    pub claim_type: ClaimType,
    pub verdict: Option<Verdict>,
    pub confidence_level: Option<ConfidenceLevel>,
    pub citations: Vec<ExportCitation>,
    pub numeric_detail: Option<NumericClaimDetail>,
    pub corrections: Vec<ExportCorrection>,
}

/// A citation in a provenance export.
///
/// snake_case, unlike its neighbours: the original builds these as plain dicts, which the
/// camelCase alias generator never touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCitation {
    pub source_url: Option<String>,
    pub source_title: Option<String>,
    pub quote: String,
    pub is_primary: bool,
}

/// A correction in a provenance export; snake_case for the same reason as
/// [`ExportCitation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCorrection {
    pub correction_type: CorrectionType,
    pub reasoning: Option<String>,
}

mod pydantic_utc {
    use chrono::{DateTime, SecondsFormat, Timelike, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        // Python datetimes hold microseconds, and pydantic drops the fraction when it is zero.
        // chrono writes a leap second as nanoseconds past 1e9; Python has none, so fold it.
        let micros = (at.nanosecond() % 1_000_000_000) / 1_000;
        let text = if micros == 0 {
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        } else {
            format!("{}.{micros:06}Z", at.format("%Y-%m-%dT%H:%M:%S"))
        };
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
