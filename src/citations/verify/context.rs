//! What the checks of a report's claims share: the run's sources, settings and model tiers;
//! each claim's path from its check through stage 7 to the report policy; quotes made
//! evidence spans.

use std::sync::Arc;

use uuid::Uuid;

use super::outcome::{Outcome, Treatment};
use super::VERBATIM_MIN_SCORE;
use crate::citations::claims::{self, ReportClaim};
use crate::citations::config::{CitationVerification, UnsupportedClaims};
use crate::citations::evidence::{self, Limits, Selector, SourceText};
use crate::citations::interleaved::ClaimEvidence;
use crate::citations::provenance::{
    Citation, CitationCorrection, Claim, ClaimId, ConfidenceLevel, CorrectionId, CorrectionType,
    EvidenceSpan, EvidenceSpanId, SourceId, SourceMetadata, Verdict,
};
use crate::citations::quote;
use crate::citations::retrieval::{self, Outcome as RetrievalOutcome, Retriever};
use crate::citations::sources::SourceRegistry;
use crate::llm::LlmRouter;

/// Evidence spans shown to the model per cited source.
const SPANS_PER_SOURCE: usize = 2;

pub(super) struct Context<'a> {
    pub(super) router: &'a LlmRouter,
    pub(super) registry: &'a SourceRegistry,
    pub(super) settings: &'a CitationVerification,
    pub(super) sources: &'a [SourceText],
    pub(super) source_namespace: Uuid,
    pub(super) retriever: Option<&'a Retriever<'a>>,
    pub(super) selector: &'a Selector,
    pub(super) written: Option<&'a ClaimEvidence>,
    pub(super) message_id: Option<Uuid>,
    /// Full verification's tier; `None` is the router's default.
    pub(super) full_tier: Option<&'a str>,
    /// Quick verification's tier, the full tier when the router has no such tier.
    pub(super) quick_tier: Option<&'a str>,
}

/// A quote located in a source: an evidence span from [`evidence::select`] or a verbatim
/// match, both with exact offsets.
#[derive(Debug, Clone)]
pub(super) struct Quote {
    pub(super) source: u32,
    pub(super) char_start: usize,
    pub(super) char_end: usize,
    pub(super) text: String,
    pub(super) section_heading: Option<String>,
    pub(super) score: f64,
}

impl Quote {
    pub(super) fn from_span(span: &evidence::EvidenceSpan) -> Quote {
        let chars = span.char_range();
        Quote {
            source: span.source_number(),
            char_start: chars.start,
            char_end: chars.end,
            text: span.text().to_string(),
            section_heading: span.section_heading().map(str::to_string),
            score: f64::from(span.score()),
        }
    }

    pub(super) fn overlaps(&self, other: &Quote) -> bool {
        self.source == other.source
            && self.char_start < other.char_end
            && other.char_start < self.char_end
    }

    pub(super) fn verbatim(source: &SourceText, found: &quote::BestMatch) -> Quote {
        let text = &source.text;
        Quote {
            source: source.number,
            char_start: text[..found.span.start].chars().count(),
            char_end: text[..found.span.end].chars().count(),
            text: text[found.span.range()].to_string(),
            section_heading: None,
            score: found.score,
        }
    }
}

