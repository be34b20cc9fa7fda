//! What verification gives: the rewritten report and, per claim, its provenance record, its
//! numbers and what became of its sentence.

use uuid::Uuid;

use crate::citations::config::UnsupportedClaims;
use crate::citations::numeric::{NumericMatch, NumericQa};
use crate::citations::provenance::{Claim, ConfidenceLevel, Verdict, VerificationSummary};
use crate::events::ResearchEvent;

/// A report after verification.
#[derive(Debug, Clone)]
pub struct VerifiedReport {
    /// The report rewritten per the settings, its References list rebuilt for the sources
    /// still cited.
    pub markdown: String,
    /// Each claim in report order; positions refer to the report as it was given.
    pub claims: Vec<VerifiedClaim>,
    pub summary: VerificationSummary,
    /// Verification calls made to the model.
    pub model_calls: u32,
    /// Citations re-pointed to a better source or joined by one that supports the whole
    /// claim.
    pub corrections: u32,
}

/// One claim's result.
#[derive(Debug, Clone)]
pub struct VerifiedClaim {
    /// The provenance record: verdict, citations with exact evidence spans, corrections.
    pub claim: Claim,
    /// Every number of the claim against its cited sources.
    pub numeric: NumericQa,
    /// What the report does with the sentence.
    pub treatment: Treatment,
}

/// What happened to a claim's sentence in the rewritten report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Treatment {
    /// Left as written.
    Kept,
    /// Its citation now points at `to` instead of `from`.
    Recited { from: Vec<u32>, to: u32 },
    /// Partly supported by its own citations, it also cites `to`, which supports all of it.
    Added { to: u32 },
    /// Kept with a note naming the sources that support and contradict it.
    Disputed {
        supports: Vec<u32>,
        contradicts: Vec<u32>,
        /// What the first contradicting source says: its sentence closest to the claim.
        dissent: Option<String>,
    },
    /// Handled per [`UnsupportedClaims`].
    Unsupported(UnsupportedClaims),
    /// Replaced by stage 7's reconstruction: verified facts cited, the rest softened.
    Rewritten(String),
    /// The model could not judge it; kept and marked.
    Abstained,
}

impl VerifiedReport {
    /// The provenance claims, for [`crate::citations::provenance::Provenance::new`].
    pub fn provenance_claims(&self) -> Vec<Claim> {
        self.claims.iter().map(|c| c.claim.clone()).collect()
    }

    /// The verification events in order: per claim its [`VerifiedClaim::events`], then
    /// the summary.
    pub fn events(&self, message_id: Uuid) -> Vec<ResearchEvent> {
        let mut events: Vec<ResearchEvent> =
            self.claims.iter().flat_map(VerifiedClaim::events).collect();
        events.push(self.summary_event(message_id));
        events
    }

    /// `verification_summary`.
    pub fn summary_event(&self, message_id: Uuid) -> ResearchEvent {
        ResearchEvent::VerificationSummary {
            message_id,
            total_claims: self.summary.total_claims,
            supported: self.summary.supported_count,
            partial: self.summary.partial_count,
            unsupported: self.summary.unsupported_count,
            contradicted: self.summary.contradicted_count,
            abstained_count: self.summary.abstained_count,
            citation_corrections: self.corrections,
            warning: self.summary.warning,
        }
    }
}

impl VerifiedClaim {
    /// The claim's events: its `numeric_claim_detected` events, its `citation_corrected`
    /// event, its `claim_verified` event.
    pub fn events(&self) -> Vec<ResearchEvent> {
        let mut events = Vec::new();
        let vc = self;
        {
            let claim = &vc.claim;
            for n in &vc.numeric.numbers {
                events.push(ResearchEvent::NumericClaimDetected {
                    claim_id: claim.id.0,
                    raw_value: n.mention.raw.clone(),
                    normalized_value: n.mention.normalized_value().map(|v| v.to_string()),
                    unit: n.mention.unit.clone(),
                    derivation_type: "direct".into(),
                    qa_verified: matches!(
                        n.verdict,
                        NumericMatch::Exact { .. } | NumericMatch::WithinTolerance { .. }
                    ),
                });
            }
            for c in &claim.corrections {
                events.push(ResearchEvent::CitationCorrected {
                    claim_id: claim.id.0,
                    correction_type: c.correction_type.as_str().into(),
                    reasoning: c.reasoning.clone(),
                });
            }
            events.push(ResearchEvent::ClaimVerified {
                claim_id: claim.id.0,
                claim_text: claim.claim_text.clone(),
                position_start: u32::try_from(claim.position_start).unwrap_or(0),
                position_end: u32::try_from(claim.position_end).unwrap_or(0),
                verdict: claim
                    .verification_verdict
                    .unwrap_or(Verdict::Unsupported)
                    .as_str()
                    .into(),
                confidence_level: claim
                    .confidence_level
                    .unwrap_or(ConfidenceLevel::Medium)
                    .as_str()
                    .into(),
                evidence_preview: claim
                    .citations
                    .iter()
                    .find(|c| c.is_primary)
                    .map(|c| c.evidence_span.quote_text.chars().take(200).collect())
                    .unwrap_or_default(),
                reasoning: claim.verification_reasoning.clone(),
                citation_key: claim.citation_key.clone(),
                citation_keys: claim.citation_keys.clone(),
            });
        }
        events
    }
}

pub(super) struct Outcome {
    pub(super) claim: VerifiedClaim,
    pub(super) model_calls: u32,
    /// Stage 3's level, when the claim was classified: it becomes the claim's
    /// `confidence_level` whatever path the claim then took.
    pub(super) classified: Option<ConfidenceLevel>,
}
