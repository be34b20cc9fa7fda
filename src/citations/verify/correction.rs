//! Step 5: a claim its citations do not support looked for in the fetched sources it does
//! not cite, and its citation re-pointed to, or joined by, one that supports it.

use uuid::Uuid;

use super::context::{markers, primary_span, verbatim, Context, Quote};
use super::judge::Judgement;
use super::outcome::{Outcome, Treatment};
use crate::citations::claims::ReportClaim;
use crate::citations::evidence::SourceText;
use crate::citations::numeric::{self, NumericQa};
use crate::citations::provenance::{
    Citation, CitationCorrection, ConfidenceLevel, CorrectionId, CorrectionType, Verdict,
};

/// What the search for a better citation found, and what it cost.
#[derive(Default)]
pub(super) struct Alternative {
    /// A quote of another source that supports the claim, why, and the claim's numbers
    /// against that source.
    pub(super) supported: Option<(Quote, String, NumericQa)>,
    pub(super) model_calls: u32,
}

impl Context<'_> {
    /// A partly supported claim keeps its citation and gains one to another fetched
    /// source that supports all of it, when there is one.
    pub(super) async fn add_alternate(&self, rc: &ReportClaim, mut outcome: Outcome) -> Outcome {
        let found = self.find_alternative(rc).await;
        outcome.model_calls += found.model_calls;
        let Some((quote, reasoning, numeric)) = found.supported else {
            return outcome;
        };
        let original = primary_span(&outcome.claim.claim);
        let alternate = self.span(&quote);
        let claim = &mut outcome.claim.claim;
        claim.corrections.push(CitationCorrection {
            id: CorrectionId(Uuid::new_v4()),
            correction_type: CorrectionType::AddAlternate,
            original_evidence: original,
            corrected_evidence: Some(alternate.clone()),
            reasoning: Some(format!(
                "{} supports part of the claim; [{}] supports all of it: {reasoning}",
                markers(&rc.cited),
                quote.source
            )),
        });
        for c in &mut claim.citations {
            c.is_primary = false;
        }
        claim.citations.insert(
            0,
            Citation {
                evidence_span: alternate,
                confidence_score: Some(quote.score.clamp(0.0, 1.0)),
                is_primary: true,
            },
        );
        claim.verification_verdict = Some(Verdict::Supported);
        claim.verification_reasoning = Some(reasoning);
        let mut keys = claim.citation_keys.take().unwrap_or_default();
        keys.push(quote.source.to_string());
        claim.citation_keys = Some(keys);
        outcome.claim.numeric = numeric;
        outcome.claim.treatment = Treatment::Added { to: quote.source };
        outcome
    }

    /// Looks for the claim in the sources it does not cite; re-points the citation when
    /// one supports it.
    pub(super) async fn correct(&self, rc: &ReportClaim, outcome: Outcome) -> Outcome {
        let found = self.find_alternative(rc).await;
        self.recite(rc, outcome, found)
    }

    /// A quote of a source the claim does not cite that supports it (verbatim, or by a
    /// model call), with the calls spent looking.
    pub(super) async fn find_alternative(&self, rc: &ReportClaim) -> Alternative {
        let mut found = Alternative::default();
        if !self.settings.enable_citation_correction
            || !self.settings.citation_correction.allow_alternate_citations
        {
            return found;
        }
        // A claim with numbers can only move to a source that states them: judging by
        // wording alone, the closest source is often one with another figure or none.
        let others: Vec<SourceText> = self
            .sources
            .iter()
            .filter(|s| !rc.cited.contains(&s.number))
            .filter(|s| self.states_numbers(rc, s.number))
            .cloned()
            .collect();
        let verbatim_quote = others.iter().find_map(|s| verbatim(s, &rc.text));
        let (quote, reasoning) = match verbatim_quote {
            Some(q) => (q, "the claim is quoted from this source".to_string()),
            None => {
                let spans = self
                    .selector
                    .select(&others, &[&rc.text], &self.limits(1))
                    .await;
                let threshold = self.settings.citation_correction.correction_threshold;
                let Some(best) = spans
                    .iter()
                    .map(Quote::from_span)
                    .find(|q| q.score >= threshold)
                else {
                    return found;
                };
                found.model_calls += 1;
                match self
                    .judge(&rc.text, std::slice::from_ref(&best), self.full_tier)
                    .await
                {
                    Judgement::Given {
                        verdict: Verdict::Supported,
                        reasoning,
                        ..
                    } => (best, reasoning),
                    _ => return found,
                }
            }
        };
        let numeric = numeric::check_claim(&rc.text, &[self.text_of(quote.source)]);
        if self.settings.enable_numeric_qa_verification && !numeric.qa_verified {
            return found;
        }
        found.supported = Some((quote, reasoning, numeric));
        found
    }

    /// Re-points the claim's citation to the alternative found, if any.
    pub(super) fn recite(
        &self,
        rc: &ReportClaim,
        mut outcome: Outcome,
        found: Alternative,
    ) -> Outcome {
        outcome.model_calls += found.model_calls;
        let Some((quote, reasoning, numeric)) = found.supported else {
            return outcome;
        };
        let original = primary_span(&outcome.claim.claim);
        let corrected = self.span(&quote);
        let claim = &mut outcome.claim.claim;
        claim.corrections.push(CitationCorrection {
            id: CorrectionId(Uuid::new_v4()),
            correction_type: CorrectionType::Replace,
            original_evidence: original,
            corrected_evidence: Some(corrected),
            reasoning: Some(format!(
                "{} did not support the claim; [{}] does: {reasoning}",
                markers(&rc.cited),
                quote.source
            )),
        });
        self.set_evidence(claim, std::slice::from_ref(&quote), Some(0));
        claim.verification_verdict = Some(Verdict::Supported);
        claim.verification_reasoning = Some(reasoning);
        claim.confidence_level = Some(ConfidenceLevel::Medium);
        claim.citation_key = Some(quote.source.to_string());
        claim.citation_keys = Some(vec![quote.source.to_string()]);
        let disagreeing = self.other_figure(rc, &outcome.claim.numeric);
        outcome.claim.numeric = numeric;
        outcome.claim.treatment = match disagreeing {
            // The source it cited gives another figure: both are named.
            Some((source, said)) => Treatment::Disputed {
                supports: vec![quote.source],
                contradicts: vec![source],
                dissent: Some(said),
            },
            None => Treatment::Recited {
                from: rc.cited.clone(),
                to: quote.source,
            },
        };
        outcome
    }

    /// Whether source `number` states every number of the claim (always, with numeric QA
    /// off or a claim without numbers).
    pub(super) fn states_numbers(&self, rc: &ReportClaim, number: u32) -> bool {
        // Checked first so a claim without numbers does not scan every page for them.
        !self.settings.enable_numeric_qa_verification
            || numeric::extract(&rc.text).is_empty()
            || numeric::check_claim(&rc.text, &[self.text_of(number)]).qa_verified
    }
}
