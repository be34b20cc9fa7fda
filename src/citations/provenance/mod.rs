//! Provenance of a report: its claims, the evidence each cites, the verdicts, and the
//! summary, in the exact shapes of the original's citation API and its markdown
//! "Verification Report".
//!
//! [`Provenance`] is built in memory from a run's result (or from the claim tables) and
//! renders every view: [`Provenance::message_claims`] for `GET /messages/{id}/claims`,
//! [`Provenance::claim_evidence`] for `GET /claims/{id}/evidence`, [`Provenance::summary`]
//! for `GET /messages/{id}/verification-summary`, [`Provenance::export`] and
//! [`Provenance::verification_report`] for `GET /messages/{id}/provenance` as JSON or
//! markdown. Nothing here does I/O or reads the clock: timestamps are passed in.

mod report;
mod types;

pub use types::{
    Citation, CitationCorrection, Claim, ClaimEvidence, ClaimId, ClaimProvenanceExport, ClaimType,
    ConfidenceLevel, CorrectionId, CorrectionMetrics, CorrectionType, DerivationType, EvidenceSpan,
    EvidenceSpanId, ExportCitation, ExportCorrection, MessageClaims, NumericClaimDetail,
    ProvenanceExport, QaVerificationResult, SourceId, SourceMetadata, Verdict, VerificationSummary,
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Above this share of unsupported claims a report carries a warning (the original's
/// `unsupported_claim_warning_threshold` default).
pub const UNSUPPORTED_WARNING_RATE: f64 = 0.20;

/// Above this share of contradicted claims a report carries a warning.
pub const CONTRADICTED_WARNING_RATE: f64 = 0.05;

/// A lookup into a message's provenance failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProvenanceError {
    #[error("claim {claim_id} not found in message {message_id}")]
    ClaimNotFound { claim_id: ClaimId, message_id: Uuid },
}

/// Whether `GET /messages/{id}/claims` carries correction metrics (its
/// `include_corrections` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrections {
    Include,
    Omit,
}

/// Every claim of one agent message with its evidence and verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub message_id: Uuid,
    /// In report order; every view lists them in this order.
    pub claims: Vec<Claim>,
}

impl Provenance {
    /// The provenance of `message_id`; claims are kept in the order given.
    pub fn new(message_id: Uuid, claims: Vec<Claim>) -> Provenance {
        Provenance { message_id, claims }
    }

    /// Verdict counts, rates and the warning flag over all claims.
    pub fn summary(&self) -> VerificationSummary {
        VerificationSummary::from_claims(&self.claims)
    }

    /// The body of `GET /messages/{id}/claims`.
    pub fn message_claims(&self, corrections: Corrections) -> MessageClaims {
        MessageClaims {
            message_id: self.message_id,
            claims: self.claims.clone(),
            verification_summary: self.summary(),
            correction_metrics: match corrections {
                Corrections::Include => Some(CorrectionMetrics::from_claims(&self.claims)),
                Corrections::Omit => None,
            },
        }
    }

    /// One claim, for `GET /claims/{id}`.
    pub fn claim(&self, claim_id: ClaimId) -> Result<&Claim, ProvenanceError> {
        self.claims
            .iter()
            .find(|c| c.id == claim_id)
            .ok_or(ProvenanceError::ClaimNotFound {
                claim_id,
                message_id: self.message_id,
            })
    }

    /// The body of `GET /claims/{id}/evidence`.
    pub fn claim_evidence(&self, claim_id: ClaimId) -> Result<ClaimEvidence, ProvenanceError> {
        let claim = self.claim(claim_id)?;
        Ok(ClaimEvidence {
            claim_id: claim.id,
            claim_text: claim.claim_text.clone(),
            verification_verdict: claim.verification_verdict,
            citations: claim.citations.clone(),
        })
    }

    /// The JSON body of `GET /messages/{id}/provenance`, stamped `exported_at`.
    pub fn export(&self, exported_at: DateTime<Utc>) -> ProvenanceExport {
        ProvenanceExport {
            exported_at,
            message_id: self.message_id,
            claims: self.claims.iter().map(export_claim).collect(),
            summary: self.summary(),
        }
    }

    /// The markdown "Verification Report" of `GET /messages/{id}/provenance?format=markdown`,
    /// stamped `generated_at`.
    pub fn verification_report(&self, generated_at: DateTime<Utc>) -> String {
        report::render(self, generated_at)
    }
}

