//! Steps 1 to 5 for one claim (see the module documentation), cheapest first: unknown
//! citations, a verbatim quote, numeric QA, the model's judgement, correction.

use super::context::{markers, verbatim, Context, Quote};
use super::correction::Alternative;
use super::dispute::dissent;
use super::judge::Judgement;
use super::outcome::{Outcome, Treatment, VerifiedClaim};
use crate::citations::claims::ReportClaim;
use crate::citations::confidence::{self, Route};
use crate::citations::evidence::SourceText;
use crate::citations::numeric;
use crate::citations::provenance::{
    Claim, ClaimType, ConfidenceLevel, DerivationType, NumericClaimDetail, Verdict,
};

impl Context<'_> {
    pub(super) async fn check(&self, rc: &ReportClaim) -> Outcome {
        let cited: Vec<SourceText> = self
            .sources
            .iter()
            .filter(|s| rc.cited.contains(&s.number))
            .cloned()
            .collect();
        let mut outcome = self.unchecked(rc, &cited);
        let numeric_ok =
            !self.settings.enable_numeric_qa_verification || outcome.claim.numeric.qa_verified;
        if self.cites_unfetched(rc, &mut outcome) {
            return outcome;
        }
        if rc.cited.len() == 1 && numeric_ok && self.quoted_verbatim(rc, &cited, &mut outcome) {
            return outcome;
        }

        let quotes = self.evidence_for(rc, &cited).await;
        if quotes.is_empty() {
            self.settle(
                &mut outcome,
                Verdict::Unsupported,
                "its sources hold no text that addresses the claim".into(),
            );
            return self.correct(rc, outcome).await;
        }
        let route = self.route(rc, &quotes, &mut outcome);
        let (judgement, speculative) = self.judgement(rc, &quotes, route, &mut outcome).await;
        match judgement {
            Judgement::Failed(error) => {
                self.set_evidence(&mut outcome.claim.claim, &quotes, None);
                let claim = &mut outcome.claim.claim;
                claim.abstained = true;
                claim.verification_reasoning = Some(format!("verification failed: {error}"));
                outcome.claim.treatment = Treatment::Abstained;
                outcome
            }
            Judgement::Given {
                verdict,
                reasoning,
                primary,
                contradicting,
            } => {
                self.set_evidence(&mut outcome.claim.claim, &quotes, primary);
                let supported = matches!(verdict, Verdict::Supported | Verdict::Partial);
                let (supports, against) = self.sides(
                    rc,
                    &quotes,
                    primary,
                    &contradicting,
                    &mut outcome.claim.claim,
                );
                if supported && !supports.is_empty() && !against.is_empty() {
                    let claim = &mut outcome.claim.claim;
                    claim.verification_verdict = Some(Verdict::Contradicted);
                    claim.verification_reasoning = Some(reasoning);
                    claim.confidence_level = Some(ConfidenceLevel::Low);
                    let dissent = dissent(&quotes, &contradicting, &against, &rc.text);
                    outcome.claim.treatment = Treatment::Disputed {
                        supports,
                        contradicts: against,
                        dissent,
                    };
                    return outcome;
                }
                self.conclude(rc, outcome, verdict, reasoning, numeric_ok, speculative)
                    .await
            }
        }
    }

    /// The claim before any verdict: its citations, and its numbers against the sources it
    /// cites.
    fn unchecked(&self, rc: &ReportClaim, cited: &[SourceText]) -> Outcome {
        let mut claim = Claim::new(
            self.claim_id(rc),
            rc.text.clone(),
            i32::try_from(rc.start).unwrap_or(i32::MAX),
            i32::try_from(rc.end).unwrap_or(i32::MAX),
        );
        let keys: Vec<String> = rc.cited.iter().map(u32::to_string).collect();
        claim.citation_key = keys.first().cloned();
        claim.citation_keys = Some(keys);
        let numeric = if self.settings.enable_numeric_qa_verification {
            let texts: Vec<&str> = cited.iter().map(|s| &*s.text).collect();
            numeric::check_claim(&rc.text, &texts)
        } else {
            numeric::check_claim(&rc.text, &[] as &[&str])
        };
        if let Some(first) = numeric.numbers.first() {
            claim.claim_type = ClaimType::Numeric;
            claim.numeric_detail = Some(NumericClaimDetail {
                raw_value: first.mention.raw.clone(),
                normalized_value: first.mention.normalized_value(),
                unit: first.mention.unit.clone(),
                entity_reference: None,
                derivation_type: DerivationType::Direct,
                computation_details: None,
                assumptions: None,
                qa_verification: None,
            });
        }
        Outcome {
            claim: VerifiedClaim {
                claim,
                numeric,
                treatment: Treatment::Kept,
            },
            model_calls: 0,
            classified: None,
        }
    }

    /// Step 1: whether the claim cites a source the run never fetched, which settles it.
    fn cites_unfetched(&self, rc: &ReportClaim, outcome: &mut Outcome) -> bool {
        let unknown: Vec<u32> = rc
            .cited
            .iter()
            .copied()
            .filter(|n| self.registry.get(*n).is_none())
            .collect();
        if unknown.is_empty() {
            return false;
        }
        let reasoning = format!("cites {}, which the run never fetched", markers(&unknown));
        self.settle(outcome, Verdict::Unsupported, reasoning);
        true
    }

    /// Step 2: whether the claim is quoted from a source it cites, which settles it without
    /// a model call.
    fn quoted_verbatim(
        &self,
        rc: &ReportClaim,
        cited: &[SourceText],
        outcome: &mut Outcome,
    ) -> bool {
        let Some(quote) = cited.iter().find_map(|s| verbatim(s, &rc.text)) else {
            return false;
        };
        self.set_evidence(&mut outcome.claim.claim, &[quote], Some(0));
        outcome.claim.claim.verification_verdict = Some(Verdict::Supported);
        outcome.claim.claim.confidence_level = Some(ConfidenceLevel::High);
        outcome.claim.claim.verification_reasoning =
            Some("the claim is quoted from its source".into());
        true
    }

    /// Stage 3's route for the claim; its level is kept in the outcome.
    fn route(&self, rc: &ReportClaim, quotes: &[Quote], outcome: &mut Outcome) -> Route {
        let classification = self.settings.enable_confidence_classification.then(|| {
            confidence::classify(
                &rc.text,
                quotes.first().map(|q| q.text.as_str()),
                &self.settings.confidence_classification,
            )
        });
        outcome.classified = classification.as_ref().map(|c| c.level);
        // A claim citing several sources is always checked in full: only then can a
        // disagreement between them surface.
        match &classification {
            Some(c) if rc.cited.len() == 1 => c.route(),
            _ => Route::Full,
        }
    }

    /// Step 4: the quick tier's judgement when it finds the claim supported, else the full
    /// tier's, with the better citation found alongside a doubtful quick check.
    async fn judgement(
        &self,
        rc: &ReportClaim,
        quotes: &[Quote],
        route: Route,
        outcome: &mut Outcome,
    ) -> (Judgement, Option<Alternative>) {
        let mut judgement = None;
        if route == Route::Quick {
            outcome.model_calls += 1;
            let quick = self.judge(&rc.text, &quotes[..1], self.quick_tier).await;
            if matches!(
                quick,
                Judgement::Given {
                    verdict: Verdict::Supported,
                    ..
                }
            ) {
                judgement = Some(quick);
            }
        }
        // After a doubtful quick check the full check decides, and the search for a better
        // citation runs alongside it rather than after: a claim the quick tier doubted is
        // the likeliest to need one, and waiting would add a third model round trip.
        let mut speculative = None;
        let judgement = match judgement {
            Some(j) => j,
            None => {
                outcome.model_calls += 1;
                let full = self.judge(&rc.text, quotes, self.full_tier);
                if route == Route::Quick {
                    let (j, mut alternative) = tokio::join!(full, self.find_alternative(rc));
                    // Spent whether or not the claim ends up needing it.
                    outcome.model_calls += std::mem::take(&mut alternative.model_calls);
                    speculative = Some(alternative);
                    j
                } else {
                    full.await
                }
            }
        };
        (judgement, speculative)
    }

    /// The sources the model says support and contradict the claim, put right by the
    /// claim's numbers; the primary citation follows the supporting side.
    fn sides(
        &self,
        rc: &ReportClaim,
        quotes: &[Quote],
        primary: Option<usize>,
        contradicting: &[usize],
        claim: &mut Claim,
    ) -> (Vec<u32>, Vec<u32>) {
        let supports: Vec<u32> = primary
            .and_then(|i| quotes.get(i))
            .map(|q| q.source)
            .into_iter()
            .collect();
        let mut against: Vec<u32> = contradicting
            .iter()
            .filter_map(|i| quotes.get(*i))
            .map(|q| q.source)
            .filter(|s| !supports.contains(s))
            .collect();
        against.dedup();
        let (supports, against) = self.by_numbers(rc, supports, against);
        let primary_source = primary.and_then(|i| quotes.get(i)).map(|q| q.source);
        if !supports.is_empty() && supports.first() != primary_source.as_ref() {
            let primary = quotes
                .iter()
                .position(|q| supports.first() == Some(&q.source));
            self.set_evidence(claim, quotes, primary);
        }
        (supports, against)
    }

    /// A verdict no disagreement settled, after numeric QA: an unsupported claim goes to
    /// correction, a partly supported one may gain a citation.
    async fn conclude(
        &self,
        rc: &ReportClaim,
        mut outcome: Outcome,
        verdict: Verdict,
        reasoning: String,
        numeric_ok: bool,
        speculative: Option<Alternative>,
    ) -> Outcome {
        let verdict = match verdict {
            Verdict::Supported if !numeric_ok => Verdict::Partial,
            v => v,
        };
        let reasoning = if numeric_ok {
            reasoning
        } else {
            format!("{reasoning} [numeric QA: a number of the claim is not in its sources]")
        };
        if matches!(verdict, Verdict::Unsupported | Verdict::Contradicted) {
            self.settle(&mut outcome, verdict, reasoning);
            return match speculative {
                Some(found) => self.recite(rc, outcome, found),
                None => self.correct(rc, outcome).await,
            };
        }
        let claim = &mut outcome.claim.claim;
        claim.verification_verdict = Some(verdict);
        claim.verification_reasoning = Some(reasoning);
        claim.confidence_level = Some(if verdict == Verdict::Supported {
            ConfidenceLevel::High
        } else {
            ConfidenceLevel::Medium
        });
        if !numeric_ok {
            // A number its sources do not state: whatever the model said, the
            // citation is wrong. A fetched source stating it takes over; else the
            // report policy applies.
            outcome.claim.treatment = Treatment::Unsupported(self.settings.unsupported_claims);
            return match speculative {
                Some(found) => self.recite(rc, outcome, found),
                None => self.correct(rc, outcome).await,
            };
        } else if verdict == Verdict::Partial {
            return self.add_alternate(rc, outcome).await;
        }
        outcome
    }
}