impl Context<'_> {
    pub(super) async fn verify(&self, rc: &ReportClaim) -> Outcome {
        let mut outcome = self.check(rc).await;
        if let Some(retriever) = self.retriever {
            if self.needs_retrieval(&outcome) {
                outcome = self.retrieve(retriever, rc, outcome).await;
            }
        }
        if matches!(
            outcome.claim.treatment,
            Treatment::Unsupported(UnsupportedClaims::Soften | UnsupportedClaims::Remove)
        ) {
            let claim = &mut outcome.claim.claim;
            let original = primary_span(claim);
            claim.corrections.push(CitationCorrection {
                id: CorrectionId(Uuid::new_v4()),
                correction_type: CorrectionType::Remove,
                original_evidence: original,
                corrected_evidence: None,
                reasoning: Some(format!(
                    "no fetched source supports the claim; {} dropped",
                    markers(&rc.cited)
                )),
            });
        }
        if let Some(level) = outcome.classified {
            outcome.claim.claim.confidence_level = Some(level);
        }
        outcome
    }

    /// Whether stage 7 should look again: the verdict is one `trigger_on_verdicts` names
    /// and neither a correction nor a disagreement between sources settled the claim.
    fn needs_retrieval(&self, outcome: &Outcome) -> bool {
        let settings = &self.settings.verification_retrieval;
        let triggered = outcome
            .claim
            .claim
            .verification_verdict
            .is_some_and(|v| retrieval::triggered_by(settings, v));
        triggered
            && matches!(
                outcome.claim.treatment,
                Treatment::Kept | Treatment::Unsupported(_)
            )
    }

    /// Stage 7 for one claim: what its facts' re-verification found replaces the verdict,
    /// the evidence and the sentence.
    async fn retrieve(
        &self,
        retriever: &Retriever<'_>,
        rc: &ReportClaim,
        mut outcome: Outcome,
    ) -> Outcome {
        let found = retriever.reverify(&rc.text, &rc.cited).await;
        outcome.model_calls += found.model_calls;
        let quotes: Vec<Quote> = found
            .facts
            .iter()
            .filter(|f| f.verified)
            .filter_map(|f| {
                let e = f.evidence.as_ref()?;
                Some(Quote {
                    source: e.source,
                    char_start: e.chars.start,
                    char_end: e.chars.end,
                    text: e.quote.clone(),
                    section_heading: None,
                    score: f.entailment.unwrap_or(0.0),
                })
            })
            .collect();
        let verified = found.facts.iter().filter(|f| f.verified).count();
        let mut note = format!(
            "re-verified fact by fact: {verified} of {} facts found in the sources",
            found.facts.len()
        );
        if !found.new_sources.is_empty() {
            note.push_str(&format!(
                " ({} found by a new search)",
                markers(&found.new_sources)
            ));
        }
        let claim = &mut outcome.claim.claim;
        let previous = claim.verification_reasoning.take().unwrap_or_default();
        claim.verification_reasoning = Some(format!("{previous} [{note}]").trim().to_string());
        match found.outcome {
            RetrievalOutcome::AllVerified | RetrievalOutcome::Mixed => {
                let all = found.outcome == RetrievalOutcome::AllVerified;
                claim.verification_verdict = Some(if all {
                    Verdict::Supported
                } else {
                    Verdict::Partial
                });
                let keys: Vec<String> = found.cited.iter().map(u32::to_string).collect();
                claim.citation_key = keys.first().cloned();
                claim.citation_keys = Some(keys);
                self.set_evidence(claim, &quotes, Some(0));
                outcome.claim.treatment = Treatment::Rewritten(found.sentence);
            }
            // Nothing verified: the claim stays unsupported; the sentence is softened the
            // way stage 7 softens unless the policy is to remove or mark it.
            RetrievalOutcome::NoneVerified => {
                if self.settings.unsupported_claims == UnsupportedClaims::Soften
                    || outcome.claim.treatment == Treatment::Kept
                {
                    outcome.claim.treatment = Treatment::Rewritten(found.sentence);
                }
            }
        }
        outcome
    }

    fn source_id(&self, number: u32) -> SourceId {
        SourceId(Uuid::new_v5(
            &self.source_namespace,
            format!("source:{number}").as_bytes(),
        ))
    }

    /// A claim's id: derived from the message and the claim's position when the message
    /// is known, so the same report verified again keeps its ids.
    pub(super) fn claim_id(&self, rc: &ReportClaim) -> ClaimId {
        ClaimId(match self.message_id {
            Some(message) => Uuid::new_v5(
                &message,
                format!("claim:{}:{}", rc.start, rc.end).as_bytes(),
            ),
            None => Uuid::new_v4(),
        })
    }

    /// The claim's evidence: the quotes its writer named, then the best spans of the
    /// sources it cites that do not overlap them.
    pub(super) async fn evidence_for(&self, rc: &ReportClaim, cited: &[SourceText]) -> Vec<Quote> {
        let mut quotes: Vec<Quote> = self
            .written
            .map(|w| {
                w.spans_for(&rc.text)
                    .into_iter()
                    .filter(|s| rc.cited.contains(&s.source_number()))
                    .map(Quote::from_span)
                    .collect()
            })
            .unwrap_or_default();
        let selected = self
            .selector
            .select(cited, &[&rc.text], &self.limits(cited.len()))
            .await;
        for span in &selected {
            let q = Quote::from_span(span);
            if !quotes.iter().any(|n| n.overlaps(&q)) {
                quotes.push(q);
            }
        }
        quotes
    }

    /// Records an unsupported or contradicted verdict and the report policy for it.
    pub(super) fn settle(&self, outcome: &mut Outcome, verdict: Verdict, reasoning: String) {
        let claim = &mut outcome.claim.claim;
        claim.verification_verdict = Some(verdict);
        claim.verification_reasoning = Some(reasoning);
        claim.confidence_level = Some(ConfidenceLevel::Low);
        outcome.claim.treatment = Treatment::Unsupported(self.settings.unsupported_claims);
    }

    pub(super) fn set_evidence(&self, claim: &mut Claim, quotes: &[Quote], primary: Option<usize>) {
        let primary = primary.unwrap_or(0);
        claim.citations = quotes
            .iter()
            .enumerate()
            .map(|(i, q)| Citation {
                evidence_span: self.span(q),
                confidence_score: Some(q.score.clamp(0.0, 1.0)),
                is_primary: i == primary,
            })
            .collect();
    }

    pub(super) fn span(&self, q: &Quote) -> EvidenceSpan {
        let source_id = self.source_id(q.source);
        let meta = self.registry.get(q.source);
        EvidenceSpan {
            id: EvidenceSpanId(Uuid::new_v4()),
            source_id,
            quote_text: q.text.clone(),
            start_offset: i32::try_from(q.char_start).ok(),
            end_offset: i32::try_from(q.char_end).ok(),
            section_heading: q.section_heading.clone(),
            relevance_score: Some(q.score),
            has_numeric_content: evidence::has_numeric_content(&q.text),
            source: meta.map(|s| SourceMetadata::web(source_id, s.title, s.url)),
        }
    }

    pub(super) fn text_of(&self, number: u32) -> Arc<str> {
        self.sources
            .iter()
            .find(|s| s.number == number)
            .map(|s| s.text.clone())
            .unwrap_or_else(|| Arc::from(""))
    }

    pub(super) fn limits(&self, sources: usize) -> Limits {
        Limits {
            max_spans: SPANS_PER_SOURCE * sources.max(1),
            max_spans_per_source: SPANS_PER_SOURCE,
            ..Limits::default()
        }
    }
}

pub(super) fn verbatim(source: &SourceText, claim: &str) -> Option<Quote> {
    // The claim's final full stop is the report's punctuation, not necessarily the source's.
    let quote = claim.trim_end_matches(claims::STOPS);
    quote::find_best(&source.text, quote)
        .filter(|m| m.score >= VERBATIM_MIN_SCORE)
        .map(|m| Quote::verbatim(source, &m))
}

/// The evidence of a claim's primary citation.
pub(super) fn primary_span(claim: &Claim) -> Option<EvidenceSpan> {
    claim
        .citations
        .iter()
        .find(|c| c.is_primary)
        .map(|c| c.evidence_span.clone())
}

pub(super) fn markers(numbers: &[u32]) -> String {
    numbers.iter().map(|n| format!("[{n}]")).collect()
}