impl VerificationSummary {
    /// The summary of a message without claims: all zeros, no warning.
    pub fn empty() -> VerificationSummary {
        VerificationSummary {
            total_claims: 0,
            supported_count: 0,
            partial_count: 0,
            unsupported_count: 0,
            contradicted_count: 0,
            abstained_count: 0,
            unsupported_rate: 0.0,
            contradicted_rate: 0.0,
            warning: false,
        }
    }

    /// Count verdicts and compute the rates as the original's
    /// `ResearchState.update_verification_summary` does.
    ///
    /// Rates are over the claims the verifier did not abstain on; verdicts are counted on
    /// every claim, abstained or not, as the original counts them. `warning` is set when
    /// more than 20% of those claims are unsupported or more than 5% contradicted.
    pub fn from_claims(claims: &[Claim]) -> VerificationSummary {
        let with =
            |v: Verdict| count_u32(claims.iter().filter(|c| c.verification_verdict == Some(v)));

        let total_claims = count_u32(claims.iter());
        let abstained_count = count_u32(claims.iter().filter(|c| c.abstained));
        let unsupported_count = with(Verdict::Unsupported);
        let contradicted_count = with(Verdict::Contradicted);
        let verified = total_claims.saturating_sub(abstained_count);
        let rate = |n: u32| {
            if verified == 0 {
                0.0
            } else {
                f64::from(n) / f64::from(verified)
            }
        };
        let unsupported_rate = rate(unsupported_count);
        let contradicted_rate = rate(contradicted_count);

        VerificationSummary {
            total_claims,
            supported_count: with(Verdict::Supported),
            partial_count: with(Verdict::Partial),
            unsupported_count,
            contradicted_count,
            abstained_count,
            // Abstained claims can still carry a verdict, so a count can exceed `verified`;
            // the schema caps rates at 1.0 and the original would fail validation instead.
            unsupported_rate: unsupported_rate.min(1.0),
            contradicted_rate: contradicted_rate.min(1.0),
            warning: unsupported_rate > UNSUPPORTED_WARNING_RATE
                || contradicted_rate > CONTRADICTED_WARNING_RATE,
        }
    }
}

impl CorrectionMetrics {
    /// Correction counts by type over all claims; the rate is corrections (of any type,
    /// `keep` included, as the original counts) per claim.
    pub fn from_claims(claims: &[Claim]) -> CorrectionMetrics {
        let all = || claims.iter().flat_map(|c| &c.corrections);
        let of = |t: CorrectionType| count_u32(all().filter(|k| k.correction_type == t));
        let total_corrections = count_u32(all());
        // The original divides by `len(claims) or 1`.
        let per = count_u32(claims.iter()).max(1);
        CorrectionMetrics {
            total_corrections,
            keep_count: of(CorrectionType::Keep),
            replace_count: of(CorrectionType::Replace),
            remove_count: of(CorrectionType::Remove),
            add_alternate_count: of(CorrectionType::AddAlternate),
            // Several corrections on one claim would push the rate past the schema's 1.0,
            // where the original fails validation; cap it instead.
            correction_rate: (f64::from(total_corrections) / f64::from(per)).min(1.0),
        }
    }
}

fn export_claim(claim: &Claim) -> ClaimProvenanceExport {
    ClaimProvenanceExport {
        claim_text: claim.claim_text.clone(),
        claim_type: claim.claim_type,
        verdict: claim.verification_verdict,
        confidence_level: claim.confidence_level,
        citations: claim
            .citations
            .iter()
            .map(|c| {
                let source = c.evidence_span.source.as_ref();
                ExportCitation {
                    source_url: source.and_then(|s| s.url.clone()),
                    source_title: source.and_then(|s| s.title.clone()),
                    quote: c.evidence_span.quote_text.clone(),
                    is_primary: c.is_primary,
                }
            })
            .collect(),
        numeric_detail: claim.numeric_detail.clone(),
        corrections: claim
            .corrections
            .iter()
            .map(|k| ExportCorrection {
                correction_type: k.correction_type,
                reasoning: k.reasoning.clone(),
            })
            .collect(),
    }
}

fn count_u32<I: Iterator>(items: I) -> u32 {
    // A report has hundreds of claims at most; saturate rather than wrap if it ever hasn't.
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}
